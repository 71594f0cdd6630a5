#!/usr/bin/env python3
"""The PyTorch side of docs/diagnostics.md ("What a tiny model learns from it"): finetune a
tiny BertForSequenceClassification on the generated NLI task, from scratch or from a
checkpoint basins pretrained, and print eval accuracy per construction.

    basins data generate nli --train 20000 --eval 1000 --out /tmp/nli
    scripts/nli_torch_check.py --data /tmp/nli --vocab MODEL_DIR/vocab.txt [--init MODEL_DIR]

MODEL_DIR is the `model/` output of a `pretrain/<name>` node (`basins show M pretrain/tiny`).
Needs torch and transformers; one CPU thread, so it can run beside other work.
"""
import argparse
import json
import random

import torch
from transformers import BertConfig, BertForSequenceClassification, BertTokenizer

LABELS = ["entailment", "non-entailment"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True)
    ap.add_argument("--vocab", required=True)
    ap.add_argument("--init", help="a Hugging Face directory; default: random init")
    ap.add_argument("--epochs", type=float, default=2)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--hidden", type=int, default=64)
    ap.add_argument("--heads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(a.seed)
    random.seed(a.seed)
    tok = BertTokenizer(a.vocab, do_lower_case=True)
    rows = lambda split: [json.loads(l) for l in open(f"{a.data}/{split}.jsonl")]
    train, ev = rows("train"), rows("eval")
    if a.init:
        model = BertForSequenceClassification.from_pretrained(a.init, num_labels=2)
    else:
        cfg = BertConfig(vocab_size=tok.vocab_size, hidden_size=a.hidden, num_hidden_layers=2,
                         num_attention_heads=a.heads, intermediate_size=4 * a.hidden,
                         max_position_embeddings=64, num_labels=2)
        model = BertForSequenceClassification(cfg)
    opt = torch.optim.AdamW(model.parameters(), lr=a.lr, weight_decay=0.01)
    steps = int(a.epochs * len(train) / a.batch)
    warm = steps // 10
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: s / max(1, warm) if s < warm else max(0.0, (steps - s) / max(1, steps - warm)))

    def batch(rs):
        enc = tok([r["first"] for r in rs], [r["second"] for r in rs], padding=True, return_tensors="pt")
        return enc, torch.tensor([LABELS.index(r["label"]) for r in rs])

    step = 0
    while step < steps:
        random.shuffle(train)
        for i in range(0, len(train) - a.batch + 1, a.batch):
            if step >= steps:
                break
            enc, y = batch(train[i:i + a.batch])
            loss = model(**enc, labels=y).loss
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            sched.step()
            opt.zero_grad()
            step += 1
            if step % 250 == 0:
                print(f"step {step} loss {loss.item():.3f}", flush=True)
    model.eval()
    groups = {}
    with torch.no_grad():
        for i in range(0, len(ev), 128):
            rs = ev[i:i + 128]
            enc, y = batch(rs)
            for r, p, g in zip(rs, model(**enc).logits.argmax(-1), y):
                groups.setdefault(r["groups"]["construction"], []).append(int(p == g))
    total = sum(sum(v) for v in groups.values()) / sum(len(v) for v in groups.values())
    print(f"eval accuracy {total:.3f} after {steps} steps")
    for g, v in sorted(groups.items()):
        print(f"  {g:<16} {len(v):>5} {sum(v) / len(v):.3f}")


if __name__ == "__main__":
    main()
