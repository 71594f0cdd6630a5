//! The hand-written backward passes of the CPU training operations (Linear, attention,
//! LayerNorm, GELU, softmax) against burn's autodiff of the composed forms (`with_composed`),
//! on a whole BERT classifier with padded batches; and the fused gradients' independence of the
//! thread count.

use std::collections::BTreeMap;

use burn::tensor::{Tensor, TensorData};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use crate::backend::CpuTrain;
use crate::model::{
    affine, init_random, seed_dropout, set_slot, slots, standard_normal, with_composed,
    BertClassifier, BertConfig, Slot,
};
use crate::text::{to_batch, Encoded};
use crate::train::cross_entropy;

/// A random model whose biases and LayerNorm shifts are not zero (init_random leaves them at
/// zero, which would hide a bias gradient routed to the wrong place).
fn model(dropout: f64) -> BertClassifier<CpuTrain> {
    let cfg: BertConfig = serde_json::from_value(serde_json::json!({
        "vocab_size": 60, "hidden_size": 24, "num_hidden_layers": 2,
        "num_attention_heads": 3, "intermediate_size": 40, "max_position_embeddings": 40,
    }))
    .unwrap();
    let device = Default::default();
    let mut m = BertClassifier::<CpuTrain>::new(&cfg, 3, &device);
    init_random(&mut m, 5, &device);
    let mut rng = ChaCha8Rng::seed_from_u64(9);
    for (name, slot) in slots(&mut m) {
        let shape = slot.hf_shape();
        let n: usize = shape.iter().product();
        let values: Vec<f32> = match &slot {
            Slot::Matrix { .. } => (0..n).map(|_| 0.2 * standard_normal(&mut rng)).collect(),
            Slot::Vector(_) if name.ends_with("LayerNorm.weight") => (0..n)
                .map(|_| 1.0 + 0.1 * standard_normal(&mut rng))
                .collect(),
            Slot::Vector(_) => (0..n).map(|_| 0.1 * standard_normal(&mut rng)).collect(),
        };
        set_slot(slot, values, &shape, &device);
    }
    m.set_dropout(dropout);
    m
}

/// Right-padded examples of 3 to 19 tokens.
fn examples() -> Vec<Encoded> {
    (0..7u32)
        .map(|i| {
            let len = 3 + (i as usize * 7) % 17;
            Encoded {
                ids: (0..len as u32).map(|t| 1 + (i * 11 + t * 5) % 59).collect(),
                type_ids: (0..len).map(|t| u32::from(t > len / 2)).collect(),
            }
        })
        .collect()
}

/// The loss (cross-entropy plus a weighted sum of every real token's final hidden state, so
/// that every position's gradient is checked) and each parameter's gradient, by HF name.
fn gradients(m: &BertClassifier<CpuTrain>) -> (f32, BTreeMap<String, Vec<f32>>) {
    gradients_with(m, false)
}

/// As [`gradients`]; with `holes`, some real tokens inside examples are masked out as well
/// (the fused attention's padded layout; right padding alone gets the packed one).
fn gradients_with(m: &BertClassifier<CpuTrain>, holes: bool) -> (f32, BTreeMap<String, Vec<f32>>) {
    let ex = examples();
    let refs: Vec<&Encoded> = ex.iter().collect();
    let device = Default::default();
    let mut input = to_batch::<CpuTrain>(&refs, 0, &device);
    if holes {
        let [b, s] = input.attention_mask.dims();
        let mask: Vec<bool> = (0..b * s)
            .map(|i| i % s < ex[i / s].ids.len() && !(i % s == 2 && i / s % 2 == 1))
            .collect();
        input.attention_mask = Tensor::from_data(TensorData::new(mask, [b, s]), &device);
    }
    let labels: Vec<usize> = (0..ex.len()).map(|i| i % 3).collect();
    seed_dropout(17);
    let out = m.forward(&input);
    let [b, s, h] = out.hidden.dims();
    // Padding's hidden states are zero in the packed form and computed in the padded one:
    // only real tokens' are weighed.
    let real = |i: usize| (i / h) % s < ex[i / (s * h)].ids.len();
    let weights: Vec<f32> = (0..b * s * h)
        .map(|i| {
            if real(i) {
                ((i % 13) as f32 - 6.0) / 50.0
            } else {
                0.0
            }
        })
        .collect();
    let weights = Tensor::<CpuTrain, 3>::from_data(TensorData::new(weights, [b, s, h]), &device);
    let loss = cross_entropy(out.logits, &labels).0 + (out.hidden * weights).sum();
    let value = loss.clone().into_data().to_vec::<f32>().unwrap()[0];
    let grads = loss.backward();
    let mut m = m.clone();
    let by_name = slots(&mut m)
        .into_iter()
        .map(|(name, slot)| {
            let g: Vec<f32> = match slot {
                Slot::Matrix { param, .. } => param.grad(&grads).unwrap().into_data().to_vec(),
                Slot::Vector(param) => param.grad(&grads).unwrap().into_data().to_vec(),
            }
            .unwrap();
            (name, g)
        })
        .collect();
    (value, by_name)
}

/// Largest |a - b| relative to the largest |b| of the tensor, or to `floor` if that is larger.
fn relative_to(a: &[f32], b: &[f32], floor: f32) -> f32 {
    let scale = b.iter().fold(0f32, |m, v| m.max(v.abs())).max(floor);
    a.iter().zip(b).fold(0f32, |m, (x, y)| m.max((x - y).abs())) / scale
}

fn relative(a: &[f32], b: &[f32]) -> f32 {
    relative_to(a, b, 1e-12)
}

/// Every parameter's gradient from the fused operations agrees with burn's autodiff of the
/// composed forms to 1e-4 of the tensor's largest entry (they differ by summation order and
/// the polynomial exp/erf, about 1e-6 in the forward pass), and the loss to 1e-5: with right
/// padding (the packed layout) and with holes in the mask (the padded one).
#[test]
fn hand_written_gradients_match_burns_autodiff() {
    for holes in [false, true] {
        let m = model(0.0);
        let (loss, fused) = gradients_with(&m, holes);
        let (reference_loss, reference) = with_composed(|| gradients_with(&m, holes));
        compare(loss, &fused, reference_loss, &reference);
    }
}

fn compare(
    loss: f32,
    fused: &BTreeMap<String, Vec<f32>>,
    reference_loss: f32,
    reference: &BTreeMap<String, Vec<f32>>,
) {
    assert!(
        (loss - reference_loss).abs() <= 1e-5 * reference_loss.abs().max(1.0),
        "loss {loss} vs {reference_loss}"
    );
    assert_eq!(fused.len(), reference.len());
    // The key biases' gradient is zero in exact arithmetic (adding q·b_k to a whole row of
    // scores leaves its softmax unchanged), so both sides hold rounding noise there: every
    // tensor is compared relative to its own scale or to the model's largest gradient / 1e3.
    let largest = reference
        .values()
        .flat_map(|g| g.iter())
        .fold(0f32, |m, v| m.max(v.abs()));
    let mut worst = (0f32, String::new());
    for (name, g) in fused {
        let r = &reference[name];
        assert_eq!(g.len(), r.len(), "{name}");
        let noise = name.ends_with("key.bias");
        assert!(
            noise || r.iter().any(|&v| v.abs() > largest * 1e-3),
            "{name}: the reference gradient is (nearly) zero"
        );
        let e = relative_to(g, r, largest * 1e-3);
        if e > worst.0 {
            worst = (e, name.clone());
        }
    }
    assert!(
        worst.0 < 1e-4,
        "{} differs by {:e} (relative)",
        worst.1,
        worst.0
    );
}

/// The masked-LM head multiplies by the transposed word embeddings: a transposed weight view.
#[test]
fn affine_with_a_transposed_weight_matches_autodiff() {
    let device = Default::default();
    let data = |n: usize, k: f32| {
        (0..n)
            .map(|i| ((i * 7 % 19) as f32 - 9.0) * k)
            .collect::<Vec<f32>>()
    };
    let run = || {
        let x =
            Tensor::<CpuTrain, 2>::from_data(TensorData::new(data(5 * 4, 0.1), [5, 4]), &device)
                .require_grad();
        let w =
            Tensor::<CpuTrain, 2>::from_data(TensorData::new(data(6 * 4, 0.05), [6, 4]), &device)
                .require_grad();
        let b = Tensor::<CpuTrain, 1>::from_data(TensorData::new(data(6, 0.3), [6]), &device)
            .require_grad();
        let y = affine(x.clone(), w.clone().transpose(), b.clone());
        let scale =
            Tensor::<CpuTrain, 2>::from_data(TensorData::new(data(30, 1.0), [5, 6]), &device);
        let grads = (y.clone() * scale).sum().backward();
        (
            y.into_data().to_vec::<f32>().unwrap(),
            x.grad(&grads).unwrap().into_data().to_vec::<f32>().unwrap(),
            w.grad(&grads).unwrap().into_data().to_vec::<f32>().unwrap(),
            b.grad(&grads).unwrap().into_data().to_vec::<f32>().unwrap(),
        )
    };
    let (y, dx, dw, db) = run();
    let (ry, rdx, rdw, rdb) = with_composed(run);
    for (name, a, b) in [
        ("y", y, ry),
        ("dx", dx, rdx),
        ("dw", dw, rdw),
        ("db", db, rdb),
    ] {
        assert!(relative(&a, &b) < 1e-6, "{name}: {a:?} vs {b:?}");
    }
}

/// With dropout on, the fused gradients are the same bits on one thread and on three (the
/// products are split by shape, the attention by example, the masks drawn before either).
#[test]
fn fused_gradients_do_not_depend_on_the_thread_count() {
    let on = |threads: usize| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap()
            .install(|| gradients(&model(0.1)))
    };
    let (loss1, g1) = on(1);
    let (loss3, g3) = on(3);
    assert_eq!(loss1.to_bits(), loss3.to_bits());
    assert_eq!(g1, g3);
    // And dropout did act: without it the loss differs.
    let (plain, _) = gradients(&model(0.0));
    assert_ne!(plain, loss1);
}

/// all-MiniLM-L6-v2's gradient through the fused operations against PyTorch's
/// (`scripts/minilm_gradients.py`, committed as tests/fixtures/minilm/gradients.json): six
/// sentence pairs in one padded batch, dropout off, the classifier set by the script's formula.
/// Every parameter's gradient norm agrees to 1e-4 (relative), and its 16 probed values to 1e-4
/// of the tensor's scale (its largest probed value or its RMS, whichever is larger); measured,
/// the worst probe is 8e-6 of its scale. The key biases' gradients are zero in exact
/// arithmetic (norm 5e-10 on both sides, rounding noise), which the 1e-9 absolute floor
/// admits.
#[test]
fn minilm_gradients_match_pytorch() {
    let dir = super::common::minilm_dir();
    let fixture: serde_json::Value = serde_json::from_slice(
        &std::fs::read(super::common::fixture("minilm/gradients.json")).unwrap(),
    )
    .unwrap();
    let reference: serde_json::Value = serde_json::from_slice(
        &std::fs::read(super::common::fixture("minilm/reference.json")).unwrap(),
    )
    .unwrap();
    let ids = |v: &serde_json::Value| -> Vec<u32> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_u64().unwrap() as u32)
            .collect()
    };
    let pairs = fixture["pairs"].as_u64().unwrap() as usize;
    let examples: Vec<Encoded> = reference["pairs"].as_array().unwrap()[..pairs]
        .iter()
        .map(|p| Encoded {
            ids: ids(&p["ids"]),
            type_ids: ids(&p["type_ids"]),
        })
        .collect();
    let device = Default::default();
    let mut m = crate::model::load::<CpuTrain>(&dir, 2, 0, &device)
        .unwrap()
        .model;
    m.set_dropout(0.0);
    for (name, slot) in slots(&mut m) {
        let shape = slot.hf_shape();
        match name.as_str() {
            "classifier.weight" => {
                let w = (0..shape[0] * shape[1])
                    .map(|k| {
                        (((131 * (k / shape[1]) + 17 * (k % shape[1])) % 23) as f32 - 11.0) / 200.0
                    })
                    .collect();
                set_slot(slot, w, &shape, &device);
            }
            "classifier.bias" => set_slot(slot, vec![0.05, -0.05], &shape, &device),
            _ => {}
        }
    }
    let refs: Vec<&Encoded> = examples.iter().collect();
    let labels: Vec<usize> = (0..pairs).map(|i| i % 2).collect();
    let out = m.forward(&to_batch::<CpuTrain>(&refs, 0, &device));
    let logits: Vec<f32> = out.logits.clone().into_data().to_vec().unwrap();
    let loss = cross_entropy(out.logits, &labels).0;
    let value = loss.clone().into_data().to_vec::<f32>().unwrap()[0];
    let torch_loss = fixture["loss"].as_f64().unwrap() as f32;
    assert!(
        (value - torch_loss).abs() < 1e-5,
        "loss {value} vs PyTorch {torch_loss}"
    );
    for (a, b) in logits.iter().zip(fixture["logits"].as_array().unwrap()) {
        assert!(
            (a - b.as_f64().unwrap() as f32).abs() < 1e-4,
            "logits {logits:?}"
        );
    }
    let grads = loss.backward();
    let params = fixture["params"].as_object().unwrap();
    let mut checked = 0;
    for (name, slot) in slots(&mut m) {
        let shape = slot.hf_shape();
        let (g, transpose): (Vec<f32>, bool) = match slot {
            Slot::Matrix { param, transpose } => (
                param.grad(&grads).unwrap().into_data().to_vec().unwrap(),
                transpose,
            ),
            Slot::Vector(param) => (
                param.grad(&grads).unwrap().into_data().to_vec().unwrap(),
                false,
            ),
        };
        // The value at PyTorch's flat index k (burn stores Linear weights transposed).
        let at = |k: usize| match transpose {
            true => g[(k % shape[1]) * shape[0] + k / shape[1]],
            false => g[k],
        };
        let p = params
            .get(&name)
            .unwrap_or_else(|| panic!("{name}: not in the PyTorch fixture"));
        let norm = g
            .iter()
            .map(|&v| f64::from(v) * f64::from(v))
            .sum::<f64>()
            .sqrt();
        let torch_norm = p["norm"].as_f64().unwrap();
        assert!(
            (norm - torch_norm).abs() <= 1e-4 * torch_norm + 1e-9,
            "{name}: gradient norm {norm} vs PyTorch {torch_norm}"
        );
        let values: Vec<f64> = p["values"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap())
            .collect();
        let rms = torch_norm / (g.len() as f64).sqrt();
        let scale = values.iter().fold(rms, |m, v| m.max(v.abs()));
        for (k, want) in p["at"].as_array().unwrap().iter().zip(&values) {
            let k = k.as_u64().unwrap() as usize;
            let got = f64::from(at(k));
            assert!(
                (got - want).abs() <= 1e-4 * scale + 1e-9,
                "{name}[{k}]: {got} vs PyTorch {want}"
            );
        }
        checked += 1;
    }
    assert_eq!(
        checked,
        params.len(),
        "every PyTorch parameter has a basins twin"
    );
}
