//! Permutation alignment on a real BERT (all-MiniLM-L6-v2, 6 layers, 12 heads): a random
//! permutation of its units, and the matched one that undoes it, both keep the logits within
//! 1e-5 on real sentence pairs; weight matching recovers the planted permutation, so the
//! aligned copy is the original bit for bit.

use crate::align::{align_models, permute_model, to_host, Permutation, Shape};
use crate::backend::Cpu;
use crate::model::{load, BertClassifier};
use crate::text::{to_batch, TextEncoder};

const PAIRS: [(&str, &str); 6] = [
    ("A man is playing a guitar.", "Someone plays an instrument."),
    ("The cat sat on the mat.", "A dog is running in the park."),
    (
        "Clearly, the meeting was cancelled.",
        "Someone cancelled the meeting.",
    ),
    ("Perhaps the train left early.", "The train left early."),
    ("She reads every evening.", "She never reads."),
    ("Two children are laughing.", "Kids are happy."),
];

fn logits(m: &BertClassifier<Cpu>, dir: &std::path::Path) -> Vec<f32> {
    let enc = TextEncoder::from_dir(dir, 128).unwrap();
    let texts: Vec<(&str, Option<&str>)> = PAIRS.iter().map(|(a, b)| (*a, Some(*b))).collect();
    let encoded = enc.encode(&texts).unwrap();
    let refs: Vec<_> = encoded.iter().collect();
    let batch = to_batch::<Cpu>(&refs, enc.pad_id, &Default::default());
    m.forward(&batch)
        .logits
        .into_data()
        .to_vec::<f32>()
        .unwrap()
}

fn max_diff(x: &[f32], y: &[f32]) -> f32 {
    x.iter()
        .zip(y)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f32::max)
}

#[test]
fn minilm_keeps_its_logits_under_random_and_matched_permutations() {
    let dir = super::common::minilm_dir();
    // Its pretrained encoder and pooler, a head drawn from seed 3 (MiniLM has none).
    let a = load::<Cpu>(&dir, 3, 3, &Default::default()).unwrap();
    let s = Shape::of(&a.config);
    assert_eq!((s.layers, s.heads), (6, 12));
    let original = logits(&a.model, &dir);
    let planted = Permutation::random(&s, 5);
    let b = permute_model(&a.model, &planted, &s).unwrap();
    let moved = logits(&b, &dir);
    let d = max_diff(&original, &moved);
    assert!(d < 1e-5, "a random permutation changed a logit by {d}");
    // Far from a no-op: most units moved.
    assert!(planted.identity_shares().residual < 0.05);

    let start = std::time::Instant::now();
    let (m, aligned) = align_models(&a.model, &b, &a.config, 100, 0).unwrap();
    // Not asserted (timing is for benchmarks): what docs/performance.md quotes.
    eprintln!(
        "MiniLM matched in {} passes, {:.1} s",
        m.iterations,
        start.elapsed().as_secs_f64()
    );
    assert!(m.converged, "{} passes", m.iterations);
    assert_eq!(to_host(&aligned), to_host(&a.model));
    let d = max_diff(&logits(&aligned, &dir), &moved);
    assert!(d < 1e-5, "the matched permutation changed a logit by {d}");
}
