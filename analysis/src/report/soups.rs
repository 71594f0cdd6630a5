//! Basin soups (`[merge]`): each soup's scores beside its members' (mean, min, max), the
//! ensemble of the same members and the cross-basin controls, with a sentence on whether the
//! soups of a basin kept their members' score and the soups across basins collapsed. Nothing
//! for a study without soups.

use std::fmt::Write as _;

use basins_study::manifest::MergeMethod;
use basins_study::params::SoupGroup;

use super::figures::Figure;
use super::{esc, num_of, TaskInputs};
use crate::documents::{SoupRow, SoupsDoc};
use crate::plot::{category, legend, Axis, Chart, Mark};

/// How the page names a soup row: `basin 0`, `basin 0 (ties)`, `cross 0.1`, `all`, `greedy`.
fn label(r: &SoupRow) -> String {
    let base = match r.group {
        SoupGroup::Basin { basin } => format!("basin {basin}"),
        SoupGroup::All => "all".into(),
        SoupGroup::Cross { basin } => {
            let draw = r.soup.rsplit('-').next().unwrap_or("");
            format!("cross {basin}.{draw}")
        }
        SoupGroup::Greedy => "greedy".into(),
    };
    match r.method {
        MergeMethod::Average => base,
        m => format!("{base} ({})", m.id()),
    }
}

/// [`label`] short enough to sit under a figure's column: `b0`, `b0 TIES`, `x0.1`, `all TA`.
fn short(r: &SoupRow) -> String {
    let base = match r.group {
        SoupGroup::Basin { basin } => format!("b{basin}"),
        SoupGroup::All => "all".into(),
        SoupGroup::Cross { basin } => {
            format!("x{basin}.{}", r.soup.rsplit('-').next().unwrap_or(""))
        }
        SoupGroup::Greedy => "greedy".into(),
    };
    match r.method {
        MergeMethod::Average => base,
        MergeMethod::TaskArithmetic => format!("{base} TA"),
        MergeMethod::Ties => format!("{base} TIES"),
    }
}

fn colour(r: &SoupRow) -> &'static str {
    match r.group {
        SoupGroup::Basin { basin } => category(basin),
        SoupGroup::All => "#555555",
        SoupGroup::Cross { .. } => "#999999",
        SoupGroup::Greedy => "#7b3294",
    }
}

/// The in-distribution set the sentence is about: the task's first split.
fn in_distribution(d: &SoupsDoc) -> Option<usize> {
    d.sets.iter().position(|s| !s.diagnostic)
}

/// The sentence: within-basin soups against their members, cross-basin ones against theirs,
/// with the numbers (uniform averages only: the controls are averages): the in-distribution
/// score, each diagnostic's, and the loss on the clustering's surface rows (`clustered`: that
/// set's place in the document).
pub fn sentence(d: &SoupsDoc, clustered: Option<usize>) -> String {
    let Some(i) = in_distribution(d) else {
        return String::new();
    };
    let set = &d.sets[i];
    let average = |g: fn(&SoupGroup) -> bool| -> Vec<&SoupRow> {
        d.soups
            .iter()
            .filter(|r| r.method == MergeMethod::Average && g(&r.group))
            .collect()
    };
    let basins = average(|g| matches!(g, SoupGroup::Basin { .. }));
    let multi: Vec<&&SoupRow> = basins.iter().filter(|r| r.members.len() > 1).collect();
    let crosses = average(|g| matches!(g, SoupGroup::Cross { .. }));
    let mut s = String::new();
    if !multi.is_empty() {
        let kept = multi
            .iter()
            .filter(|r| r.scores[i].soup >= r.scores[i].members.min)
            .count();
        let parts: Vec<String> = multi
            .iter()
            .map(|r| {
                let sc = &r.scores[i];
                format!(
                    "{} scores {} (its {} members {} on average, {} to {})",
                    label(r),
                    num_of(Some(sc.soup)),
                    r.members.len(),
                    num_of(Some(sc.members.mean)),
                    num_of(Some(sc.members.min)),
                    num_of(Some(sc.members.max))
                )
            })
            .collect();
        let _ = write!(
            s,
            "Within basins, {kept} of {} soups kept their members' {} on {} (at or above their \
             worst member): {}.",
            multi.len(),
            esc(&set.score),
            esc(&set.name),
            parts.join("; ")
        );
    } else if !basins.is_empty() {
        s.push_str("Every basin has one model: its soup is that model, and says nothing.");
    }
    if !crosses.is_empty() {
        let below = crosses
            .iter()
            .filter(|r| r.scores[i].soup < r.scores[i].members.min)
            .count();
        let mean = |f: &dyn Fn(&SoupRow) -> f64| {
            crosses.iter().map(|r| f(r)).sum::<f64>() / crosses.len() as f64
        };
        let _ = write!(
            s,
            " Across basins, {below} of {} control soups (as many models as a basin, drawn \
             across basins) fell below their worst member: they score {} on average, their \
             members {}.",
            crosses.len(),
            num_of(Some(mean(&|r| r.scores[i].soup))),
            num_of(Some(mean(&|r| r.scores[i].members.mean)))
        );
        let collapsed = below * 2 > crosses.len();
        let held = !multi.is_empty()
            && multi
                .iter()
                .all(|r| r.scores[i].soup >= r.scores[i].members.min);
        s.push_str(match (held, collapsed) {
            (true, true) => " On this set averaging works within basins and fails across them.",
            (true, false) => {
                " On this set averaging works within basins and across them alike: the \
                 barriers do not make the average fail here."
            }
            (false, true) => " On this set averaging fails across basins, and within some too.",
            (false, false) => "",
        });
    }
    let within: Vec<&SoupRow> = multi.iter().map(|r| **r).collect();
    // Each diagnostic: does a basin's soup keep its basin's behaviour, and where do the
    // controls land?
    for (k, set) in d.sets.iter().enumerate().filter(|(_, x)| x.diagnostic) {
        if within.is_empty() {
            break;
        }
        let kept = within.iter().filter(|r| r.scores[k].within).count();
        let parts: Vec<String> = within
            .iter()
            .map(|r| {
                let sc = &r.scores[k];
                format!(
                    "{} {} (members {} on average, {} to {})",
                    label(r),
                    num_of(Some(sc.soup)),
                    num_of(Some(sc.members.mean)),
                    num_of(Some(sc.members.min)),
                    num_of(Some(sc.members.max))
                )
            })
            .collect();
        let _ = write!(
            s,
            " On {}, {kept} of {} basin soups kept their basin's behaviour (a score within \
             their members' range): {}.",
            esc(&set.name),
            within.len(),
            parts.join("; ")
        );
        if !crosses.is_empty() {
            let n = crosses.len() as f64;
            let mean = |f: &dyn Fn(&SoupRow) -> f64| crosses.iter().map(|r| f(r)).sum::<f64>() / n;
            let _ = write!(
                s,
                " The controls score {} there (their members {}, the ensembles of the same \
                 members {}).",
                num_of(Some(mean(&|r| r.scores[k].soup))),
                num_of(Some(mean(&|r| r.scores[k].members.mean))),
                num_of(Some(mean(&|r| r.scores[k].ensemble)))
            );
        }
    }
    // The loss on the clustering's surface rows, which a saturated accuracy hides.
    if let Some(c) = clustered {
        let mean_loss = |rows: &[&SoupRow]| -> Option<[f64; 3]> {
            let l: Vec<&crate::documents::SurfaceLoss> = rows
                .iter()
                .filter_map(|r| r.scores[c].loss.as_ref())
                .collect();
            if l.is_empty() {
                return None;
            }
            let n = l.len() as f64;
            let mids: Vec<f64> = l.iter().filter_map(|x| x.midpoints).collect();
            Some([
                l.iter().map(|x| x.soup).sum::<f64>() / n,
                l.iter().map(|x| x.members).sum::<f64>() / n,
                if mids.is_empty() {
                    f64::NAN
                } else {
                    mids.iter().sum::<f64>() / mids.len() as f64
                },
            ])
        };
        if let Some([soup, members, mid]) = mean_loss(&within) {
            let _ = write!(
                s,
                " On the loss-surface rows of {}, the basin soups' loss is {} on average, their \
                 members' {} and the paths between their members at the midpoint {}",
                esc(&d.sets[c].name),
                num_of(Some(soup)),
                num_of(Some(members)),
                num_of(Some(mid))
            );
            match mean_loss(&crosses) {
                Some([soup, members, mid]) => {
                    let _ = write!(
                        s,
                        "; the controls' {}, their members' {}, their paths' midpoints {}.",
                        num_of(Some(soup)),
                        num_of(Some(members)),
                        num_of(Some(mid))
                    );
                }
                None => s.push('.'),
            }
        }
    }
    // The barrier from each soup to its members, within basins and across them.
    let barrier = |rows: &[&SoupRow]| {
        let b: Vec<(f64, f64)> = rows
            .iter()
            .filter_map(|r| r.barriers.as_ref())
            .map(|b| (b.to_members.mean, b.among.mean))
            .collect();
        let n = b.len().max(1) as f64;
        (!b.is_empty()).then(|| {
            (
                b.iter().map(|x| x.0).sum::<f64>() / n,
                b.iter().map(|x| x.1).sum::<f64>() / n,
            )
        })
    };
    if let (Some(w), Some(x)) = (barrier(&within), barrier(&crosses)) {
        let _ = write!(
            s,
            " The barrier from a soup to its members: {} within basins (the members' among \
             themselves {}), {} across them (theirs {}).",
            num_of(Some(w.0)),
            num_of(Some(w.1)),
            num_of(Some(x.0)),
            num_of(Some(x.1))
        );
    }
    s
}

/// The section and its figures (one per set).
pub fn section(t: &TaskInputs) -> (String, Vec<Figure>) {
    let Some(d) = t.soups else {
        return (String::new(), Vec::new());
    };
    let mut s = format!(
        "<h3>Basin soups</h3><p>Each soup is the weight average of its members (task arithmetic \
         and TIES: merged against the base model), scored on every set like a model. Beside it: \
         its members' scores (mean, min, max), the ensemble of the same members (their averaged \
         probabilities: what a soup tries to match at one model's cost), and the gain over the \
         best member. <b>cross</b> soups are controls: as many models as a basin, drawn across \
         basins.</p><p id=\"soups-{}\">{}</p>",
        esc(t.task),
        sentence(d, d.sets.iter().position(|x| x.name == t.cluster.eval))
    );
    s.push_str("<table><tr><th>soup</th><th>models</th>");
    for set in &d.sets {
        let _ = write!(
            s,
            "<th>{n}: soup</th><th>{n}: members mean [min, max]</th><th>{n}: ensemble</th>\
             <th>{n}: gain</th>",
            n = esc(&set.name)
        );
    }
    let clustered = d.sets.iter().position(|x| x.name == t.cluster.eval);
    if clustered.is_some() {
        let _ = write!(
            s,
            "<th>{}: loss, soup / members / path midpoints</th>",
            esc(&t.cluster.eval)
        );
    }
    let _ = write!(
        s,
        "<th>{} barrier ({}): soup to members, mean [min, max]</th><th>among members, mean \
         [min, max]</th></tr>",
        esc(t.barrier()),
        super::barrier_unit(t.barrier())
    );
    let names = t.names();
    let seeds = t.seeds();
    for r in &d.soups {
        let members = match &r.chosen {
            Some(c) => format!(
                "{} chosen of {}: {}",
                c.len(),
                r.members.len(),
                c.join(", ")
            ),
            None => r
                .members
                .iter()
                .map(|m| {
                    seeds
                        .iter()
                        .position(|s| s == m)
                        .map_or(m.to_string(), |i| names[i].clone())
                })
                .collect::<Vec<_>>()
                .join(", "),
        };
        let _ = write!(
            s,
            "<tr><td>{}</td><td>{}</td>",
            esc(&label(r)),
            esc(&members)
        );
        for sc in &r.scores {
            let _ = write!(
                s,
                "<td>{}{}</td><td>{} [{}, {}]</td><td>{}</td><td>{:+.3}</td>",
                num_of(Some(sc.soup)),
                if sc.within { "" } else { " *" },
                num_of(Some(sc.members.mean)),
                num_of(Some(sc.members.min)),
                num_of(Some(sc.members.max)),
                num_of(Some(sc.ensemble)),
                sc.gain
            );
        }
        if let Some(c) = clustered {
            let cell = r.scores[c].loss.as_ref().map_or("&ndash;".into(), |l| {
                format!(
                    "{} / {} / {}{}",
                    num_of(Some(l.soup)),
                    num_of(Some(l.members)),
                    num_of(l.midpoints),
                    if l.midpoint_on_grid || l.midpoints.is_none() {
                        ""
                    } else {
                        " (between grid points)"
                    }
                )
            });
            let _ = write!(s, "<td>{cell}</td>");
        }
        match &r.barriers {
            Some(b) => {
                let range = |r: &crate::diagnostics::Spread| {
                    format!(
                        "{} [{}, {}]",
                        num_of(Some(r.mean)),
                        num_of(Some(r.min)),
                        num_of(Some(r.max))
                    )
                };
                let _ = write!(
                    s,
                    "<td>{}</td><td>{}</td>",
                    range(&b.to_members),
                    range(&b.among)
                );
            }
            None => s.push_str("<td>&ndash;</td><td>&ndash;</td>"),
        }
        s.push_str("</tr>");
    }
    s.push_str(
        "</table><p>* outside the members' range (for a basin's soup on a diagnostic set: it \
         does not keep the basin's behaviour).</p>",
    );
    let figures = d
        .sets
        .iter()
        .enumerate()
        .map(|(i, set)| figure(t.task, d, i, &set.name, &set.score))
        .collect();
    (s, figures)
}

/// One set: per soup, its members' range (a bar, the mean a tick), the soup (a dot) and the
/// ensemble (a ring).
fn figure(task: &str, d: &SoupsDoc, i: usize, set: &str, score: &str) -> Figure {
    let rows = &d.soups;
    let values = rows.iter().flat_map(|r| {
        let s = &r.scores[i];
        [s.soup, s.ensemble, s.members.min, s.members.max]
    });
    let x = Axis::categorical(rows.iter().map(short).collect(), "soup");
    let y = Axis::over(values, 5, score);
    let width = (120.0 + 64.0 * rows.len() as f64).clamp(420.0, 1100.0);
    let c = Chart::new(width, 320.0, x, y);
    let title = format!("Soups on {set}");
    let mut svg = c.open(&title, &title);
    for (k, r) in rows.iter().enumerate() {
        let sc = &r.scores[i];
        let cx = c.px(k as f64 + 0.5);
        let (lo, hi, mean) = (
            c.py(sc.members.min),
            c.py(sc.members.max),
            c.py(sc.members.mean),
        );
        let _ = write!(
            svg,
            "<line x1=\"{cx:.1}\" y1=\"{lo:.1}\" x2=\"{cx:.1}\" y2=\"{hi:.1}\" stroke=\"#bbb\" stroke-width=\"6\"/>\
             <line x1=\"{:.1}\" y1=\"{mean:.1}\" x2=\"{:.1}\" y2=\"{mean:.1}\" stroke=\"#666\"/>",
            cx - 6.0,
            cx + 6.0
        );
        if sc.ensemble.is_finite() {
            let _ = write!(
                svg,
                "<circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"6\" fill=\"none\" stroke=\"#222\"/>",
                cx + 10.0,
                c.py(sc.ensemble)
            );
        }
        if sc.soup.is_finite() {
            let _ = write!(
                svg,
                "<circle cx=\"{cx:.1}\" cy=\"{:.1}\" r=\"4.5\" fill=\"{}\"/>",
                c.py(sc.soup),
                colour(r)
            );
        }
    }
    let entries = [
        ("#bbb", Mark::Line, "members: range, mean".to_owned()),
        ("#222", Mark::Dot, "soup (by basin colour)".to_owned()),
    ];
    svg.push_str(&legend(c.area.0 + 6.0, c.area.1 + 6.0, &entries));
    svg.push_str("</svg>");
    Figure::new(
        task,
        &format!("soups-{set}"),
        format!(
            "Soups on {set}: each soup's {score} (dot), its members' range and mean (bar and \
             tick) and the ensemble of the same members (ring, to the right). b0: basin 0's \
             soup; x0.1: control 1 for basin 0 (drawn across basins); TA: task arithmetic."
        ),
        svg,
    )
}
