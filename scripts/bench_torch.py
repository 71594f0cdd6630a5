#!/usr/bin/env python3
"""The PyTorch + transformers side of `basins bench`: the same model, shapes and steps.

    python3 scripts/bench_torch.py MODEL_DIR [--seq 128,32] [--cola FILE]
        [--device cpu|cuda] [--dtype f32|tf32|f16|bf16] [--train-steps 3] [--eval-batches 2]

Train: BertForSequenceClassification, batch 32, AdamW step, one untimed warm-up step, then
--train-steps timed. Eval: batch 128, no_grad, one untimed batch of each shape, then
--eval-batches timed. Random token ids, seeded. With --cola, evaluates the file with dynamic
padding (length-grouped batches) and padded to 128; the first dynamic pass is timed too; and
trains on it (consecutive batches of 32, each padded to its longest) for --train-steps steps.
--dtype tf32 is f32 with TensorFloat-32 matrix products allowed (what burn's CUDA matmul does
with f32); f16/bf16 convert the whole model (no autocast), like basins' --precision.
"""
import argparse
import time

import torch
from transformers import AutoTokenizer, BertForSequenceClassification


DEVICE = "cpu"


def sync():
    if DEVICE.startswith("cuda"):
        torch.cuda.synchronize()


def to_device(b):
    return {k: v.to(DEVICE) for k, v in b.items()}


def batch(n, seq, vocab, gen):
    ids = torch.randint(1000, vocab, (n, seq), generator=gen)
    ids[:, 0], ids[:, -1] = 101, 102
    types = (torch.arange(seq) >= seq // 2).long().expand(n, seq)
    return to_device({"input_ids": ids, "token_type_ids": types, "attention_mask": torch.ones(n, seq, dtype=torch.long)})


def time_train(model, batches, steps):
    """One untimed warm-up step on batches[0], then `steps` timed steps on the batches after it
    (cycling), as `basins bench` does."""
    opt = torch.optim.AdamW(model.parameters(), lr=1e-5, weight_decay=0.01)
    model.train()

    def step(inputs):
        labels = (torch.arange(inputs["input_ids"].shape[0]) % 2).to(DEVICE)
        out = model(**inputs, labels=labels)
        out.loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad()
        return inputs["input_ids"].shape[0]

    step(batches[0])
    sync()
    t = time.perf_counter()
    n = sum(step(batches[(1 + i) % len(batches)]) for i in range(steps))
    sync()
    return n / (time.perf_counter() - t)


def time_eval(model, batches):
    model.eval()
    with torch.no_grad():
        seen = set()
        for b in batches:
            if tuple(b["input_ids"].shape) not in seen:
                seen.add(tuple(b["input_ids"].shape))
                model(**b)
        sync()
        t = time.perf_counter()
        n = 0
        for b in batches:
            model(**b).logits.float().cpu().numpy()
            n += b["input_ids"].shape[0]
    return n / (time.perf_counter() - t)


def first_pass(model, batches):
    model.eval()
    with torch.no_grad():
        t = time.perf_counter()
        for b in batches:
            model(**b).logits.float().cpu().numpy()
    return sum(b["input_ids"].shape[0] for b in batches) / (time.perf_counter() - t)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("--seq", default="128,32")
    ap.add_argument("--cola")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--dtype", default="f32", choices=["f32", "tf32", "f16", "bf16"])
    ap.add_argument("--train-steps", type=int, default=3)
    ap.add_argument("--eval-batches", type=int, default=2)
    a = ap.parse_args()
    global DEVICE
    DEVICE = a.device
    torch.backends.cuda.matmul.allow_tf32 = a.dtype == "tf32"
    torch.backends.cudnn.allow_tf32 = a.dtype == "tf32"
    dtype = {"f16": torch.float16, "bf16": torch.bfloat16}.get(a.dtype, torch.float32)

    def load():
        m = BertForSequenceClassification.from_pretrained(a.model, num_labels=2)
        return m.to(device=DEVICE, dtype=dtype)

    gen = torch.Generator().manual_seed(0)
    where = torch.cuda.get_device_name() if DEVICE.startswith("cuda") else f"{torch.get_num_threads()} threads"
    print(f"torch {torch.__version__}, {where}, {a.dtype}")
    for seq in [int(s) for s in a.seq.split(",")]:
        model = load()
        vocab = model.config.vocab_size
        train = time_train(model, [batch(32, seq, vocab, gen)], a.train_steps)
        evals = [batch(128, seq, vocab, gen) for _ in range(a.eval_batches)]
        ev = time_eval(model, evals)
        print(f"seq {seq:>4}: train {train:7.2f} seq/s (batch 32), eval {ev:7.2f} seq/s (batch 128)")
    if a.cola:
        tok = AutoTokenizer.from_pretrained(a.model)
        sents = [l.rstrip("\n").split("\t")[3] for l in open(a.cola, encoding="utf-8") if l.strip()]
        model = load()
        lens = [len(tok(s)["input_ids"]) for s in sents]
        order = sorted(range(len(sents)), key=lambda i: lens[i])
        dyn = [to_device(tok([sents[i] for i in order[k:k + 128]], padding="longest", return_tensors="pt")) for k in range(0, len(sents), 128)]
        fixed = [to_device(tok(sents[k:k + 128], padding="max_length", max_length=128, truncation=True, return_tensors="pt")) for k in range(0, len(sents), 128)]
        first = first_pass(model, dyn)
        print(f"{a.cola} ({len(sents)} examples, mean {sum(lens) / len(lens):.1f} tokens): dynamic padding {time_eval(model, dyn):.1f} seq/s (first pass {first:.1f}), padded to 128 {time_eval(model, fixed):.1f} seq/s")
        # Finetuning: consecutive batches of 32 in file order, each padded to its longest.
        train_batches = [to_device(tok(sents[k:k + 32], padding="longest", return_tensors="pt")) for k in range(0, len(sents), 32)]
        train = time_train(load(), train_batches, a.train_steps)
        print(f"{a.cola}: train with dynamic padding {train:.1f} seq/s (batch 32)")


if __name__ == "__main__":
    main()
