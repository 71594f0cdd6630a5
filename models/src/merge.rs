//! Weight-space merges of finetuned classifiers of one architecture: the weighted average (a
//! "model soup", Wortsman et al., 2022), task arithmetic (Ilharco et al., 2023) and TIES-merging
//! (Yadav et al., 2023), the last two against the model the members were finetuned from. Models
//! of one basin are linearly connected, so their average should keep their accuracy; models of
//! different basins are separated by a barrier, so theirs should not (issue 34 measures both).
//!
//! Every merge is computed on the host in f32, one parameter at a time, members in the order
//! given. The average accumulates `w0 * m0 + w1 * m1 + ...` left to right, the same operations
//! as [`crate::interpolate::lerp`]: the average of one model is that model bit for bit, and the
//! even average of two is the path's midpoint bit for bit (tests below).
//!
//! The classification head (`classifier.*`) is new in finetuning, so a base model has none to
//! subtract: task arithmetic and TIES average the members' heads evenly and merge the rest
//! against the base. The pooler is part of the pretrained encoder and is merged like it.

use burn::module::Param;
use burn::tensor::backend::Backend;
use burn::tensor::{Tensor, TensorData};

use crate::model::{slots, BertClassifier, Slot};

/// How the members are combined.
#[derive(Debug, Clone, PartialEq)]
pub enum Method {
    /// `sum_i w_i * theta_i`; the weights need not sum to 1 (the caller's choice).
    Average { weights: Vec<f64> },
    /// `base + scale * sum_i (theta_i - base)`.
    TaskArithmetic { scale: f64 },
    /// TIES-merging: each task vector `theta_i - base` trimmed to its `density` share of
    /// largest magnitudes (over the whole encoder), a sign elected per parameter by the sum of
    /// the trimmed vectors, the mean of the entries that agree with it, times `scale`, added to
    /// the base.
    Ties { density: f64, scale: f64 },
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum MergeError {
    #[error("a merge needs at least one member")]
    NoMembers,
    #[error("{weights} weights for {members} members")]
    Weights { weights: usize, members: usize },
    #[error("a weight or scale is not a finite number: {0}")]
    NotFinite(f64),
    #[error("TIES density {0} is not in (0, 1]")]
    Density(f64),
    #[error(
        "member {member} differs from member 0 in `{name}`: shapes {found:?} and {expected:?}"
    )]
    Shapes {
        member: usize,
        name: String,
        found: Vec<usize>,
        expected: Vec<usize>,
    },
    #[error("{0} merges against the model the members were finetuned from, and none was given")]
    NoBase(&'static str),
    #[error(
        "members `{first}` and `{other}` order their labels differently ({first_order:?} and \
         {other_order:?}): their classification heads cannot be merged row by row"
    )]
    LabelOrders {
        first: String,
        first_order: Vec<String>,
        other: String,
        other_order: Vec<String>,
    },
    #[error("member `{member}` orders its labels {order:?}, the task {task:?}")]
    TaskLabels {
        member: String,
        order: Vec<String>,
        task: Vec<String>,
    },
    #[error("the base differs from the members in `{name}`: shapes {found:?} and {expected:?}")]
    BaseShapes {
        name: String,
        found: Vec<usize>,
        expected: Vec<usize>,
    },
}

/// Heads are merged row by row, so every member must order its labels alike, and as the task
/// does. `members`: each member's name and its checkpoint's labels (`None`: it names none, and
/// is taken to be in the task's order, as evaluation takes it).
pub fn check_label_orders(
    members: &[(&str, Option<Vec<String>>)],
    task: &[String],
) -> Result<(), MergeError> {
    let order = |l: &Option<Vec<String>>| l.clone().unwrap_or_else(|| task.to_vec());
    let Some((first, labels)) = members.first() else {
        return Err(MergeError::NoMembers);
    };
    let first_order = order(labels);
    for (name, labels) in &members[1..] {
        let other = order(labels);
        if other != first_order {
            return Err(MergeError::LabelOrders {
                first: first.to_string(),
                first_order,
                other: name.to_string(),
                other_order: other,
            });
        }
    }
    if first_order != task {
        return Err(MergeError::TaskLabels {
            member: first.to_string(),
            order: first_order,
            task: task.to_vec(),
        });
    }
    Ok(())
}

/// One parameter of a model as host values, with its name and burn shape.
struct Flat {
    name: String,
    shape: Vec<usize>,
    values: Vec<f32>,
}

fn flatten<B: Backend>(m: &BertClassifier<B>) -> Vec<Flat> {
    let mut m = m.clone();
    slots(&mut m)
        .into_iter()
        .map(|(name, s)| {
            let (shape, data) = match s {
                Slot::Matrix { param, .. } => (param.dims().to_vec(), param.val().into_data()),
                Slot::Vector(param) => (param.dims().to_vec(), param.val().into_data()),
            };
            Flat {
                name,
                shape,
                values: data.to_vec::<f32>().expect("models are f32"),
            }
        })
        .collect()
}

/// `template` with every parameter replaced by `values` (in slot order).
fn rebuild<B: Backend>(template: &BertClassifier<B>, values: Vec<Vec<f32>>) -> BertClassifier<B> {
    let mut out = template.clone();
    for ((_, s), v) in slots(&mut out).into_iter().zip(values) {
        match s {
            Slot::Matrix { param, .. } => {
                let [r, c] = param.dims();
                let t =
                    Tensor::<B, 2>::from_data(TensorData::new(v, [r, c]), &param.val().device());
                *param = Param::from_tensor(t);
            }
            Slot::Vector(param) => {
                let [n] = param.dims();
                let t = Tensor::<B, 1>::from_data(TensorData::new(v, [n]), &param.val().device());
                *param = Param::from_tensor(t);
            }
        }
    }
    out
}

fn is_head(name: &str) -> bool {
    name.starts_with("classifier.")
}

/// The merge of `members` by `method` (`base`: the model they were finetuned from, for task
/// arithmetic and TIES).
pub fn merge<B: Backend>(
    members: &[&BertClassifier<B>],
    base: Option<&BertClassifier<B>>,
    method: &Method,
) -> Result<BertClassifier<B>, MergeError> {
    let first = members.first().ok_or(MergeError::NoMembers)?;
    let flats: Vec<Vec<Flat>> = members.iter().map(|m| flatten(m)).collect();
    for (i, f) in flats.iter().enumerate().skip(1) {
        for (p, q) in f.iter().zip(&flats[0]) {
            if p.shape != q.shape {
                return Err(MergeError::Shapes {
                    member: i,
                    name: p.name.clone(),
                    found: p.shape.clone(),
                    expected: q.shape.clone(),
                });
            }
        }
    }
    let values = match method {
        Method::Average { weights } => {
            if weights.len() != members.len() {
                return Err(MergeError::Weights {
                    weights: weights.len(),
                    members: members.len(),
                });
            }
            if let Some(&w) = weights.iter().find(|w| !w.is_finite()) {
                return Err(MergeError::NotFinite(w));
            }
            let w: Vec<f32> = weights.iter().map(|&w| w as f32).collect();
            (0..flats[0].len())
                .map(|p| {
                    let rows: Vec<&[f32]> = flats.iter().map(|f| f[p].values.as_slice()).collect();
                    weighted(&rows, &w)
                })
                .collect()
        }
        Method::TaskArithmetic { scale } | Method::Ties { scale, .. } => {
            if !scale.is_finite() {
                return Err(MergeError::NotFinite(*scale));
            }
            let what = match method {
                Method::Ties { .. } => "TIES-merging",
                _ => "task arithmetic",
            };
            let base = flatten(base.ok_or(MergeError::NoBase(what))?);
            for (p, q) in base.iter().zip(&flats[0]) {
                if p.shape != q.shape {
                    return Err(MergeError::BaseShapes {
                        name: p.name.clone(),
                        found: p.shape.clone(),
                        expected: q.shape.clone(),
                    });
                }
            }
            against_base(&flats, &base, method, *scale as f32)?
        }
    };
    Ok(rebuild(first, values))
}

/// `sum_i w_i * rows_i`, accumulated left to right.
fn weighted(rows: &[&[f32]], w: &[f32]) -> Vec<f32> {
    let mut out: Vec<f32> = rows[0].iter().map(|&x| x * w[0]).collect();
    for (row, &wi) in rows.iter().zip(w).skip(1) {
        for (o, &x) in out.iter_mut().zip(row.iter()) {
            *o += x * wi;
        }
    }
    out
}

/// Task arithmetic or TIES on every parameter but the head (whose members are averaged).
fn against_base(
    flats: &[Vec<Flat>],
    base: &[Flat],
    method: &Method,
    scale: f32,
) -> Result<Vec<Vec<f32>>, MergeError> {
    let n = flats.len();
    let even = vec![1.0 / n as f32; n];
    // Task vectors of the body, each member's concatenated in slot order.
    let body: Vec<usize> = (0..base.len())
        .filter(|&p| !is_head(&base[p].name))
        .collect();
    let tasks: Vec<Vec<f32>> = flats
        .iter()
        .map(|f| {
            body.iter()
                .flat_map(|&p| f[p].values.iter().zip(&base[p].values).map(|(x, b)| x - b))
                .collect()
        })
        .collect();
    let merged = match method {
        Method::Ties { density, .. } => {
            if !(*density > 0.0 && *density <= 1.0) {
                return Err(MergeError::Density(*density));
            }
            ties(&tasks, *density)
        }
        _ => {
            let ones = vec![1.0f32; n];
            let rows: Vec<&[f32]> = tasks.iter().map(Vec::as_slice).collect();
            weighted(&rows, &ones)
        }
    };
    let mut out = Vec::with_capacity(base.len());
    let mut at = 0;
    for (p, b) in base.iter().enumerate() {
        if is_head(&b.name) {
            let rows: Vec<&[f32]> = flats.iter().map(|f| f[p].values.as_slice()).collect();
            out.push(weighted(&rows, &even));
        } else {
            let len = b.values.len();
            out.push(
                b.values
                    .iter()
                    .zip(&merged[at..at + len])
                    .map(|(&x, &t)| x + scale * t)
                    .collect(),
            );
            at += len;
        }
    }
    Ok(out)
}

/// TIES-merging's merged task vector (before scaling), as the authors' implementation computes
/// it (`ties_merging`: `topk_values_mask`, `resolve_sign`, `disjoint_merge` with `mean`): per
/// task vector, keep the entries whose magnitude is at least the k-th smallest, k = d -
/// floor(d * density) (ties kept; density 1 keeps everything, where the published code's
/// `kthvalue(0)` would fail); elect each entry's sign as the sign of the trimmed vectors' sum,
/// zeros taking the sign of the sum of all elected signs; average the trimmed entries that
/// agree with it (entries that are 0 do not count).
pub fn ties(tasks: &[Vec<f32>], density: f64) -> Vec<f32> {
    let d = tasks.first().map_or(0, Vec::len);
    let trimmed: Vec<Vec<f32>> = tasks
        .iter()
        .map(|t| {
            let k = d - (d as f64 * density).floor() as usize;
            if k == 0 {
                return t.clone();
            }
            let mut mags: Vec<f32> = t.iter().map(|x| x.abs()).collect();
            let (_, kth, _) = mags.select_nth_unstable_by(k - 1, f32::total_cmp);
            let kth = *kth;
            t.iter()
                .map(|&x| if x.abs() >= kth { x } else { 0.0 })
                .collect()
        })
        .collect();
    let sign = |x: f32| {
        if x > 0.0 {
            1.0f32
        } else if x < 0.0 {
            -1.0
        } else {
            0.0
        }
    };
    let mut elected: Vec<f32> = (0..d)
        .map(|e| sign(trimmed.iter().map(|t| t[e]).sum::<f32>()))
        .collect();
    let majority = sign(elected.iter().sum::<f32>());
    for s in elected.iter_mut().filter(|s| **s == 0.0) {
        *s = majority;
    }
    (0..d)
        .map(|e| {
            let (mut sum, mut count) = (0.0f32, 0u32);
            for t in &trimmed {
                let x = t[e];
                // As published (`torch.where(sign > 0, T > 0, T < 0)`): a sign still 0
                // selects the negative entries.
                if (elected[e] > 0.0 && x > 0.0) || (elected[e] <= 0.0 && x < 0.0) {
                    sum += x;
                    count += 1;
                }
            }
            sum / count.max(1) as f32
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::Cpu;
    use crate::interpolate::lerp;
    use crate::interpolate::tests::tiny;
    use crate::model::BertConfig;

    fn bits(m: &BertClassifier<Cpu>) -> Vec<u32> {
        flatten(m)
            .into_iter()
            .flat_map(|f| f.values.into_iter().map(f32::to_bits))
            .collect()
    }

    #[test]
    fn members_whose_label_orders_differ_are_named() {
        let task: Vec<String> = vec!["yes".into(), "no".into()];
        let flipped = Some(vec!["no".to_owned(), "yes".to_owned()]);
        let named = Some(task.clone());
        assert_eq!(
            check_label_orders(&[("a", named.clone()), ("b", None)], &task),
            Ok(())
        );
        let e = check_label_orders(&[("a", named), ("b", None), ("c", flipped.clone())], &task)
            .unwrap_err();
        let text = e.to_string();
        assert!(
            text.contains("`a` and `c`") && text.contains("[\"no\", \"yes\"]"),
            "{text}"
        );
        // All alike, but not as the task orders them.
        let e = check_label_orders(&[("a", flipped.clone()), ("b", flipped)], &task).unwrap_err();
        assert!(
            matches!(e, MergeError::TaskLabels { ref member, .. } if member == "a"),
            "{e}"
        );
    }

    #[test]
    fn a_soup_of_one_is_the_model_and_of_two_the_paths_midpoint() {
        let (a, b) = (tiny(1), tiny(2));
        let one = merge(&[&a], None, &Method::Average { weights: vec![1.0] }).unwrap();
        assert_eq!(bits(&one), bits(&a));
        let two = merge(
            &[&a, &b],
            None,
            &Method::Average {
                weights: vec![0.5, 0.5],
            },
        )
        .unwrap();
        assert_eq!(bits(&two), bits(&lerp(&a, &b, 0.5)));
    }

    #[test]
    fn task_arithmetic_at_one_nth_is_the_average_but_for_the_head() {
        let base = tiny(0);
        let ms = [tiny(1), tiny(2), tiny(3)];
        let refs: Vec<&BertClassifier<Cpu>> = ms.iter().collect();
        let ta = merge(
            &refs,
            Some(&base),
            &Method::TaskArithmetic { scale: 1.0 / 3.0 },
        )
        .unwrap();
        let avg = merge(
            &refs,
            None,
            &Method::Average {
                weights: vec![1.0 / 3.0; 3],
            },
        )
        .unwrap();
        for (p, q) in flatten(&ta).iter().zip(flatten(&avg)) {
            for (x, y) in p.values.iter().zip(&q.values) {
                assert!((x - y).abs() < 1e-5, "{}: {x} vs {y}", p.name);
            }
        }
        // With scale 0 the body is the base's and the head the members' mean.
        let zero = merge(&refs, Some(&base), &Method::TaskArithmetic { scale: 0.0 }).unwrap();
        for ((z, b), v) in flatten(&zero).iter().zip(flatten(&base)).zip(flatten(&avg)) {
            let want = if is_head(&z.name) {
                &v.values
            } else {
                &b.values
            };
            assert_eq!(&z.values, want, "{}", z.name);
        }
    }

    #[test]
    fn ties_trims_elects_and_averages_as_published() {
        // Three task vectors of 5 entries, density 0.6: k = 5 - 3 = 2, so each keeps the
        // magnitudes at least its 2nd smallest (four entries: the published `>=`).
        let tasks = vec![
            vec![0.5, -0.1, 0.3, -0.4, 0.05],  // 2nd smallest .1: drops 0.05
            vec![-0.2, -0.6, 0.1, 0.3, 0.0],   // 2nd smallest .1: drops 0.0
            vec![0.1, 0.2, -0.3, -0.05, 0.01], // 2nd smallest .05: drops 0.01
        ];
        let m = ties(&tasks, 0.6);
        // Sums of the trimmed: 0.4, -0.5, 0.1, -0.15, 0; signs + - + - 0, summing to 0, so
        // the zero stays (and, as published, selects negative entries: none here). Means of
        // the agreeing entries: (0.5 + 0.1) / 2, (-0.1 - 0.6) / 2, (0.3 + 0.1) / 2,
        // (-0.4 - 0.05) / 2, 0.
        let want = [0.3, -0.35, 0.2, -0.225, 0.0];
        for (x, y) in m.iter().zip(want) {
            assert!((x - y).abs() < 1e-6, "{m:?}");
        }
        // Density 1 keeps everything: the merge is the mean of the agreeing entries.
        let all = ties(&tasks, 1.0);
        assert!((all[0] - (0.5 + 0.1) / 2.0).abs() < 1e-6, "{all:?}");
    }

    #[test]
    fn what_cannot_be_merged_is_an_error() {
        let a = tiny(1);
        let none: [&BertClassifier<Cpu>; 0] = [];
        assert_eq!(
            merge(&none, None, &Method::Average { weights: vec![] }).unwrap_err(),
            MergeError::NoMembers
        );
        assert_eq!(
            merge(
                &[&a],
                None,
                &Method::Average {
                    weights: vec![0.5, 0.5]
                }
            )
            .unwrap_err(),
            MergeError::Weights {
                weights: 2,
                members: 1
            }
        );
        assert_eq!(
            merge(&[&a], None, &Method::TaskArithmetic { scale: 1.0 }).unwrap_err(),
            MergeError::NoBase("task arithmetic")
        );
        assert_eq!(
            merge(
                &[&a],
                Some(&tiny(0)),
                &Method::Ties {
                    density: 0.0,
                    scale: 1.0
                }
            )
            .unwrap_err(),
            MergeError::Density(0.0)
        );
        let cfg: BertConfig = serde_json::from_value(serde_json::json!({
            "vocab_size": 30, "hidden_size": 8, "num_hidden_layers": 1, "num_attention_heads": 2,
            "intermediate_size": 32, "max_position_embeddings": 16,
        }))
        .unwrap();
        let wide = BertClassifier::<Cpu>::new(&cfg, 2, &Default::default());
        let e = merge(
            &[&a, &wide],
            None,
            &Method::Average {
                weights: vec![0.5, 0.5],
            },
        )
        .unwrap_err();
        assert!(matches!(e, MergeError::Shapes { member: 1, .. }), "{e}");
    }
}
