//! Which files of a Hub repository make the model directory basins reads. Model repositories
//! hold much besides (ONNX and OpenVINO exports, TensorFlow, Flax and Rust weights, READMEs):
//! all-MiniLM-L6-v2 is ~90 MB as basins needs it and ~1 GB whole. One set of weights, preferring
//! safetensors (no pickle, no conversion), the config and the tokenizer files.

use super::client::Sibling;

/// The tokenizer's files, taken whenever the repository has them.
const TOKENIZER: [&str; 4] = [
    "tokenizer.json",
    "vocab.txt",
    "tokenizer_config.json",
    "special_tokens_map.json",
];

/// Weights, in order of preference.
const WEIGHTS: [&str; 2] = ["model.safetensors", "pytorch_model.bin"];

fn listing(siblings: &[Sibling]) -> String {
    let mut shown: Vec<&str> = siblings
        .iter()
        .map(|s| s.rfilename.as_str())
        .take(12)
        .collect();
    if siblings.len() > 12 {
        shown.push("...");
    }
    shown.join(", ")
}

fn find<'s>(siblings: &'s [Sibling], name: &str) -> Option<&'s Sibling> {
    siblings.iter().find(|s| s.rfilename == name)
}

/// Whether the repository has a tokenizer basins reads (`tokenizer.json` or `vocab.txt`).
pub fn has_tokenizer(siblings: &[Sibling]) -> bool {
    find(siblings, "tokenizer.json").is_some() || find(siblings, "vocab.txt").is_some()
}

/// The files to download, or why the repository is not a model basins can load. With
/// `tokenizer_elsewhere`, a repository without a tokenizer is accepted and none of its
/// tokenizer files are taken (they come from the other repository, whole, never mixed).
pub fn select<'s>(
    repo: &str,
    siblings: &'s [Sibling],
    tokenizer_elsewhere: bool,
) -> Result<Vec<&'s Sibling>, String> {
    let Some(config) = find(siblings, "config.json") else {
        return Err(format!(
            "model `{repo}` has no config.json at the top level (files: {}); basins reads \
             Hugging Face BERT directories",
            listing(siblings)
        ));
    };
    let Some(weights) = WEIGHTS.iter().find_map(|w| find(siblings, w)) else {
        let sharded = siblings
            .iter()
            .any(|s| s.rfilename.ends_with(".index.json"));
        return Err(format!(
            "model `{repo}` has no model.safetensors or pytorch_model.bin{} (files: {})",
            if sharded {
                " (its weights are sharded, which basins does not read: BERT-sized models \
                 fit one file)"
            } else {
                ""
            },
            listing(siblings)
        ));
    };
    let mut chosen = vec![config];
    if has_tokenizer(siblings) {
        chosen.extend(TOKENIZER.iter().filter_map(|n| find(siblings, n)));
    } else if !tokenizer_elsewhere {
        return Err(format!(
            "model `{repo}` has no tokenizer.json or vocab.txt (files: {}); finetuned \
             checkpoints are often published without one: in a [zoo], `tokenizer = {{ hub = \
             \"<the base model>\" }}` takes it from the model they were finetuned from",
            listing(siblings)
        ));
    }
    chosen.push(weights);
    Ok(chosen)
}

/// The tokenizer files of `repo` (for members that have none).
pub fn tokenizer_files<'s>(
    repo: &str,
    siblings: &'s [Sibling],
) -> Result<Vec<&'s Sibling>, String> {
    if !has_tokenizer(siblings) {
        return Err(format!(
            "the tokenizer model `{repo}` has no tokenizer.json or vocab.txt either (files: {})",
            listing(siblings)
        ));
    }
    Ok(TOKENIZER.iter().filter_map(|n| find(siblings, n)).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    use super::super::sibling as sib;

    fn names(v: &[&Sibling]) -> Vec<String> {
        v.iter().map(|s| s.rfilename.clone()).collect()
    }

    #[test]
    fn safetensors_are_preferred_and_extras_left_out() {
        let all: Vec<Sibling> = [
            "README.md",
            "config.json",
            "onnx/model.onnx",
            "pytorch_model.bin",
            "model.safetensors",
            "tf_model.h5",
            "tokenizer.json",
            "vocab.txt",
            "special_tokens_map.json",
        ]
        .iter()
        .map(|n| sib(n))
        .collect();
        assert_eq!(
            names(&select("a/b", &all, false).unwrap()),
            [
                "config.json",
                "tokenizer.json",
                "vocab.txt",
                "special_tokens_map.json",
                "model.safetensors"
            ]
        );
    }

    #[test]
    fn pickle_weights_when_there_are_no_safetensors() {
        let all: Vec<Sibling> = ["config.json", "pytorch_model.bin", "vocab.txt"]
            .iter()
            .map(|n| sib(n))
            .collect();
        assert_eq!(
            names(&select("a/b", &all, false).unwrap()),
            ["config.json", "vocab.txt", "pytorch_model.bin"]
        );
    }

    #[test]
    fn what_is_missing_is_named() {
        let err = |files: &[&str]| {
            let all: Vec<Sibling> = files.iter().map(|n| sib(n)).collect();
            select("o/m", &all, false).unwrap_err()
        };
        assert!(err(&["model.safetensors", "vocab.txt"]).contains("no config.json"));
        let e = err(&["config.json", "model.safetensors.index.json", "vocab.txt"]);
        assert!(e.contains("sharded"), "{e}");
        assert!(err(&["config.json", "model.safetensors"]).contains("no tokenizer.json"));
    }

    #[test]
    fn a_tokenizer_from_elsewhere_is_taken_whole() {
        let member: Vec<Sibling> = ["config.json", "model.safetensors", "tokenizer_config.json"]
            .iter()
            .map(|n| sib(n))
            .collect();
        assert_eq!(
            names(&select("a/b", &member, true).unwrap()),
            ["config.json", "model.safetensors"]
        );
        let base: Vec<Sibling> = ["config.json", "vocab.txt", "tokenizer_config.json", "x.bin"]
            .iter()
            .map(|n| sib(n))
            .collect();
        assert_eq!(
            names(&tokenizer_files("base", &base).unwrap()),
            ["vocab.txt", "tokenizer_config.json"]
        );
        assert!(tokenizer_files("m", &member).is_err());
    }
}
