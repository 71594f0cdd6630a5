#!/usr/bin/env python3
"""Prove that a checkpoint basins saved loads in Hugging Face transformers and computes the same
logits basins computed.

    python3 scripts/check_hf_roundtrip.py CHECKPOINT_DIR EXPECTED.json

EXPECTED.json: {"pairs": [[first, second], ...], "logits": [[...], ...], "labels": [...]}.
Exits 0 when transformers' logits match within 1e-4 and the label map is the same.
"""
import json
import sys

import torch
from transformers import AutoModelForSequenceClassification, AutoTokenizer


def main(ckpt: str, expected_path: str) -> int:
    expected = json.load(open(expected_path))
    tok = AutoTokenizer.from_pretrained(ckpt)
    model = AutoModelForSequenceClassification.from_pretrained(ckpt).eval()
    labels = [model.config.id2label[i] for i in range(model.config.num_labels)]
    if labels != expected["labels"]:
        print(f"label map differs: transformers sees {labels}, basins saved {expected['labels']}")
        return 1
    firsts = [p[0] for p in expected["pairs"]]
    seconds = [p[1] for p in expected["pairs"]]
    enc = tok(firsts, seconds, padding=True, truncation=True, max_length=128, return_tensors="pt")
    with torch.no_grad():
        logits = model(**enc).logits
    diff = (logits - torch.tensor(expected["logits"])).abs().max().item()
    print(f"transformers loaded {ckpt}: {model.__class__.__name__}, labels {labels}, max |logit diff| {diff:.2e}")
    return 0 if diff < 1e-4 else 1


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    sys.exit(main(sys.argv[1], sys.argv[2]))
