//! Paths built from names. Every name that reaches a path (a study, a set, an output file) is
//! validated where it enters, and checked again here where it is joined, so that a name that
//! slipped past validation still cannot reach outside its root.

use std::path::{Component, Path, PathBuf};

/// `root/rel`, where `rel` must be a non-empty relative path of plain components (no `..`,
/// no root, no `.`).
pub fn under(root: &Path, rel: &str) -> Result<PathBuf, String> {
    let p = Path::new(rel);
    let plain = !rel.is_empty() && p.components().all(|c| matches!(c, Component::Normal(_)));
    if !plain {
        return Err(format!(
            "`{rel}` is not a plain relative name; refusing to build a path outside {}",
            root.display()
        ));
    }
    Ok(root.join(p))
}

#[cfg(test)]
mod tests {
    use super::under;
    use std::path::Path;

    #[test]
    fn only_plain_relative_names_are_joined() {
        let root = Path::new("/c");
        assert_eq!(
            under(root, "eval/dev.json").unwrap(),
            Path::new("/c/eval/dev.json")
        );
        for bad in [
            "",
            "..",
            "../x",
            "a/../../x",
            "/tmp/x",
            "./x",
            "a/b/../../../x",
        ] {
            assert!(under(root, bad).is_err(), "{bad:?} was accepted");
        }
    }
}
