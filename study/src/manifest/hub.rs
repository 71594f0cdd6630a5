//! Models on the Hugging Face Hub (`[models.x] hub = "owner/name"`, `[zoo] hub = "owner/name_{0..99}"`):
//! the repository ids and revisions a manifest names, checked at load time, and the commit each
//! revision resolves to. A branch or tag moves; a commit does not, so only the commit goes into
//! the `hub/<name>` node's key, and resolving a revision is done before the plan (by whoever can
//! reach the Hub: the CLI, through stages::hub) so that a new upstream commit is a visible
//! `plan` reason. A 40-hex revision is already a commit and needs no network.

use serde::{Deserialize, Serialize};

/// The most repositories one `{a..b}` pattern may name (a zoo is at most `MAX_SEEDS` members).
const MAX_PATTERN: u64 = super::spec::MAX_SEEDS;

/// Which of the Hub's repository kinds a reference names: their APIs and download URLs differ
/// (`/api/models/...` and `/{repo}/resolve/...` against `/api/datasets/...` and
/// `/datasets/{repo}/resolve/...`), and a model and a data set may share a name.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RepoKind {
    #[default]
    Model,
    Dataset,
}

impl RepoKind {
    /// The plural the Hub's API paths use (`models`, `datasets`).
    pub fn plural(self) -> &'static str {
        match self {
            RepoKind::Model => "models",
            RepoKind::Dataset => "datasets",
        }
    }

    /// What the Hub's file URLs (and basins' names for a reference) put before the repository
    /// id: nothing for a model, `datasets/` for a data set.
    pub fn prefix(self) -> &'static str {
        match self {
            RepoKind::Model => "",
            RepoKind::Dataset => "datasets/",
        }
    }

    /// How messages name a repository of this kind.
    pub fn noun(self) -> &'static str {
        match self {
            RepoKind::Model => "model",
            RepoKind::Dataset => "data set",
        }
    }

    fn is_model(&self) -> bool {
        *self == RepoKind::Model
    }
}

/// A repository at a revision, and the commit that revision resolved to (when known).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HubRef {
    /// `owner/name` (or a bare `name`).
    pub repo: String,
    /// A model or a data set. Left out of the serialised form for models, so that model
    /// references (and the keys of the nodes that hold them) read as they did before data sets.
    #[serde(default, skip_serializing_if = "RepoKind::is_model")]
    pub kind: RepoKind,
    /// A branch, tag or commit, as written (`main` when the manifest gives none).
    pub revision: String,
    /// The 40-hex commit: the revision itself when it is one, else filled in by resolution.
    pub commit: Option<String>,
}

impl HubRef {
    /// A checked reference; a commit revision is pinned at once.
    pub fn new(repo: &str, revision: &str) -> Result<HubRef, String> {
        check_repo(repo)?;
        check_revision(revision)?;
        Ok(HubRef {
            repo: repo.to_owned(),
            kind: RepoKind::Model,
            revision: revision.to_owned(),
            commit: is_commit(revision).then(|| revision.to_ascii_lowercase()),
        })
    }

    /// A data set repository's reference.
    pub fn dataset(repo: &str, revision: &str) -> Result<HubRef, String> {
        Ok(HubRef {
            kind: RepoKind::Dataset,
            ..HubRef::new(repo, revision)?
        })
    }

    /// `owner/name@revision` (`datasets/owner/name@revision` for a data set), how messages
    /// name it.
    pub fn display(&self) -> String {
        format!("{}{}@{}", self.kind.prefix(), self.repo, self.revision)
    }

    /// The last path segment of the repository id (a zoo member's name).
    pub fn name(&self) -> &str {
        self.repo.rsplit('/').next().unwrap_or(&self.repo)
    }
}

/// Whether `s` is a full git commit id (40 hex digits).
pub fn is_commit(s: &str) -> bool {
    s.len() == 40 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// The Hub's repository id rule: one or two segments of letters, digits, `-`, `_`, `.`, not
/// starting with `-` or `.`, no `--` or `..`, at most 96 characters.
pub fn check_repo(repo: &str) -> Result<(), String> {
    let segments: Vec<&str> = repo.split('/').collect();
    let segment_ok = |s: &str| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
            && !s.starts_with(['-', '.'])
            && !s.ends_with(['-', '.'])
    };
    if repo.len() > 96
        || segments.len() > 2
        || !segments.iter().all(|s| segment_ok(s))
        || repo.contains("--")
        || repo.contains("..")
    {
        return Err(format!(
            "`{repo}` is not a Hugging Face model id (`owner/name`: letters, digits, `-`, `_`, \
             `.`, at most 96 characters)"
        ));
    }
    Ok(())
}

/// A branch, tag or commit: printable, no whitespace, no `..`, no leading `/` or `-`.
fn check_revision(revision: &str) -> Result<(), String> {
    let ok = !revision.is_empty()
        && revision.len() <= 255
        && revision.chars().all(|c| c.is_ascii_graphic())
        && !revision.contains("..")
        && !revision.starts_with(['/', '-'])
        && !revision.ends_with('/');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "`{revision}` is not a revision (a branch like \"main\", a tag, or a 40-hex commit)"
        ))
    }
}

/// The repositories a zoo pattern names: `owner/name_{0..99}` is `owner/name_0` ...
/// `owner/name_99` (the end is exclusive, as in seed ranges); without braces, the id itself.
pub fn expand_pattern(pattern: &str) -> Result<Vec<String>, String> {
    let Some(open) = pattern.find('{') else {
        check_repo(pattern)?;
        return Ok(vec![pattern.to_owned()]);
    };
    let close = pattern[open..]
        .find('}')
        .map(|c| open + c)
        .ok_or_else(|| format!("`{pattern}`: `{{` without a closing `}}`"))?;
    let (head, range, tail) = (
        &pattern[..open],
        &pattern[open + 1..close],
        &pattern[close + 1..],
    );
    if tail.contains(['{', '}']) || head.contains('}') {
        return Err(format!("`{pattern}`: at most one `{{a..b}}` range"));
    }
    let (a, b) = range.split_once("..").ok_or_else(|| {
        format!("`{pattern}`: the braces hold `{range}`, not a range like 0..100")
    })?;
    let parse = |x: &str| {
        x.trim()
            .parse::<u64>()
            .map_err(|_| format!("`{pattern}`: `{x}` is not a non-negative integer"))
    };
    let (a, b) = (parse(a)?, parse(b)?);
    if b <= a {
        return Err(format!(
            "`{pattern}`: the range {a}..{b} is empty (the end is exclusive)"
        ));
    }
    if b - a > MAX_PATTERN {
        return Err(format!(
            "`{pattern}` names {} models, more than the {MAX_PATTERN} a zoo may have",
            b - a
        ));
    }
    (a..b)
        .map(|i| {
            let repo = format!("{head}{i}{tail}");
            check_repo(&repo).map(|()| repo)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_commit_revision_is_pinned_and_a_branch_is_not() {
        let c = "C9745ED1D9F207416BE6D2E6F8DE32D1F16199BF";
        let r = HubRef::new("sentence-transformers/all-MiniLM-L6-v2", c).unwrap();
        assert_eq!(r.commit.as_deref(), Some(c.to_ascii_lowercase().as_str()));
        let r = HubRef::new("bert-base-uncased", "main").unwrap();
        assert_eq!(r.commit, None);
        assert_eq!(r.name(), "bert-base-uncased");
        assert_eq!(r.display(), "bert-base-uncased@main");
    }

    #[test]
    fn bad_ids_and_revisions_are_refused() {
        for bad in [
            "", "a/b/c", "-a/b", "a/.b", "a--b/c", "a/b..c", "a b/c", "a/b?x", "../x",
        ] {
            assert!(HubRef::new(bad, "main").is_err(), "{bad}");
        }
        assert!(HubRef::new(&"a".repeat(97), "main").is_err());
        for bad in ["", "a b", "-x", "/x", "a/../b", "x/"] {
            assert!(HubRef::new("a/b", bad).is_err(), "{bad}");
        }
        assert!(HubRef::new("a/b", "refs/pr/1").is_ok());
    }

    #[test]
    fn patterns_expand_to_ranges() {
        assert_eq!(
            expand_pattern("connectivity/feather_berts_{0..3}").unwrap(),
            [
                "connectivity/feather_berts_0",
                "connectivity/feather_berts_1",
                "connectivity/feather_berts_2"
            ]
        );
        assert_eq!(
            expand_pattern("Jeevesh8/bert_ft_qqp-{8..10}").unwrap(),
            ["Jeevesh8/bert_ft_qqp-8", "Jeevesh8/bert_ft_qqp-9"]
        );
        assert_eq!(expand_pattern("a/b").unwrap(), ["a/b"]);
        for bad in [
            "a/b_{0..}",
            "a/b_{3..3}",
            "a/b_{0..2",
            "a/b_{x..2}",
            "a/{0..2}_{0..2}",
            "a/b_{0..5000}",
            "a/b-{0..2}-",
        ] {
            assert!(expand_pattern(bad).is_err(), "{bad}");
        }
    }
}
