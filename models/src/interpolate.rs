//! Linear interpolation between two finetuned models: theta(alpha) = (1 - alpha) theta_A +
//! alpha theta_B over every parameter, heads included. Both checkpoints are read once per
//! pair; each alpha's weights are computed on the device from the two loaded models.
//!
//! A block path ([`lerp_blocks`]) moves only some blocks of parameters (the embeddings, one
//! encoder layer, the pooler with the head) from A to B and keeps the rest at A: which blocks
//! carry a barrier (Adilova et al., "Layer-wise linear mode connectivity", ICLR 2024). Moving
//! every block is [`lerp`] bit for bit.

use burn::module::Param;
use burn::tensor::backend::Backend;

use crate::model::{slots, BertClassifier, Slot};

/// The model at `alpha` on the line from `a` (alpha = 0) to `b` (alpha = 1). Alphas outside
/// [0, 1] extrapolate along the same line.
pub fn lerp<B: Backend>(
    a: &BertClassifier<B>,
    b: &BertClassifier<B>,
    alpha: f64,
) -> BertClassifier<B> {
    lerp_blocks(a, b, alpha, &|_| true)
}

/// The block a parameter (HF name without `bert.`) belongs to: `embeddings`, `layer.<n>` or
/// `pooler+head`.
pub fn block_of(name: &str) -> String {
    if name.starts_with("embeddings.") {
        return "embeddings".into();
    }
    if let Some(rest) = name.strip_prefix("encoder.layer.") {
        let n = rest.split('.').next().unwrap_or_default();
        return format!("layer.{n}");
    }
    "pooler+head".into()
}

/// Every block of a model with `layers` encoder layers, input to output.
pub fn blocks(layers: usize) -> Vec<String> {
    let mut v = vec!["embeddings".to_owned()];
    v.extend((0..layers).map(|l| format!("layer.{l}")));
    v.push("pooler+head".into());
    v
}

/// The model at `alpha` on the path on which the parameters `moving` (by HF name) accepts go
/// from `a` to `b` and the rest stay at `a`.
pub fn lerp_blocks<B: Backend>(
    a: &BertClassifier<B>,
    b: &BertClassifier<B>,
    alpha: f64,
    moving: &dyn Fn(&str) -> bool,
) -> BertClassifier<B> {
    let mut out = a.clone();
    let mut b = b.clone();
    for ((name, sa), (_, sb)) in slots(&mut out).into_iter().zip(slots(&mut b)) {
        if !moving(&name) {
            continue;
        }
        match (sa, sb) {
            (Slot::Matrix { param: pa, .. }, Slot::Matrix { param: pb, .. }) => {
                let t = pa.val().mul_scalar(1.0 - alpha) + pb.val().mul_scalar(alpha);
                *pa = Param::from_tensor(t);
            }
            (Slot::Vector(pa), Slot::Vector(pb)) => {
                let t = pa.val().mul_scalar(1.0 - alpha) + pb.val().mul_scalar(alpha);
                *pa = Param::from_tensor(t);
            }
            _ => unreachable!("two models of one architecture have the same slots"),
        }
    }
    out
}

/// Whether two models have the same architecture (shapes of every parameter), so a path
/// between them exists.
pub fn same_shapes<B: Backend>(a: &BertClassifier<B>, b: &BertClassifier<B>) -> bool {
    let (mut a, mut b) = (a.clone(), b.clone());
    let shapes = |m: &mut BertClassifier<B>| -> Vec<Vec<usize>> {
        slots(m).iter().map(|(_, s)| s.hf_shape()).collect()
    };
    shapes(&mut a) == shapes(&mut b)
}

/// The alphas a path node evaluates: every grid point but the endpoints.
pub fn interior(alphas: &[f64]) -> Vec<f64> {
    alphas
        .iter()
        .copied()
        .filter(|&a| a != 0.0 && a != 1.0)
        .collect()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::backend::Cpu;
    use crate::model::{init_random, BertConfig};

    /// A one-layer BERT of hidden size 8 with random weights (also the merges' test model).
    pub(crate) fn tiny(seed: u64) -> BertClassifier<Cpu> {
        let cfg: BertConfig = serde_json::from_value(serde_json::json!({
            "vocab_size": 30, "hidden_size": 8, "num_hidden_layers": 1, "num_attention_heads": 2,
            "intermediate_size": 16, "max_position_embeddings": 16,
        }))
        .unwrap();
        let mut m = BertClassifier::new(&cfg, 2, &Default::default());
        init_random(&mut m, seed, &Default::default());
        m
    }

    fn flat(m: &BertClassifier<Cpu>) -> Vec<f32> {
        let mut m = m.clone();
        slots(&mut m)
            .iter()
            .flat_map(|(_, s)| match s {
                Slot::Matrix { param, .. } => param.val().into_data().to_vec::<f32>().unwrap(),
                Slot::Vector(p) => p.val().into_data().to_vec::<f32>().unwrap(),
            })
            .collect()
    }

    #[test]
    fn moving_every_block_is_the_whole_path() {
        let (a, b) = (tiny(1), tiny(2));
        let all = blocks(1);
        assert_eq!(all, ["embeddings", "layer.0", "pooler+head"]);
        for alpha in [0.25, 0.5, 1.0] {
            let whole = flat(&lerp(&a, &b, alpha));
            let by_blocks = flat(&lerp_blocks(&a, &b, alpha, &|n| all.contains(&block_of(n))));
            assert_eq!(whole, by_blocks);
        }
        // One block moved: its parameters are B's at alpha 1, every other one is A's.
        let mut one = lerp_blocks(&a, &b, 1.0, &|n| block_of(n) == "layer.0");
        let (mut a2, mut b2) = (a.clone(), b.clone());
        for (((name, s), (_, sa)), (_, sb)) in slots(&mut one)
            .into_iter()
            .zip(slots(&mut a2))
            .zip(slots(&mut b2))
        {
            let v = |s: &Slot<Cpu>| crate::model::slot_values(s);
            let want = if name.starts_with("encoder.layer.0.") {
                v(&sb)
            } else {
                v(&sa)
            };
            assert_eq!(v(&s), want, "{name}");
        }
    }

    #[test]
    fn endpoints_and_midpoint_are_exact() {
        let (a, b) = (tiny(1), tiny(2));
        assert!(same_shapes(&a, &b));
        assert_eq!(flat(&lerp(&a, &b, 0.0)), flat(&a));
        assert_eq!(flat(&lerp(&a, &b, 1.0)), flat(&b));
        let mid = flat(&lerp(&a, &b, 0.5));
        for ((m, x), y) in mid.iter().zip(flat(&a)).zip(flat(&b)) {
            assert!((m - (x + y) / 2.0).abs() < 1e-6);
        }
    }
}
