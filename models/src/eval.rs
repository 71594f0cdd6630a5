//! Evaluation: loss, accuracy, per-label counts, Matthews correlation and F1, plus the
//! per-example losses, probabilities and predictions that later stages aggregate by diagnostic
//! group without running the model again.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;

use crate::model::{BertClassifier, FrozenBert, Workspace};
use crate::text::{length_grouped, to_batch, Encoded, TextEncoder};
use anyhow::bail;
use basins_files::data::Dataset;
use basins_files::metrics::{metrics, SetResult};
use burn::tensor::activation::log_softmax;
use burn::tensor::backend::Backend;

/// How a model's output labels become an eval set's labels. Equal sets map one to one; a
/// two-way diagnostic read by a three-way NLI model (HANS and MNLI) takes `non-entailment` as
/// the largest of the other labels, as the paper does, and renormalises.
#[derive(Debug, Clone, PartialEq)]
pub enum LabelMap {
    Identity,
    /// For each set label: the model label indices whose max is its score.
    Collapse(Vec<Vec<usize>>),
}

impl LabelMap {
    pub fn new(model: &[String], set: &[String]) -> anyhow::Result<LabelMap> {
        if model == set {
            return Ok(LabelMap::Identity);
        }
        let mut groups = Vec::new();
        for l in set {
            if let Some(i) = model.iter().position(|m| m == l) {
                groups.push(vec![i]);
            } else if matches!(l.as_str(), "non-entailment" | "not_entailment")
                && model.iter().any(|m| m == "entailment")
            {
                groups.push(
                    (0..model.len())
                        .filter(|&i| model[i] != "entailment")
                        .collect(),
                );
            } else {
                bail!(
                    "the eval set's label `{l}` cannot be read off a model with labels {model:?}"
                );
            }
        }
        Ok(LabelMap::Collapse(groups))
    }

    fn apply(&self, probs: &[f32]) -> Vec<f32> {
        match self {
            LabelMap::Identity => probs.to_vec(),
            LabelMap::Collapse(groups) => {
                let raw: Vec<f32> = groups
                    .iter()
                    .map(|g| g.iter().map(|&i| probs[i]).fold(0.0, f32::max))
                    .collect();
                let sum: f32 = raw.iter().sum();
                raw.iter().map(|p| p / sum).collect()
            }
        }
    }
}

/// Evaluate `model` on one set: tokenise, batch, score. A caller that scores the same set under
/// several models (every alpha of a path) or several sets under one model should build the
/// `EncodedSet`s and the `Scorer` once instead.
pub fn evaluate<B: Backend>(
    model: &BertClassifier<B>,
    model_labels: &[String],
    enc: &TextEncoder,
    ds: &Dataset,
    batch_size: usize,
    device: &B::Device,
    progress: &dyn Fn(u64, u64),
) -> anyhow::Result<SetResult> {
    let set = EncodedSet::new(model_labels, enc, ds, batch_size)?;
    set.score(&Scorer::new(model, CpuForward::Frozen)?, device, progress)
}

/// An eval set tokenised, batched by length and mapped onto a model's labels once. Tokenising
/// is a few percent of a CPU evaluation; an interpolation path scores each set at every alpha.
pub struct EncodedSet {
    map: LabelMap,
    labels: Vec<String>,
    encoded: Vec<Encoded>,
    /// Example indices per batch, grouped by length.
    batches: Vec<Vec<usize>>,
    gold: Vec<usize>,
    pad_id: u32,
    batch_size: usize,
}

impl EncodedSet {
    pub fn new(
        model_labels: &[String],
        enc: &TextEncoder,
        ds: &Dataset,
        batch_size: usize,
    ) -> anyhow::Result<EncodedSet> {
        let map = LabelMap::new(model_labels, &ds.labels)?;
        let encoded = enc.encode_dataset(ds)?;
        let lengths: Vec<usize> = encoded.iter().map(|e| e.ids.len()).collect();
        let identity: Vec<usize> = (0..encoded.len()).collect();
        Ok(EncodedSet {
            map,
            labels: ds.labels.clone(),
            batches: length_grouped(&lengths, batch_size, &identity),
            encoded,
            gold: ds.examples.iter().map(|e| e.label).collect(),
            pad_id: enc.pad_id,
            batch_size,
        })
    }

    pub fn len(&self) -> usize {
        self.encoded.len()
    }

    pub fn is_empty(&self) -> bool {
        self.encoded.is_empty()
    }

    /// Loss, metrics and per-example results of `scorer`'s model on this set.
    pub fn score<B: Backend>(
        &self,
        scorer: &Scorer<B>,
        device: &B::Device,
        progress: &dyn Fn(u64, u64),
    ) -> anyhow::Result<SetResult> {
        let n = self.len();
        let inputs: Vec<Vec<&Encoded>> = self
            .batches
            .iter()
            .map(|b| b.iter().map(|&i| &self.encoded[i]).collect())
            .collect();
        let mut probs = vec![Vec::new(); n];
        let mut done = 0u64;
        let per_batch = scorer.batch_probs(&inputs, self.pad_id, device, &mut |b| {
            done += self.batches[b].len() as u64;
            progress(done, n as u64);
        })?;
        for (batch, p) in self.batches.iter().zip(per_batch) {
            let c = p.len() / batch.len().max(1);
            for (k, &i) in batch.iter().enumerate() {
                probs[i] = self.map.apply(&p[k * c..(k + 1) * c]);
            }
        }
        let predicted: Vec<usize> = probs.iter().map(|p| argmax(p)).collect();
        let losses: Vec<f32> = probs
            .iter()
            .zip(&self.gold)
            .map(|(p, &g)| -(p[g].max(1e-12)).ln())
            .collect();
        Ok(SetResult {
            metrics: metrics(&self.labels, &self.gold, &predicted, &losses),
            losses,
            probs,
            gold: self.gold.clone(),
            predicted,
        })
    }
}

impl EncodedSet {
    /// The loss of each of the examples `which` (indices into the set) and whether its
    /// prediction was right, in `which`'s order: those examples alone, batched by length among
    /// themselves (what an adaptive path evaluates, a few at a time).
    pub fn score_some<B: Backend>(
        &self,
        scorer: &Scorer<B>,
        device: &B::Device,
        which: &[usize],
    ) -> anyhow::Result<(Vec<f32>, Vec<bool>)> {
        if let Some(&i) = which.iter().find(|&&i| i >= self.len()) {
            anyhow::bail!("example {i} of a set of {}", self.len());
        }
        let lengths: Vec<usize> = which.iter().map(|&i| self.encoded[i].ids.len()).collect();
        let positions: Vec<usize> = (0..which.len()).collect();
        let batches = length_grouped(&lengths, self.batch_size, &positions);
        let inputs: Vec<Vec<&Encoded>> = batches
            .iter()
            .map(|b| b.iter().map(|&p| &self.encoded[which[p]]).collect())
            .collect();
        let per_batch = scorer.batch_probs(&inputs, self.pad_id, device, &mut |_| {})?;
        let mut losses = vec![0.0f32; which.len()];
        let mut right = vec![false; which.len()];
        for (batch, p) in batches.iter().zip(per_batch) {
            let c = p.len() / batch.len().max(1);
            for (k, &pos) in batch.iter().enumerate() {
                let probs = self.map.apply(&p[k * c..(k + 1) * c]);
                let gold = self.gold[which[pos]];
                losses[pos] = -(probs[gold].max(1e-12)).ln();
                right[pos] = argmax(&probs) == gold;
            }
        }
        Ok((losses, right))
    }
}

/// Which forward pass computes evaluation probabilities on the CPU.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CpuForward {
    /// `model::FrozenBert`: packed tokens and vectorised kernels. What the stages use.
    Frozen,
    /// The burn module's own forward pass (burn-ndarray's kernels), kept for comparison in
    /// `basins bench --cpu-forward burn`.
    Burn,
}

impl std::str::FromStr for CpuForward {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "frozen" => Ok(CpuForward::Frozen),
            "burn" => Ok(CpuForward::Burn),
            _ => Err(format!(
                "unknown CPU forward pass `{s}`: expected `frozen` or `burn`"
            )),
        }
    }
}

/// A model ready to score batches. On CPU it is a `FrozenBert`, a read-only copy of the weights
/// made once (20-40 ms for MiniLM), so several eval sets scored under one model share the copy.
pub struct Scorer<B: Backend> {
    pass: Pass<B>,
    /// Batches scored at once (see `batch_probs`).
    threads: usize,
}

// One exists per model being scored, so the variants' sizes do not matter.
#[allow(clippy::large_enum_variant)]
enum Pass<B: Backend> {
    Frozen(FrozenBert),
    Burn(BertClassifier<B>),
}

impl<B: Backend> Scorer<B> {
    /// `forward` picks the CPU forward pass; other backends always run the burn module. It
    /// scores on `backend::eval_threads` threads (all cores on CPU) unless told otherwise.
    pub fn new(model: &BertClassifier<B>, forward: CpuForward) -> anyhow::Result<Scorer<B>> {
        let pass = match crate::backend::is_cpu::<B>() && forward == CpuForward::Frozen {
            true => Pass::Frozen(FrozenBert::from_model(model)?),
            false => Pass::Burn(model.clone()),
        };
        Ok(Scorer {
            pass,
            threads: crate::backend::eval_threads::<B>(None),
        })
    }

    /// Score on the threads a study's node was given (`StageContext::eval_threads`).
    pub fn on(mut self, threads: Option<usize>) -> Scorer<B> {
        self.threads = crate::backend::eval_threads::<B>(threads);
        self
    }

    /// Class probabilities of each batch (flattened `[batch, classes]`), in batch order.
    ///
    /// On CPU several threads take batches in turn (each forward pass is single-threaded, so
    /// no core waits on another). Every batch is computed exactly as it would be alone, so the
    /// output is bit-identical for any number of threads. `done` is called with each batch's
    /// index as it finishes.
    pub fn batch_probs(
        &self,
        batches: &[Vec<&Encoded>],
        pad_id: u32,
        device: &B::Device,
        done: &mut dyn FnMut(usize),
    ) -> anyhow::Result<Vec<Vec<f32>>> {
        self.on_threads(batches, pad_id, device, self.threads, done)
    }

    fn on_threads(
        &self,
        batches: &[Vec<&Encoded>],
        pad_id: u32,
        device: &B::Device,
        workers: usize,
        done: &mut dyn FnMut(usize),
    ) -> anyhow::Result<Vec<Vec<f32>>> {
        match &self.pass {
            Pass::Frozen(frozen) => on_threads(batches, workers, done, || {
                let mut ws = Workspace::default();
                move |b: &[&Encoded]| frozen.probs(b, &mut ws)
            }),
            Pass::Burn(model) => on_threads(batches, workers, done, || {
                // A module is not shareable between threads (its parameters initialise
                // lazily), but a clone is cheap: it shares the weights' buffers.
                let model = model.clone();
                move |b: &[&Encoded]| burn_probs(&model, b, pad_id, device)
            }),
        }
    }
}

fn burn_probs<B: Backend>(
    model: &BertClassifier<B>,
    batch: &[&Encoded],
    pad_id: u32,
    device: &B::Device,
) -> anyhow::Result<Vec<f32>> {
    let logits = model.forward(&to_batch::<B>(batch, pad_id, device)).logits;
    log_softmax(logits, 1)
        .exp()
        .into_data()
        .convert::<f32>()
        .to_vec()
        .map_err(|e| anyhow::anyhow!("{e:?}"))
}

/// Run `batches` on up to `workers` threads, each with its own worker from `make`; results in
/// batch order. The first error stops the others from taking new batches.
fn on_threads<W, M>(
    batches: &[Vec<&Encoded>],
    workers: usize,
    done: &mut dyn FnMut(usize),
    make: M,
) -> anyhow::Result<Vec<Vec<f32>>>
where
    M: Fn() -> W,
    W: FnMut(&[&Encoded]) -> anyhow::Result<Vec<f32>> + Send,
{
    let workers = workers.min(batches.len());
    if workers <= 1 {
        let mut work = make();
        return (0..batches.len())
            .map(|i| work(&batches[i]).inspect(|_| done(i)))
            .collect();
    }
    let next = AtomicUsize::new(0);
    let (tx, rx) = mpsc::channel();
    std::thread::scope(|scope| {
        for _ in 0..workers {
            let (tx, next, mut work) = (tx.clone(), &next, make());
            scope.spawn(move || loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= batches.len() || tx.send((i, work(&batches[i]))).is_err() {
                    break;
                }
            });
        }
        drop(tx);
        let mut out = vec![Vec::new(); batches.len()];
        for (i, r) in rx {
            match r {
                Ok(p) => out[i] = p,
                Err(e) => {
                    next.store(batches.len(), Ordering::Relaxed);
                    return Err(e);
                }
            }
            done(i);
        }
        Ok(out)
    })
}

fn argmax(p: &[f32]) -> usize {
    p.iter()
        .enumerate()
        .max_by(|a, b| a.1.total_cmp(b.1))
        .map_or(0, |(i, _)| i)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn batches_on_several_threads_give_the_same_bits_in_order() {
        use crate::backend::Cpu;
        use crate::model::{init_random, BertConfig};
        let cfg: BertConfig = serde_json::from_value(json!({
            "vocab_size": 40, "hidden_size": 16, "num_hidden_layers": 2,
            "num_attention_heads": 2, "intermediate_size": 32, "max_position_embeddings": 32,
        }))
        .unwrap();
        let device = Default::default();
        let mut model = BertClassifier::<Cpu>::new(&cfg, 3, &device);
        init_random(&mut model, 7, &device);
        // Seven batches of different sizes and lengths (so padding differs between them).
        let examples: Vec<Encoded> = (0..40u32)
            .map(|i| {
                let len = 3 + (i as usize * 7) % 20;
                Encoded {
                    ids: (0..len as u32).map(|t| 1 + (i * 13 + t * 5) % 39).collect(),
                    type_ids: (0..len).map(|t| u32::from(t >= len / 2)).collect(),
                }
            })
            .collect();
        let batches: Vec<Vec<&Encoded>> = [0, 3, 9, 10, 18, 25, 33, 40]
            .windows(2)
            .map(|w| examples[w[0]..w[1]].iter().collect())
            .collect();
        let run = |workers, forward| {
            let mut order = Vec::new();
            let scorer = Scorer::new(&model, forward).unwrap();
            let p = scorer
                .on_threads(&batches, 0, &device, workers, &mut |i| order.push(i))
                .unwrap();
            order.sort();
            assert_eq!(order, (0..batches.len()).collect::<Vec<_>>());
            p
        };
        let bits =
            |v: &Vec<Vec<f32>>| -> Vec<u32> { v.concat().iter().map(|x| x.to_bits()).collect() };
        let mut first = Vec::new();
        for forward in [CpuForward::Frozen, CpuForward::Burn] {
            let one = run(1, forward);
            assert_eq!(one.len(), 7);
            for (b, p) in batches.iter().zip(&one) {
                assert_eq!(p.len(), b.len() * 3);
                for row in p.chunks(3) {
                    assert!((row.iter().sum::<f32>() - 1.0).abs() < 1e-5, "{row:?}");
                }
            }
            for workers in [2, 3, 16] {
                let many = run(workers, forward);
                assert_eq!(bits(&one), bits(&many), "{forward:?}, {workers} threads");
            }
            first.push(one.concat());
        }
        // The two forward passes agree (not to the bit: other summation orders).
        for (a, b) in first[0].iter().zip(&first[1]) {
            assert!((a - b).abs() < 1e-5, "frozen {a} vs burn {b}");
        }
    }

    #[test]
    fn three_way_models_read_two_way_diagnostics() {
        let model: Vec<String> = ["entailment", "neutral", "contradiction"]
            .map(String::from)
            .to_vec();
        let hans: Vec<String> = ["entailment", "non-entailment"].map(String::from).to_vec();
        let map = LabelMap::new(&model, &hans).unwrap();
        let p = map.apply(&[0.2, 0.5, 0.3]);
        assert!((p[0] - 0.2 / 0.7).abs() < 1e-6 && (p[1] - 0.5 / 0.7).abs() < 1e-6);
        assert!(LabelMap::new(&model, &["yes".to_string(), "no".to_string()]).is_err());
        assert_eq!(LabelMap::new(&model, &model).unwrap(), LabelMap::Identity);
    }
}
