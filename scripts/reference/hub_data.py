"""Parquet files written as the Hub's data sets are (by `datasets`, with their features, each
ClassLabel's names among them, in the file's `huggingface` metadata), and the rows `datasets`
reads back from them, with integer labels named by the data set's own ClassLabel. basins'
reader (basins_files::hub::dataset) is checked against these (files/tests/parquet_reference.rs).

    python hub_data.py OUT_DIR     writes OUT_DIR/<case>.parquet and OUT_DIR/<case>.json
"""

import json
import os
import random
import sys

from datasets import ClassLabel, Dataset, Features, Value


def words(rng, n):
    vocab = ["the", "cat", "doctor", "saw", "a", "lawyer", "never", "é", "naïve", "—", "日本",
             "?", "'s", "n't", "\"quoted\"", "tab\there", ""]
    return " ".join(rng.choice(vocab) for _ in range(n)).strip()


def write(out, name, columns, features, batch_size, first, second, label, groups):
    ds = Dataset.from_dict(columns, features=Features(features))
    ds.to_parquet(os.path.join(out, name + ".parquet"), batch_size=batch_size)
    back = Dataset.from_parquet(os.path.join(out, name + ".parquet"))
    feature = back.features[label]
    rows = []
    for r in back:
        value = r[label]
        named = feature.int2str(value) if isinstance(feature, ClassLabel) else value
        rows.append({
            "first": r[first],
            "second": r[second] if second else None,
            "label": named,
            "groups": {g: r[g] for g in groups},
        })
    with open(os.path.join(out, name + ".json"), "w") as f:
        json.dump({"rows": rows, "first": first, "second": second or "", "label": label,
                   "groups": groups,
                   "names": feature.names if isinstance(feature, ClassLabel) else None}, f)


def main():
    out = sys.argv[1]
    rng = random.Random(0)
    n = 1000
    # GLUE's MNLI layout, several row groups.
    write(out, "mnli", {
        "premise": [words(rng, rng.randint(1, 30)) for _ in range(n)],
        "hypothesis": [words(rng, rng.randint(1, 12)) for _ in range(n)],
        "label": [rng.randrange(3) for _ in range(n)],
        "idx": list(range(n)),
    }, {"premise": Value("string"), "hypothesis": Value("string"),
        "label": ClassLabel(names=["entailment", "neutral", "contradiction"]),
        "idx": Value("int32")}, 300, "premise", "hypothesis", "label", [])
    # HANS's conversion: two labels, parses, three group columns.
    m = 300
    write(out, "hans", {
        "premise": [words(rng, 8) for _ in range(m)],
        "hypothesis": [words(rng, 5) for _ in range(m)],
        "label": [rng.randrange(2) for _ in range(m)],
        "parse_premise": ["(ROOT " + words(rng, 4) + ")" for _ in range(m)],
        "heuristic": [rng.choice(["lexical_overlap", "subsequence", "constituent"]) for _ in range(m)],
        "subcase": [rng.choice(["ln_subject/object_swap", "sn_NP/S"]) for _ in range(m)],
        "template": ["temp%d" % rng.randrange(60) for _ in range(m)],
    }, {"premise": Value("string"), "hypothesis": Value("string"),
        "label": ClassLabel(names=["entailment", "non-entailment"]),
        "parse_premise": Value("string"), "heuristic": Value("string"),
        "subcase": Value("string"), "template": Value("string")},
        1000, "premise", "hypothesis", "label", ["heuristic", "subcase", "template"])
    # One sentence, a label column of strings (no ClassLabel), int64 ids.
    write(out, "strings", {
        "id": list(range(50)),
        "sentence": [words(rng, rng.randint(1, 9)) for _ in range(50)],
        "label": [rng.choice(["yes", "no"]) for _ in range(50)],
    }, {"id": Value("int64"), "sentence": Value("string"), "label": Value("string")},
        20, "sentence", None, "label", [])


if __name__ == "__main__":
    main()
