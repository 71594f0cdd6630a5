"""scipy's linear_sum_assignment (maximize=True) on the cost matrices of a JSON file: the
reference for basins' weight-matching assignments (models/tests/align_reference.rs).

Usage: assignment.py CASES.json OUT.json, CASES a list of row-major square matrices.
"""
import json
import sys

import numpy as np
from scipy.optimize import linear_sum_assignment

cases = json.load(open(sys.argv[1]))
out = []
for flat in cases:
    n = int(round(len(flat) ** 0.5))
    c = np.asarray(flat, dtype=np.float64).reshape(n, n)
    rows, cols = linear_sum_assignment(c, maximize=True)
    out.append({"assignment": cols.tolist(), "total": float(c[rows, cols].sum())})
json.dump(out, open(sys.argv[2], "w"))
