"""Retrieval metrics against per-query scikit-learn / brute-force NumPy oracles."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import hypergeom
from sklearn.metrics import average_precision_score

import gpu_moa as gm


def _per_query(S, Y, drug, k):
    """Brute force: AP, precision@k, hit@1 and chance per labelled query."""
    out = {"ap": [], "pk": [], "hit": [], "chance": []}
    for i in np.flatnonzero(Y.sum(axis=1) > 0):
        cand = drug != drug[i]
        positive = (Y[cand] @ Y[i]) > 0
        if positive.any():
            out["ap"].append(average_precision_score(positive, S[i, cand]))
        ranked = np.argsort(-np.where(cand, S[i], -np.inf), kind="stable")[:k]
        out["pk"].append(np.mean((Y[ranked] @ Y[i]) > 0))
        out["hit"].append((Y[ranked[0]] @ Y[i]) > 0)
        out["chance"].append(positive.mean())
    return {key: np.mean(v) for key, v in out.items()}


@pytest.mark.parametrize("block_rows", [None, 7])
def test_metrics_match_oracles(xp, block_rows, labelled_profiles, planted):
    X, Y, drug = planted()
    p = labelled_profiles(X, Y, drug, xp)
    expect = _per_query(np.corrcoef(X), Y, drug, k=10)
    assert gm.metrics.retrieval_map(p, block_rows=block_rows) == pytest.approx(expect["ap"])
    assert gm.metrics.precision_at_k(p, k=10, block_rows=block_rows) == pytest.approx(expect["pk"])
    hits = gm.metrics.knn_hit_rate(p, block_rows=block_rows)
    assert hits["hit_rate"] == pytest.approx(expect["hit"])
    assert hits["chance"] == pytest.approx(expect["chance"])
    assert hits["n_queries"] == int((Y.sum(axis=1) > 0).sum())


def test_average_precision_with_tied_scores(xp, rng, labelled_profiles):
    """Scores that tie exactly are one threshold, as in average_precision_score."""
    base = np.array([1.0] * 8 + [-1.0] * 8)
    X = np.stack([rng.permutation(base) for _ in range(60)])
    Y = (rng.random((60, 3)) < 0.3).astype(float)
    drug = np.array([f"d{i // 2}" for i in range(60)], dtype=object)
    S = X @ X.T / 16.0  # exact Pearson correlations of balanced sign vectors
    expect = _per_query(S, Y, drug, k=5)["ap"]
    got = gm.metrics.retrieval_map(labelled_profiles(X, Y, drug, xp), block_rows=9)
    assert got == pytest.approx(expect, rel=1e-9)


def test_query_subset_and_spearman(xp, labelled_profiles, planted):
    X, Y, drug = planted(f=300)  # enough features that rank correlations rarely tie
    p = labelled_profiles(X, Y, drug, xp)
    labelled = np.flatnonzero(Y.sum(axis=1) > 0)
    chosen = labelled[::3]
    full = gm.metrics.retrieval_map(p, metric="spearman", queries=chosen)
    S = pd.DataFrame(X.T).corr(method="spearman").to_numpy()
    aps = []
    for i in chosen:
        cand = drug != drug[i]
        positive = (Y[cand] @ Y[i]) > 0
        if positive.any():
            aps.append(average_precision_score(positive, S[i, cand]))
    assert full == pytest.approx(np.mean(aps), rel=1e-5)


def test_hit_rate_chance_for_k_neighbours(labelled_profiles, planted):
    X, Y, drug = planted()
    res = gm.metrics.knn_hit_rate(labelled_profiles(X, Y, drug, None), k=4)
    chances = []
    for i in np.flatnonzero(Y.sum(axis=1) > 0):
        cand = drug != drug[i]
        n_pos = int(((Y[cand] @ Y[i]) > 0).sum())
        chances.append(1 - hypergeom(int(cand.sum()), n_pos, 4).pmf(0))
    assert res["chance"] == pytest.approx(np.mean(chances))
    assert res["k"] == 4 and res["enrichment"] == pytest.approx(res["hit_rate"] / res["chance"])


def test_planted_moas_are_retrieved_far_above_chance(small_lish_moa):
    p = gm.pp.drop_controls(small_lish_moa)
    res = gm.metrics.knn_hit_rate(p)
    assert res["hit_rate"] > 5 * res["chance"]
    assert res["hit_rate"] > 0.05


def test_metrics_need_labels(labelled_profiles, planted):
    X, Y, drug = planted()
    p = labelled_profiles(X, Y, drug, None).replace(Y=None, label_names=[])
    with pytest.raises(gm.DataError, match="labels"):
        gm.metrics.retrieval_map(p)
    with pytest.raises(ValueError, match="positive"):
        gm.metrics.precision_at_k(labelled_profiles(X, Y, drug, None), positive="target")
