#!/usr/bin/env python3
"""Write the MiniLM gradient fixture with PyTorch + transformers.

    python3 scripts/minilm_gradients.py "$(scripts/fetch-minilm)"

all-MiniLM-L6-v2 as BertForSequenceClassification with two labels, its classifier set by a
formula both sides know (w[i][j] = ((131 i + 17 j) mod 23 - 11) / 200, b = [0.05, -0.05]),
dropout off; the first six sentence pairs of tests/fixtures/minilm/reference.json in one
right-padded batch, labels i mod 2, mean cross-entropy, one backward pass. Writes
tests/fixtures/minilm/gradients.json: the loss, the logits, and for every parameter (PyTorch
layout, `bert.` prefix dropped) its gradient's L2 norm and its values at 16 fixed flat indices
spread over the tensor. models/src/tests/gradients.rs compares basins' hand-written backward
pass with it.
"""
import json
import pathlib
import sys

import torch
from transformers import BertForSequenceClassification

root = pathlib.Path(__file__).resolve().parent.parent
fixture = root / "tests/fixtures/minilm"
pairs = json.loads((fixture / "reference.json").read_text())["pairs"][:6]

model = BertForSequenceClassification.from_pretrained(sys.argv[1], num_labels=2)
model.eval()  # dropout off; gradients still flow
with torch.no_grad():
    w = model.classifier.weight
    for i in range(w.shape[0]):
        for j in range(w.shape[1]):
            w[i, j] = ((131 * i + 17 * j) % 23 - 11) / 200
    model.classifier.bias.copy_(torch.tensor([0.05, -0.05]))

seq = max(len(p["ids"]) for p in pairs)
ids = torch.zeros(len(pairs), seq, dtype=torch.long)
types = torch.zeros(len(pairs), seq, dtype=torch.long)
mask = torch.zeros(len(pairs), seq, dtype=torch.long)
for i, p in enumerate(pairs):
    n = len(p["ids"])
    ids[i, :n] = torch.tensor(p["ids"])
    types[i, :n] = torch.tensor(p["type_ids"])
    mask[i, :n] = 1
labels = torch.arange(len(pairs)) % 2

out = model(input_ids=ids, token_type_ids=types, attention_mask=mask, labels=labels)
out.loss.backward()


def probes(n):
    return sorted({(k * n) // 16 + (k * 7919) % max(1, n // 16) for k in range(16)} & set(range(n)))


params = {}
for name, p in model.named_parameters():
    g = p.grad.detach().double().flatten()
    at = probes(g.numel())
    params[name.removeprefix("bert.")] = {
        "shape": list(p.shape),
        "norm": float(g.norm()),
        "at": at,
        "values": [float(g[i]) for i in at],
    }
json.dump(
    {
        "transformers": __import__("transformers").__version__,
        "torch": torch.__version__,
        "pairs": len(pairs),
        "labels": labels.tolist(),
        "loss": float(out.loss.detach()),
        "logits": out.logits.detach().flatten().tolist(),
        "params": params,
    },
    open(fixture / "gradients.json", "w"),
    indent=1,
)
print(f"loss {float(out.loss.detach()):.6f}, {len(params)} parameters")
