#!/usr/bin/env python3
"""An independent reference for basins' TIES-merging (models/src/merge.rs), used by
models/tests/merge_reference.rs: the published implementation's functions (Yadav et al., 2023,
github.com/prateeksha/TIES-Merging, src/ties_merging_utils.py: topk_values_mask, resolve_sign,
resolve_zero_signs, disjoint_merge with merge_func="mean"), ported from torch to numpy line by
line, in float64.

    merge.py CASES.json OUT.json

Each case is {"tasks": [[...], ...] (one task vector per member), "density": K}; each answer the
merged task vector (before the scale and the base are applied).
"""

import json
import sys

import numpy as np


def topk_values_mask(M, K):
    if K > 1:
        K /= 100
    n, d = M.shape
    k = int(d * K)
    k = d - k  # Keep top k elements instead of bottom k elements
    # torch.kthvalue(k): the k-th smallest, 1-indexed
    kth_values = np.sort(np.abs(M), axis=1)[:, k - 1 : k]
    mask = np.abs(M) >= kth_values
    return M * mask


def resolve_zero_signs(sign_to_mult, method="majority"):
    majority_sign = np.sign(sign_to_mult.sum())
    if method == "majority":
        sign_to_mult[sign_to_mult == 0] = majority_sign
    elif method == "minority":
        sign_to_mult[sign_to_mult == 0] = -1 * majority_sign
    return sign_to_mult


def resolve_sign(T):
    sign_to_mult = np.sign(T.sum(axis=0))
    return resolve_zero_signs(sign_to_mult, "majority")


def disjoint_merge(T, sign_to_mult):
    rows_to_keep = np.where(sign_to_mult[None, :] > 0, T > 0, T < 0)
    selected_entries = T * rows_to_keep
    non_zero_counts = (selected_entries != 0).sum(axis=0).astype(np.float64)
    return selected_entries.sum(axis=0) / np.clip(non_zero_counts, 1, None)


def ties(tasks, density):
    T = np.array(tasks, dtype=np.float64)
    trimmed = topk_values_mask(T, density)
    return disjoint_merge(trimmed, resolve_sign(trimmed))


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: merge.py CASES.json OUT.json")
    cases = json.load(open(sys.argv[1]))
    out = [ties(c["tasks"], c["density"]).tolist() for c in cases]
    json.dump(out, open(sys.argv[2], "w"))


if __name__ == "__main__":
    main()
