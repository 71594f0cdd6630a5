//! Where tests find real models and data, and how they say so when those are absent.

#![allow(dead_code)]

use std::path::PathBuf;

/// all-MiniLM-L6-v2: `BASINS_MINILM_DIR`, or the cache `scripts/fetch-minilm` fills. Absent
/// means the test command was not run as the README says: fail loudly, naming the fix.
pub fn minilm_dir() -> PathBuf {
    if let Ok(d) = std::env::var("BASINS_MINILM_DIR") {
        let d = PathBuf::from(d);
        assert!(
            d.join("model.safetensors").exists(),
            "BASINS_MINILM_DIR={} has no model.safetensors",
            d.display()
        );
        return d;
    }
    let cache = std::env::var("BASINS_MODEL_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|_| {
            std::env::var("XDG_CACHE_HOME")
                .map(PathBuf::from)
                .unwrap_or_else(|_| {
                    PathBuf::from(std::env::var("HOME").unwrap_or_default()).join(".cache")
                })
                .join("basins")
        });
    let d = cache.join("all-minilm-l6-v2");
    assert!(
        d.join("model.safetensors").exists(),
        "all-MiniLM-L6-v2 is not available: run `scripts/fetch-minilm` (or the README's test command, `scripts/test`), \
         or set BASINS_MINILM_DIR to a directory holding it. Looked in {}",
        d.display()
    );
    d
}

pub fn fixture(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("tests")
        .join("fixtures")
        .join(rel)
}
