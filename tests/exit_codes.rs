//! The exit codes the README documents are the ones the CLI has, and errors land on them by
//! their class (`EngineError::class`, exhaustive over the variants).

mod common;

use common::*;

#[test]
fn the_readme_table_lists_exactly_the_cli_codes() {
    let readme = include_str!("../README.md");
    let table = readme
        .split("### Exit codes")
        .nth(1)
        .expect("README has an exit-code section");
    let documented: Vec<u8> = table
        .lines()
        .skip_while(|l| !l.starts_with("| code"))
        .skip(2)
        .take_while(|l| l.starts_with('|'))
        .map(|l| {
            l.trim_matches('|')
                .split('|')
                .next()
                .unwrap()
                .trim()
                .parse()
                .unwrap_or_else(|e| panic!("README row `{l}`: {e}"))
        })
        .collect();
    use basins::exit::*;
    assert_eq!(documented, [OK, FAILED, BAD_INPUT, ERROR, INTERRUPTED]);
}

#[test]
fn manifests_on_different_caches_are_bad_input_for_gc() {
    let fx = Fixture::new();
    let text = std::fs::read_to_string(fx.path("m.toml")).unwrap();
    fx.write(
        "m2.toml",
        &text.replace("cache = \"cache\"", "cache = \"other\""),
    );
    let out = fx.cli(&["gc", "m.toml", "m2.toml"]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("different caches"));
}
