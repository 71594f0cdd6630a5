#!/usr/bin/env python3
"""Compare basins' final hidden states on a backend with Hugging Face transformers.

    python3 scripts/check_backend.py MODEL_DIR BASINS_BINARY [--backend cuda] [--device cuda]

Runs the 24 sentence pairs of the conformance fixture (scripts/minilm_reference.py), each alone,
through `basins model predict --hidden --json --backend BACKEND` and through transformers'
BertModel on DEVICE in strict f32 and with TensorFloat-32 matrix products allowed (burn's CUDA
matmul uses TF32 tensor cores for f32 inputs), and prints the largest absolute difference of the
final hidden states for each pairing. Exits 1 when basins differs from strict f32 transformers
on the same device by more than --bound (default 1e-4, the CPU conformance bound).
"""
import argparse
import json
import os
import subprocess
import sys

import torch
from transformers import AutoTokenizer, BertModel

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from minilm_reference import PAIRS  # noqa: E402


def hf_hidden(model_dir, device, tf32):
    torch.backends.cuda.matmul.allow_tf32 = tf32
    tok = AutoTokenizer.from_pretrained(model_dir)
    model = BertModel.from_pretrained(model_dir).to(device).eval()
    out = []
    with torch.no_grad():
        for a, b in PAIRS:
            enc = tok(a, b, truncation=True, max_length=128, return_tensors="pt").to(device)
            out.append(model(**enc).last_hidden_state[0].float().cpu())
    return out


def basins_hidden(model_dir, binary, backend):
    args = [binary, "model", "predict", model_dir, "--hidden", "--json", "--backend", backend]
    for a, b in PAIRS:
        args += ["--pair", a, b]
    res = subprocess.run(args, capture_output=True, text=True)
    if res.returncode != 0:
        sys.exit(f"basins failed ({res.returncode}):\n{res.stderr}")
    return [torch.tensor(p["hidden"]) for p in json.loads(res.stdout)["predictions"]]


def max_diff(xs, ys):
    worst = 0.0
    for x, y in zip(xs, ys):
        if x.shape != y.shape:
            sys.exit(f"shape mismatch {tuple(x.shape)} vs {tuple(y.shape)}")
        worst = max(worst, (x - y).abs().max().item())
    return worst


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("basins")
    ap.add_argument("--backend", default="cuda")
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--bound", type=float, default=1e-4)
    a = ap.parse_args()
    strict = hf_hidden(a.model, a.device, tf32=False)
    tf32 = hf_hidden(a.model, a.device, tf32=True)
    ours = basins_hidden(a.model, a.basins, a.backend)
    cpu = basins_hidden(a.model, a.basins, "cpu")
    rows = [
        (f"basins {a.backend} vs transformers {a.device} f32", max_diff(ours, strict)),
        (f"basins {a.backend} vs transformers {a.device} tf32", max_diff(ours, tf32)),
        (f"basins cpu vs transformers {a.device} f32", max_diff(cpu, strict)),
        (f"basins {a.backend} vs basins cpu", max_diff(ours, cpu)),
        (f"transformers {a.device} tf32 vs f32", max_diff(tf32, strict)),
    ]
    for name, d in rows:
        print(f"{name:<45} max |diff| {d:.2e}")
    if rows[0][1] > a.bound:
        print(f"FAIL: basins {a.backend} differs from strict f32 by more than {a.bound}")
        sys.exit(1)


if __name__ == "__main__":
    main()
