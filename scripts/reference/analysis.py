#!/usr/bin/env python3
"""Independent Python references for basins' analysis, used by analysis/tests/python_reference.rs.

    analysis.py MODE CASES.json OUT.json

MODE is one of:
  barriers     convexity and endpoint barriers, written here from the definitions of the
               official code's src/constellations/theoretical/metrics.py (barrier_height,
               simple_impl, BaH_metric), generalised from grid indices to alpha positions;
  clustering   scikit-learn's SpectralClustering(affinity="precomputed", assign_labels="kmeans")
               on exp(-B^2 / (2 delta^2)), and the paper's centroid distances
               (spectral_embedding(drop_first=False) + k_means), as in the official
               src/constellations/theoretical/clustering.py;
  stats        scipy.stats.mannwhitneyu (method="auto"), permutation_test of the mean
               difference, pearsonr, and numpy's default_rng(seed).permutation(n);
  controls     the output-similarity baselines (pairwise prediction disagreement with numpy,
               mean Jensen-Shannon divergence with scipy.spatial.distance.jensenshannon
               squared), scipy.stats.spearmanr, and the adjusted Rand index
               (sklearn.metrics.adjusted_rand_score) with its one-sided permutation p-value:
               exact over every distinct relabelling (itertools) when they are few, else a
               numpy Monte Carlo estimate.

Each case in CASES.json is answered by one result in OUT.json, in order.
"""

import json
import sys

import numpy as np

RANDOM_STATE = 42  # the paper's clustering.py


def chord_height(alphas, y, i, j, k):
    """Height of point k above the straight line through points i and j."""
    return y[k] - (y[i] + (y[j] - y[i]) * (alphas[k] - alphas[i]) / (alphas[j] - alphas[i]))


def endpoint_barrier(alphas, y):
    """metrics.barrier_height over the whole curve: the largest height above the chord of the
    two ends, floored at 0 (the ends themselves are 0)."""
    last = len(y) - 1
    if last < 2:
        return 0.0
    return max([chord_height(alphas, y, 0, last, k) for k in range(len(y))] + [0.0])


def convexity_barrier(alphas, y):
    """metrics.simple_impl: the largest barrier_height over every contiguous slice."""
    best = 0.0
    n = len(y)
    for i in range(n):
        for j in range(i + 1, n + 1):
            sub_a, sub_y = alphas[i:j], y[i:j]
            best = max(best, endpoint_barrier(sub_a, sub_y))
    return best


def paper_barrier_height(losses):
    """metrics.barrier_height on an evenly spaced grid, as the paper writes it (index form)."""
    n = len(losses)
    if n <= 2:
        return 0
    return max(
        [losses[i] - (((n - i - 1) * losses[0] + i * losses[-1]) / (n - 1)) for i in range(n)]
        + [0]
    )


def barriers(cases):
    out = []
    for c in cases:
        a, y = c["alphas"], c["y"]
        r = {"convexity": convexity_barrier(a, y), "endpoint": endpoint_barrier(a, y)}
        if c.get("uniform"):
            r["paper_endpoint"] = paper_barrier_height(y)
            r["paper_convexity"] = max(
                [paper_barrier_height(y[i:j]) for i in range(len(y) + 1) for j in range(len(y) + 1)]
                + [0]
            )
        out.append(r)
    return out


def clustering(cases):
    from sklearn.cluster import SpectralClustering
    from sklearn.cluster._kmeans import k_means
    from sklearn.manifold import spectral_embedding
    import warnings

    warnings.simplefilter("ignore")  # "Graph is not fully connected" on near-zero affinities
    out = []
    for c in cases:
        b = np.array(c["barriers"], dtype=np.float64)
        k, delta = c["k"], c["delta"]
        sim = np.exp(-(b**2) / (2.0 * delta**2))
        sc = SpectralClustering(n_clusters=k, affinity="precomputed", random_state=RANDOM_STATE)
        labels = sc.fit(sim).labels_
        se = spectral_embedding(
            sim, n_components=k, random_state=RANDOM_STATE, drop_first=False
        )
        centers, km_labels, inertia = k_means(se, k, random_state=RANDOM_STATE, n_init=10)
        dists = np.linalg.norm(se[:, None, :] - centers[None, :, :], axis=2)
        out.append(
            {
                "labels": [int(x) for x in labels],
                "kmeans_labels": [int(x) for x in km_labels],
                "distances": dists.tolist(),
                "embedding": se.tolist(),
            }
        )
    return out


def stats(cases):
    from scipy import stats as st

    def mean_diff(x, y, axis):
        return np.mean(x, axis=axis) - np.mean(y, axis=axis)

    out = []
    for c in cases:
        kind = c["kind"]
        if kind == "mann_whitney":
            r = st.mannwhitneyu(c["x"], c["y"])
            out.append({"u": float(r.statistic), "p": float(r.pvalue)})
        elif kind == "permutation":
            r = st.permutation_test(
                (np.array(c["x"]), np.array(c["y"])),
                mean_diff,
                permutation_type="independent",
                n_resamples=c["resamples"],
                vectorized=True,
                alternative="two-sided",
            )
            out.append({"p": float(r.pvalue)})
        elif kind == "pearson":
            r = st.pearsonr(c["x"], c["y"])
            out.append({"r": float(r.statistic), "p": float(r.pvalue)})
        elif kind == "numpy_permutation":
            perm = np.random.default_rng(c["seed"]).permutation(c["n"])
            out.append({"permutation": [int(i) for i in perm]})
        else:
            raise SystemExit(f"unknown stats case kind {kind!r}")
    return out


def controls(cases):
    import itertools

    from scipy import stats as st
    from scipy.spatial.distance import jensenshannon
    from sklearn.metrics import adjusted_rand_score

    out = []
    for c in cases:
        kind = c["kind"]
        if kind == "disagreement":
            p = np.array(c["predicted"])
            d = (p[:, None, :] != p[None, :, :]).mean(axis=2)
            out.append({"matrix": d.tolist()})
        elif kind == "jensen_shannon":
            probs = np.array(c["probs"], dtype=np.float64)  # [model, row, label]
            m = len(probs)
            d = np.zeros((m, m))
            for i in range(m):
                for j in range(i + 1, m):
                    js = jensenshannon(probs[i], probs[j], axis=1) ** 2
                    d[i, j] = d[j, i] = js.mean()
            out.append({"matrix": d.tolist()})
        elif kind == "spearman":
            r = st.spearmanr(c["x"], c["y"])
            out.append({"r": float(r.statistic), "p": float(r.pvalue)})
        elif kind == "ari_exact":
            a, labels = c["partition"], c["labels"]
            observed = adjusted_rand_score(labels, a)
            arrangements = set(itertools.permutations(labels))
            hits = sum(adjusted_rand_score(l, a) >= observed - 1e-12 for l in arrangements)
            out.append(
                {"ari": observed, "p": hits / len(arrangements), "relabellings": len(arrangements)}
            )
        elif kind == "ari_monte_carlo":
            a, labels = c["partition"], np.array(c["labels"])
            observed = adjusted_rand_score(labels, a)
            rng = np.random.default_rng(c["seed"])
            r = c["resamples"]
            hits = sum(
                adjusted_rand_score(rng.permutation(labels), a) >= observed - 1e-12
                for _ in range(r)
            )
            out.append({"ari": observed, "p": (hits + 1) / (r + 1)})
        else:
            raise SystemExit(f"unknown controls case kind {kind!r}")
    return out


def main():
    if len(sys.argv) != 4:
        raise SystemExit(__doc__)
    mode, cases_path, out_path = sys.argv[1:]
    with open(cases_path) as f:
        cases = json.load(f)
    run = {"barriers": barriers, "clustering": clustering, "stats": stats, "controls": controls}[
        mode
    ]
    with open(out_path, "w") as f:
        json.dump(run(cases), f)


if __name__ == "__main__":
    main()
