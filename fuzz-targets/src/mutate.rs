//! Random mutation of corpus inputs for the stable driver (no coverage feedback: what it buys
//! is breadth; `cargo fuzz` supplies the depth). The operators are libFuzzer's basic ones plus
//! a dictionary of tokens the parsers care about.

use rand::Rng;

/// Tokens that reach deep into the parsers: TOML and JSON structure, manifest keys, numbers at
/// the edges, and the separators of the data layouts.
pub const DICTIONARY: &[&[u8]] = &[
    // Command-line flags, NUL-separated as the `cli_flags` target splits them.
    b"\0--progress-every\0",
    b"\0--jobs\0",
    b"\0--gpus\0",
    b"\0--field\0",
    b"\0--labels\0",
    b"\0--format\0",
    b"\0--max-len\0",
    b"\0--step\0",
    b"\0--per-subcase\0",
    b"\0--shortcut-share\0",
    b"1e20",
    b"[study]",
    b"[models.m]",
    b"[tasks.t]",
    b"[diagnostics.d]",
    b"[finetune]",
    b"[interpolate]",
    b"[cluster]",
    b"[report]",
    b"[zoo.z]",
    b"include = ",
    b"seeds = ",
    b"\"0..100000000\"",
    b"alphas = ",
    b"{ linspace = [0, 1, 1000000000] }",
    b"builtin = { layers = 0, hidden = 0 }",
    b"max_len = ",
    b"k = ",
    b"delta = ",
    b"surface = { n = 0 }",
    b"where = ",
    b"metric = ",
    b"labels = []",
    b"name = \"..\"",
    b"\"../../x\"",
    b"\"/tmp/x\"",
    b"1e308",
    b"-1",
    b"0",
    b"18446744073709551616",
    b"nan",
    b"inf",
    b"9999999999",
    b"\"\"",
    b"[]",
    b"{}",
    b"\t",
    b"\n",
    b"\r\n",
    b"\"",
    b",",
    b"=",
    b":",
    b"{\"check\": \"",
    b"\"record\": ",
    b"\"metrics\"",
    b"\"outputs\"",
    b"\"log\"",
    b"\"vocab_size\": 1000000000000",
    b"\"hidden_size\": 0",
    b"\"num_attention_heads\": 3",
    b"\"dtype\":\"F32\"",
    b"\"shape\":[",
    b"\"data_offsets\":[",
    b"\"__metadata__\"",
    b"gold_label",
    b"sentence1",
    b"sentence2",
    b"heuristic",
    b"is_duplicate",
    b"entailment",
];

/// One mutated copy of `input` (`other` is another corpus entry, for splicing).
pub fn mutate(rng: &mut impl Rng, input: &[u8], other: &[u8], max_len: usize) -> Vec<u8> {
    let mut out = input.to_vec();
    for _ in 0..rng.random_range(1..=4) {
        let len = out.len();
        match rng.random_range(0..8) {
            0 if len > 0 => {
                let i = rng.random_range(0..len);
                out[i] ^= 1 << rng.random_range(0..8);
            }
            1 if len > 0 => {
                let i = rng.random_range(0..len);
                out[i] = rng.next_u32() as u8;
            }
            2 => {
                let i = rng.random_range(0..=len);
                let n = rng.random_range(1..=8);
                let bytes: Vec<u8> = (0..n).map(|_| rng.next_u32() as u8).collect();
                out.splice(i..i, bytes);
            }
            3 if len > 0 => {
                let a = rng.random_range(0..len);
                let b = (a + rng.random_range(1..=16)).min(len);
                out.drain(a..b);
            }
            4 if len > 0 => {
                let a = rng.random_range(0..len);
                let b = (a + rng.random_range(1..=64)).min(len);
                let chunk = out[a..b].to_vec();
                let at = rng.random_range(0..=out.len());
                out.splice(at..at, chunk);
            }
            5 if !other.is_empty() => {
                let a = rng.random_range(0..other.len());
                let b = (a + rng.random_range(1..=256)).min(other.len());
                let at = rng.random_range(0..=out.len());
                out.splice(at..at, other[a..b].iter().copied());
            }
            6 => {
                let token = DICTIONARY[rng.random_range(0..DICTIONARY.len())];
                let at = rng.random_range(0..=out.len());
                out.splice(at..at, token.iter().copied());
            }
            _ if len > 0 => {
                // Replace a run of ASCII digits with an edge value.
                let i = rng.random_range(0..len);
                if out[i].is_ascii_digit() {
                    let mut j = i;
                    while j < len && out[j].is_ascii_digit() {
                        j += 1;
                    }
                    let edge: &[u8] = [&b"0"[..], b"4294967296", b"99999999999999999999", b"1"]
                        [rng.random_range(0..4)];
                    out.splice(i..j, edge.iter().copied());
                }
            }
            _ => {}
        }
    }
    out.truncate(max_len);
    out
}
