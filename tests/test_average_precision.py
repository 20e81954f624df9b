"""Constrained average precision and mAP significance against copairs, sklearn and brute force."""

from __future__ import annotations

import itertools
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import average_precision_score

import gpu_moa as gm

copairs_map = pytest.importorskip("copairs.map")

REAL_PLATE = (
    Path(__file__).resolve().parents[2]
    / "shared/realdata/ljp009_a375_24h_level4_lishmoa_genes.csv.gz"
)
REPLICATES = dict(pos_sameby=["cpd"], pos_diffby=[], neg_sameby=[], neg_diffby=["cpd"])
MOA = dict(pos_sameby=["moa"], pos_diffby=["cpd"], neg_sameby=["plate"], neg_diffby=["moa"])


def _plate(rng, n=96, f=24, n_cpd=24, n_moa=7):
    """Compounds with a planted per-compound and per-MoA signal, on three plates."""
    cpd = np.arange(n) % n_cpd
    moa = cpd % n_moa
    X = rng.standard_normal((n, f))
    X[:, :n_cpd] += 0.8 * np.eye(n_cpd)[cpd][:, :f]
    X[:, -n_moa:] += 0.6 * np.eye(n_moa)[moa]
    obs = pd.DataFrame(
        {
            "cpd": [f"c{c}" for c in cpd],
            "moa": [f"m{m}" for m in moa],
            "plate": [f"p{i % 3}" for i in range(n)],
        },
        index=pd.Index([f"s{i}" for i in range(n)], name="sig_id"),
    )
    return X, obs


@pytest.mark.parametrize("rules", [REPLICATES, MOA], ids=["replicates", "moa"])
@pytest.mark.parametrize("block_rows", [None, 7])
def test_per_query_ap_equals_copairs(xp, rng, rules, block_rows):
    X, obs = _plate(rng)
    p = gm.make_profiles(X, obs, [f"f{j}" for j in range(X.shape[1])], device=xp)
    got = gm.metrics.average_precision(p, **rules, block_rows=block_rows)
    ref = copairs_map.average_precision(
        obs.reset_index(drop=True), X, **rules, distance="correlation", progress_bar=False
    )
    assert list(got.index) == list(obs.index)
    np.testing.assert_array_equal(got["n_pos"], ref["n_pos_pairs"])
    np.testing.assert_array_equal(got["n_total"], ref["n_total_pairs"])
    np.testing.assert_allclose(got["average_precision"], ref["average_precision"], atol=1e-6)
    np.testing.assert_allclose(
        got["normalized_average_precision"], ref["normalized_average_precision"], atol=1e-6
    )
    maps = gm.metrics.mean_average_precision(got, sameby=rules["pos_sameby"], null_size=200)
    ref_maps = copairs_map.mean_average_precision(
        ref, sameby=rules["pos_sameby"], null_size=200, threshold=0.05, seed=0, progress_bar=False
    )
    for col in ("mean_average_precision", "mean_normalized_average_precision"):
        np.testing.assert_allclose(maps[col], ref_maps[col], atol=1e-6)


def test_cosine_matches_copairs(rng):
    X, obs = _plate(rng, n=60)
    p = gm.make_profiles(X, obs, [f"f{j}" for j in range(X.shape[1])], device="cpu")
    got = gm.metrics.average_precision(p, **REPLICATES, metric="cosine")
    ref = copairs_map.average_precision(
        obs.reset_index(drop=True), X, **REPLICATES, distance="cosine", progress_bar=False
    )
    np.testing.assert_allclose(got["average_precision"], ref["average_precision"], atol=1e-6)


def _loop_ap(S, pos, cand):
    """Brute force: sklearn AP of each query over its candidates (NaN without positives)."""
    out = []
    for i in range(S.shape[0]):
        c = cand[i].copy()
        c[i] = False
        out.append(average_precision_score(pos[i, c], S[i, c]) if pos[i, c].any() else np.nan)
    return np.array(out)


def test_label_rules_against_a_loop(xp, labelled_profiles, planted):
    X, Y, drug = planted()
    p = labelled_profiles(X, Y, drug, xp)
    S = np.corrcoef(X)
    shared = (Y @ Y.T) > 0
    other = drug[:, None] != drug[None, :]
    labelled = (Y.sum(axis=1) > 0)[:, None] & (Y.sum(axis=1) > 0)[None, :]
    got = gm.metrics.average_precision(
        p, pos_sameby="Y", pos_diffby="drug_id", neg_diffby=["drug_id", "Y"], block_rows=11
    )
    pos, neg = shared & other, other & ~shared & labelled
    np.testing.assert_allclose(got["average_precision"], _loop_ap(S, pos, pos | neg), atol=1e-6)
    np.testing.assert_array_equal(got["n_total"], (pos | neg).sum(axis=1) - np.diag(pos | neg))
    # without a negative rule every other-drug row is a candidate: retrieval_map's ranking
    short = gm.metrics.average_precision(
        p, pos_sameby="Y", pos_diffby="drug_id", neg_diffby="drug_id"
    )
    queries = Y.sum(axis=1) > 0
    expect = gm.metrics.retrieval_map(p)
    assert np.nanmean(short["average_precision"][queries]) == pytest.approx(expect, rel=1e-6)


def test_hand_computed_ranking_and_missing_values():
    # unit vectors at 0, 10, 20, 30, 40 degrees: row 0 ranks rows 1, 2, 3, 4 in that order
    angles = np.deg2rad([0.0, 10.0, 20.0, 30.0, 40.0])
    X = np.stack([np.cos(angles), np.sin(angles)], axis=1)
    obs = pd.DataFrame(
        {"cpd": ["a", "a", "b", "a", None]},
        index=pd.Index(list("vwxyz"), name="sig_id"),
    )
    p = gm.make_profiles(X, obs, ["f0", "f1"], device="cpu")
    got = gm.metrics.average_precision(p, pos_sameby="cpd", neg_diffby="cpd", metric="cosine")
    # row 0: w (pos), x (neg), y (pos); z has no compound so it is neither: AP = (1 + 2/3) / 2
    assert got.loc["v", "average_precision"] == pytest.approx(5 / 6, rel=1e-6)
    assert got.loc["v", ["n_pos", "n_total"]].tolist() == [2, 3]
    # row x has no positive; row z pairs with nobody
    assert np.isnan(got.loc["x", "average_precision"]) and got.loc["x", "n_total"] == 3
    assert got.loc["z", ["n_pos", "n_total"]].tolist() == [0, 0]
    # mu0 for 2 positives among 3: ranks {1,2}: 1, {1,3}: 5/6, {2,3}: 7/12 -> mean 29/36
    mu0 = 29 / 36
    assert got.loc["v", "normalized_average_precision"] == pytest.approx(
        (5 / 6 - mu0) / (1 - mu0), rel=1e-5
    )


def test_errors_name_the_problem(labelled_profiles, planted):
    X, Y, drug = planted(n=12)
    p = labelled_profiles(X, Y, drug)
    with pytest.raises(gm.DataError, match="no column.*'moa'"):
        gm.metrics.average_precision(p, pos_sameby="moa")
    with pytest.raises(gm.DataError, match="pos_sameby is empty"):
        gm.metrics.average_precision(p, pos_sameby=[])
    with pytest.raises(gm.DataError, match="both neg_sameby and neg_diffby"):
        gm.metrics.average_precision(p, pos_sameby="Y", neg_sameby="drug_id", neg_diffby="drug_id")
    with pytest.raises(gm.DataError, match="no labels"):
        gm.metrics.average_precision(p.replace(Y=None, label_names=[]), pos_sameby="Y")
    with pytest.raises(gm.DataError, match="no column"):
        gm.metrics.mean_average_precision(pd.DataFrame({"x": [1]}), sameby="x")


def test_null_equals_the_exact_distribution():
    """Random-ranking APs against all C(9, 3) placements of 3 positives among 9."""
    exact = np.sort(
        [np.mean(np.arange(1, 4) / (np.array(c) + 1)) for c in itertools.combinations(range(9), 3)]
    )
    pool = gm.metrics.null_average_precision(3, 9, size=40000, rng=np.random.default_rng(3))
    for q in (0.1, 0.5, 0.9, 0.99):
        cut = np.quantile(exact, q)
        assert np.mean(pool >= cut) == pytest.approx(np.mean(exact >= cut), abs=0.01)
    assert np.all(
        gm.metrics.null_average_precision(4, 4, size=5, rng=np.random.default_rng(0)) == 1
    )


def _subset_counts(pos: np.ndarray, n: int) -> np.ndarray:
    """How often each m-subset of range(n) was drawn, in itertools.combinations order."""
    index = {c: i for i, c in enumerate(itertools.combinations(range(n), pos.shape[1]))}
    counts = np.zeros(len(index))
    for row in map(tuple, pos.tolist()):
        counts[index[row]] += 1
    return counts


@pytest.mark.parametrize(("m", "n"), [(1, 5), (3, 6), (2, 30), (4, 7), (6, 7), (7, 7), (0, 3)])
def test_random_subsets_are_uniform_over_all_subsets(m, n):
    """Chi-square of the drawn m-subsets against the uniform law over all C(n, m) of them: the
    positions drawn directly (m <= n / 2, many redraws at (3, 6)) or as the complement."""
    from scipy.stats import chisquare

    from gpu_moa.metrics._map import random_subsets

    cells = math.comb(n, m)
    pos = random_subsets(m, n, 300 * cells, np.random.default_rng(7))
    assert pos.shape == (300 * cells, m)
    assert np.all(np.diff(pos, axis=1) > 0) and np.all((pos >= 0) & (pos < n))
    if cells > 1:
        assert chisquare(_subset_counts(pos, n)).pvalue > 1e-3


@pytest.mark.parametrize(("m", "n"), [(4, 10), (7, 10), (2, 3)])
def test_null_ap_law_equals_the_enumerated_one(monkeypatch, m, n):
    """Chi-square of null APs against the exact law over all C(n, m) rankings, AP computed
    from its definition on each ranking; draws in chunks of odd sizes."""
    from scipy.stats import chisquare

    from gpu_moa.metrics import _map

    monkeypatch.setattr(_map, "_DRAW_CELLS", 7 * n)
    exact = []
    for c in itertools.combinations(range(n), m):
        rel = np.zeros(n)
        rel[list(c)] = 1
        exact.append(np.sum(rel * np.cumsum(rel) / np.arange(1, n + 1)) / m)
    values, law = np.unique(np.round(exact, 12), return_counts=True)
    pool = _map.null_average_precision(m, n, size=30001, rng=np.random.default_rng(5))
    at = np.searchsorted(values, np.round(pool, 12))
    assert np.all(values[np.minimum(at, values.size - 1)] == np.round(pool, 12))
    observed = np.bincount(at, minlength=values.size)
    assert chisquare(observed, law / law.sum() * pool.size).pvalue > 1e-3


def test_null_ap_of_a_large_ranking_equals_shuffled_rankings():
    """60 positives among 2,000 (about one redraw per ranking) against rankings shuffled whole:
    two-sample KS, and the mean against the closed-form mu0."""
    from scipy.stats import ks_2samp

    from gpu_moa.metrics import _map

    m, n, size = 60, 2000, 6000
    got = _map.null_average_precision(m, n, size=size, rng=np.random.default_rng(11))
    rel = np.zeros((size, n))
    rel[:, :m] = 1
    rel = np.random.default_rng(12).permuted(rel, axis=1)
    shuffled = np.sum(rel * np.cumsum(rel, axis=1) / np.arange(1, n + 1), axis=1) / m
    assert ks_2samp(got, shuffled).pvalue > 1e-3
    mu0 = gm.metrics.expected_average_precision([m], [n])[0]
    assert abs(got.mean() - mu0) < 4 * got.std() / np.sqrt(size)


def test_p_values_against_brute_force_permutation(rng):
    X, obs = _plate(rng, n=48, n_cpd=12)
    p = gm.make_profiles(X, obs, [f"f{j}" for j in range(X.shape[1])], device="cpu")
    ap = gm.metrics.average_precision(p, **REPLICATES)
    got = gm.metrics.mean_average_precision(ap, sameby="cpd", null_size=4000, seed=1)
    # brute force: every query's relevance list shuffled independently, AP from its definition
    perm = np.random.default_rng(2)
    n_perm = 20000
    for _, row in got.iloc[:4].iterrows():
        null = np.zeros(n_perm)
        members = ap[ap["cpd"] == row["cpd"]]
        for m_pos, m_total in zip(members["n_pos"], members["n_total"], strict=True):
            rel = np.zeros((n_perm, m_total))
            rel[:, :m_pos] = 1
            rel = perm.permuted(rel, axis=1)
            precision = np.cumsum(rel, axis=1) / np.arange(1, m_total + 1)
            null += np.sum(precision * rel, axis=1) / m_pos
        null /= len(members)
        expect = (np.sum(null >= row["mean_average_precision"] - 1e-12) + 1) / (n_perm + 1)
        assert row["p_value"] == pytest.approx(expect, abs=0.03)
    from statsmodels.stats.multitest import multipletests

    bh = multipletests(got["p_value"], method="fdr_bh")[1]
    np.testing.assert_allclose(got["corrected_p_value"], bh)
    assert (got["below_corrected_p"] == (bh < 0.05)).all()


def test_replicates_beat_the_null_on_a_real_l1000_plate():
    """LJP009 (A375, 24 h): the same kinase inhibitor at another dose is retrieved."""
    if not REAL_PLATE.exists():
        pytest.skip(f"{REAL_PLATE} not present")
    frame = pd.read_csv(REAL_PLATE).set_index("sig_id")
    genes = [c for c in frame if c.startswith("g-")]
    p = gm.make_profiles(frame[genes].to_numpy(), frame.drop(columns=genes), genes, device="cpu")
    p = p[(p.obs["pert_type"] == "trt_cp").to_numpy()]
    ap = gm.metrics.average_precision(
        p, pos_sameby="pert_id", pos_diffby="pert_dose", neg_diffby="pert_id", block_rows=50
    )
    maps = gm.metrics.mean_average_precision(ap, sameby="pert_id", null_size=2000)
    assert ap["normalized_average_precision"].mean() > 0.05
    assert maps["below_corrected_p"].mean() > 0.4  # most compounds beat random rankings


@pytest.mark.parametrize("rules", [REPLICATES, MOA], ids=["replicates", "moa"])
def test_pycytominer_plate_end_to_end(tmp_path, rng, rules):
    """read_profiles + average_precision + mean_average_precision reproduce copairs on a
    pycytominer-style table (Metadata_ columns, compartment features)."""
    X, obs = _plate(rng, n=72, f=30)
    frame = obs.reset_index(drop=True).add_prefix("Metadata_")
    features = pd.DataFrame(np.round(X, 4), columns=[f"Cells_F{j}" for j in range(X.shape[1])])
    frame = pd.concat([frame, features], axis=1)
    frame.to_parquet(tmp_path / "plate.parquet")
    meta_rules = {k: [f"Metadata_{c}" for c in v] for k, v in rules.items()}
    p = gm.io.read_profiles(tmp_path / "plate.parquet", device="cpu")
    got = gm.metrics.average_precision(p, **meta_rules)
    meta = frame.filter(like="Metadata_")
    ref = copairs_map.average_precision(
        meta, features.to_numpy(), **meta_rules, distance="correlation", progress_bar=False
    )
    np.testing.assert_allclose(got["average_precision"], ref["average_precision"], atol=1e-6)
    maps = gm.metrics.mean_average_precision(got, sameby=meta_rules["pos_sameby"], null_size=100)
    ref_maps = copairs_map.mean_average_precision(
        ref, sameby=meta_rules["pos_sameby"], null_size=100, threshold=0.05, seed=0,
        progress_bar=False,
    )  # fmt: skip
    np.testing.assert_allclose(
        maps["mean_average_precision"], ref_maps["mean_average_precision"], atol=1e-6
    )


def test_map_p_value_of_one_ranking_set():
    """The run report's mAP p-value: exact for one query, chance = mean mu0."""
    from gpu_moa.metrics._map import map_p_value

    # one query, 1 positive among 4: AP is 1, 1/2, 1/3 or 1/4 with equal chance
    p, chance = map_p_value(0.5, np.array([1, 0]), np.array([4, 9]), null_size=20000, seed=3)
    assert p == pytest.approx(0.5, abs=0.02) and chance == pytest.approx(
        (1 + 1 / 2 + 1 / 3 + 1 / 4) / 4
    )
    assert np.isnan(map_p_value(0.5, np.array([0]), np.array([3]))[0])
