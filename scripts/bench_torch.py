#!/usr/bin/env python3
"""The PyTorch + transformers side of `basins bench`: the same model, shapes and steps.

    python3 scripts/bench_torch.py MODEL_DIR [--seq 128,32] [--cola FILE]

Train: BertForSequenceClassification, batch 32, AdamW step, one untimed warm-up step, then 3
timed. Eval: batch 128, no_grad, one warm-up batch, then 2 timed. Random token ids, seeded.
With --cola, evaluates the file with dynamic padding (length-grouped batches) and padded to 128.
"""
import argparse
import time

import torch
from transformers import AutoTokenizer, BertForSequenceClassification


def batch(n, seq, vocab, gen):
    ids = torch.randint(1000, vocab, (n, seq), generator=gen)
    ids[:, 0], ids[:, -1] = 101, 102
    types = (torch.arange(seq) >= seq // 2).long().expand(n, seq)
    return {"input_ids": ids, "token_type_ids": types, "attention_mask": torch.ones(n, seq, dtype=torch.long)}


def time_train(model, inputs, steps):
    opt = torch.optim.AdamW(model.parameters(), lr=1e-5, weight_decay=0.01)
    labels = torch.arange(inputs["input_ids"].shape[0]) % 2
    model.train()

    def step():
        out = model(**inputs, labels=labels)
        out.loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad()

    step()
    t = time.perf_counter()
    for _ in range(steps):
        step()
    return steps * inputs["input_ids"].shape[0] / (time.perf_counter() - t)


def time_eval(model, batches):
    model.eval()
    with torch.no_grad():
        model(**batches[0])
        t = time.perf_counter()
        n = 0
        for b in batches:
            model(**b).logits.numpy()
            n += b["input_ids"].shape[0]
    return n / (time.perf_counter() - t)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("--seq", default="128,32")
    ap.add_argument("--cola")
    a = ap.parse_args()
    gen = torch.Generator().manual_seed(0)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    for seq in [int(s) for s in a.seq.split(",")]:
        model = BertForSequenceClassification.from_pretrained(a.model, num_labels=2)
        vocab = model.config.vocab_size
        train = time_train(model, batch(32, seq, vocab, gen), 3)
        evals = [batch(128, seq, vocab, gen) for _ in range(2)]
        ev = time_eval(model, evals)
        print(f"seq {seq:>4}: train {train:7.2f} seq/s (batch 32), eval {ev:7.2f} seq/s (batch 128)")
    if a.cola:
        tok = AutoTokenizer.from_pretrained(a.model)
        sents = [l.rstrip("\n").split("\t")[3] for l in open(a.cola, encoding="utf-8") if l.strip()]
        model = BertForSequenceClassification.from_pretrained(a.model, num_labels=2)
        lens = [len(tok(s)["input_ids"]) for s in sents]
        order = sorted(range(len(sents)), key=lambda i: lens[i])
        dyn = [tok([sents[i] for i in order[k:k + 128]], padding="longest", return_tensors="pt") for k in range(0, len(sents), 128)]
        fixed = [tok(sents[k:k + 128], padding="max_length", max_length=128, truncation=True, return_tensors="pt") for k in range(0, len(sents), 128)]
        print(f"{a.cola} ({len(sents)} examples, mean {sum(lens) / len(lens):.1f} tokens): dynamic padding {time_eval(model, dyn):.1f} seq/s, padded to 128 {time_eval(model, fixed):.1f} seq/s")


if __name__ == "__main__":
    main()
