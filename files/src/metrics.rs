//! What one eval set's scoring produced, and the metrics computed from it: loss, accuracy,
//! per-label counts, Matthews correlation and F1. Free of burn, so that the analysis stages
//! (diagnostic groups) compute the same metrics the model stages do.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::{json, Value};

/// One eval set's results, in the file's example order.
#[derive(Debug, Clone, Serialize)]
pub struct SetResult {
    pub metrics: Value,
    pub losses: Vec<f32>,
    /// [examples][set labels]
    pub probs: Vec<Vec<f32>>,
    pub gold: Vec<usize>,
    pub predicted: Vec<usize>,
}

/// Loss, accuracy, per-label counts, MCC (Gorodkin's multi-class form, which is the usual
/// binary MCC for two labels) and, for two labels, F1 of the second label (the positive one in
/// GLUE's binary tasks: CoLA acceptable, QQP/PAWS duplicate).
pub fn metrics(labels: &[String], gold: &[usize], pred: &[usize], losses: &[f32]) -> Value {
    let k = labels.len();
    let n = gold.len();
    let mut confusion = vec![vec![0u64; k]; k];
    for (&g, &p) in gold.iter().zip(pred) {
        confusion[g][p] += 1;
    }
    let correct: u64 = (0..k).map(|i| confusion[i][i]).sum();
    let mut per_label = BTreeMap::new();
    for (i, l) in labels.iter().enumerate() {
        let gold_i: u64 = confusion[i].iter().sum();
        let pred_i: u64 = (0..k).map(|j| confusion[j][i]).sum();
        per_label.insert(
            l.clone(),
            json!({"gold": gold_i, "predicted": pred_i, "correct": confusion[i][i]}),
        );
    }
    let loss = losses.iter().map(|&l| l as f64).sum::<f64>() / n.max(1) as f64;
    let mut m = json!({
        "examples": n,
        "loss": loss,
        "accuracy": correct as f64 / n.max(1) as f64,
        "mcc": mcc(&confusion),
        "per_label": per_label,
        "confusion": confusion,
    });
    if k == 2 {
        let (tp, fp, fneg) = (
            confusion[1][1] as f64,
            confusion[0][1] as f64,
            confusion[1][0] as f64,
        );
        let f1 = if tp == 0.0 {
            0.0
        } else {
            2.0 * tp / (2.0 * tp + fp + fneg)
        };
        m["f1"] = json!(f1);
    }
    m
}

fn mcc(c: &[Vec<u64>]) -> f64 {
    let k = c.len();
    let s: f64 = c.iter().flatten().map(|&x| x as f64).sum();
    let correct: f64 = (0..k).map(|i| c[i][i] as f64).sum();
    let t: Vec<f64> = (0..k).map(|i| c[i].iter().sum::<u64>() as f64).collect();
    let p: Vec<f64> = (0..k)
        .map(|i| (0..k).map(|j| c[j][i]).sum::<u64>() as f64)
        .collect();
    let num = correct * s - t.iter().zip(&p).map(|(a, b)| a * b).sum::<f64>();
    let den = ((s * s - p.iter().map(|x| x * x).sum::<f64>())
        * (s * s - t.iter().map(|x| x * x).sum::<f64>()))
    .sqrt();
    if den == 0.0 {
        0.0
    } else {
        num / den
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binary_metrics_match_hand_computation() {
        let labels = vec!["0".to_string(), "1".to_string()];
        // tp=3 tn=2 fp=1 fn=2
        let gold = [1, 1, 1, 1, 1, 0, 0, 0];
        let pred = [1, 1, 1, 0, 0, 0, 0, 1];
        let m = metrics(&labels, &gold, &pred, &[0.5; 8]);
        let expected_mcc = (3.0 * 2.0 - 1.0 * 2.0) / ((4.0f64) * 5.0 * 3.0 * 4.0).sqrt();
        assert!((m["mcc"].as_f64().unwrap() - expected_mcc).abs() < 1e-12);
        assert_eq!(m["accuracy"], 5.0 / 8.0);
        assert!((m["f1"].as_f64().unwrap() - 6.0 / 9.0).abs() < 1e-12);
        assert_eq!(m["per_label"]["1"]["gold"], 5);
        let all_one = metrics(&labels, &gold, &[1; 8], &[0.5; 8]);
        assert_eq!(all_one["mcc"], 0.0);
    }
}
