"""Connectivity Map scores against plain loops written from the definitions (CMap, Subramanian 2017).

The oracles walk every gene of every reference signature, one pair at a time, in float64.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.stats import false_discovery_control

import gpu_moa as gm
from gpu_moa._validation import DataError
from gpu_moa.tl import _connectivity_scores as scores


@pytest.fixture
def realdata():
    """../shared/realdata (real L1000 signatures and GMT query sets), or skip."""
    path = Path(__file__).resolve().parents[2] / "shared" / "realdata"
    if not (path / "l1000_level5_modz_n272x978.gctx").is_file():
        pytest.skip("../shared/realdata is not here")
    return path


# ------------------------------------------------------------------ oracles (plain loops)
def es_loop(r, members, weighted=True):
    """The running sum over the genes of ``r`` sorted by value (highest first, ties in order)."""
    n, s = len(r), len(members)
    if s == 0:
        return 0.0
    inset = set(int(g) for g in members)
    total = sum(abs(float(r[g])) for g in inset) if weighted else s
    run, walk = 0.0, []
    for g in sorted(range(n), key=lambda g: (-r[g], g)):
        if g in inset:
            run += (abs(float(r[g])) if weighted else 1.0) / total if total > 0 else 1.0 / s
        else:
            run -= 1.0 / (n - s)
        walk.append(run)
    hi, lo = max(walk), min(walk)
    return hi if abs(hi) >= abs(lo) - 1e-12 else lo  # equal magnitudes (up to rounding): max


def wtcs_loop(r, up, down):
    if len(up) and len(down):
        a, b = es_loop(r, up), es_loop(r, down)
        return (a - b) / 2 if a * b < 0 else 0.0
    return es_loop(r, up) if len(up) else -es_loop(r, down)


def top_bottom(row, n):
    order = sorted(range(len(row)), key=lambda g: (-row[g], g))
    low = sorted(range(len(row)), key=lambda g: (row[g], g))
    return order[:n], low[:n]


def ncs_loop(W, groups):
    out = np.zeros_like(W)
    for i in range(W.shape[0]):
        for j in range(W.shape[1]):
            same = [W[i, t] for t in range(W.shape[1]) if groups[t] == groups[j]]
            if W[i, j] > 0:
                out[i, j] = W[i, j] / np.mean([v for v in same if v > 0])
            elif W[i, j] < 0:
                out[i, j] = W[i, j] / abs(np.mean([v for v in same if v < 0]))
    return out


def tau_loop(ncs, touch):
    out = np.zeros_like(ncs)
    for i in range(ncs.shape[0]):
        for j in range(ncs.shape[1]):
            below = sum(abs(touch[t, j]) < abs(ncs[i, j]) for t in range(touch.shape[0]))
            out[i, j] = np.sign(ncs[i, j]) * 100 * below / touch.shape[0]
    return out


def profiles(X, xp, *, prefix="s", var=None, obs=None):
    n, p = X.shape
    obs = obs if obs is not None else pd.DataFrame(index=[f"{prefix}{i}" for i in range(n)])
    obs.index.name = "sig_id"
    var = var if var is not None else pd.DataFrame(index=[f"gene{j}" for j in range(p)])
    return gm.Profiles(X=xp.asarray(np.asarray(X, dtype=np.float32)), obs=obs, var=var)


def _sets(members, n):
    width = max(1, max(len(m) for m in members))
    padded = np.full((len(members), width), n, dtype=np.int64)
    for i, m in enumerate(members):
        padded[i, : len(m)] = m
    return padded, np.array([len(m) for m in members], dtype=np.int64)


# ------------------------------------------------------------------ ES
def test_enrichment_matches_loop(xp, rng):
    X = np.round(rng.standard_normal((9, 31)), 1).astype(np.float32)  # ties
    X[3, [2, 5, 11]] = 0.0  # a set of zero values: equal weights
    members = [rng.choice(31, s, replace=False) for s in (1, 3, 7, 12)] + [[2, 5, 11], []]
    padded, sizes = _sets(members, 31)
    ranks, weights = scores.reference_ranks(xp.asarray(X))
    got = gm.to_numpy(scores.enrichment(ranks, weights, xp.asarray(padded), xp.asarray(sizes)))
    want = np.array([[es_loop(X[j].astype(np.float64), m) for j in range(9)] for m in members])
    np.testing.assert_allclose(got, want, atol=2e-6)
    ranks, weights = scores.reference_ranks(xp.asarray(X), weighted=False)
    got = gm.to_numpy(scores.enrichment(ranks, weights, xp.asarray(padded), xp.asarray(sizes)))
    want = np.array([[es_loop(X[j], m, weighted=False) for j in range(9)] for m in members])
    np.testing.assert_allclose(got, want, atol=2e-6)


def test_hand_cases_top_is_one_bottom_is_minus_one(xp):
    X = np.arange(20, 0, -1, dtype=np.float32)[None, :]  # gene 0 highest
    var = pd.DataFrame(index=[f"g{j}" for j in range(20)])
    ref = profiles(X, xp, var=var)
    top, bottom = ["g0", "g1", "g2"], ["g17", "g18", "g19"]
    r = gm.tl.connectivity(up=[top, bottom], down=[bottom, top], reference=ref, tau_reference=None)
    np.testing.assert_allclose(gm.to_numpy(r.wtcs)[:, 0], [1.0, -1.0], atol=1e-6)
    es = gm.tl.connectivity(up=[top, bottom], reference=ref, tau_reference=None)
    np.testing.assert_allclose(gm.to_numpy(es.wtcs)[:, 0], [1.0, -1.0], atol=1e-6)
    # a down-only query at the bottom connects positively (same direction as the reference)
    down_only = gm.tl.connectivity(down=[bottom], reference=ref, tau_reference=None)
    np.testing.assert_allclose(gm.to_numpy(down_only.wtcs), [[1.0]], atol=1e-6)


# ------------------------------------------------------------------ WTCS, NCS, tau
@pytest.mark.parametrize("block_rows", [None, 1, 4])
def test_profile_queries_match_oracle(xp, rng, block_rows):
    Q, R = rng.standard_normal((5, 24)), rng.standard_normal((11, 24))
    groups = np.array(list("aabbbabbaab"))
    ref = profiles(R, xp, obs=pd.DataFrame({"cell_id": groups}, index=[f"r{i}" for i in range(11)]))
    with pytest.warns(UserWarning, match="coarse"):
        r = gm.tl.connectivity(profiles(Q, xp), ref, n_genes=3, by="cell_id", block_rows=block_rows)
    sets = [top_bottom(q, 3) for q in Q.astype(np.float32)]
    R32 = R.astype(np.float32).astype(np.float64)
    W = np.array([[wtcs_loop(R32[j], u, d) for j in range(11)] for u, d in sets])
    np.testing.assert_allclose(gm.to_numpy(r.wtcs), W, atol=2e-6)
    ncs = ncs_loop(W, groups)
    np.testing.assert_allclose(gm.to_numpy(r.ncs), ncs, rtol=1e-5, atol=1e-6)
    tsets = [top_bottom(q, 3) for q in R.astype(np.float32)]
    T = np.array([[wtcs_loop(R32[j], u, d) for j in range(11)] for u, d in tsets])
    np.testing.assert_allclose(gm.to_numpy(r.tau), tau_loop(ncs, ncs_loop(T, groups)), atol=1e-4)
    assert r.queries["missing_up"].eq(0).all()


def test_gene_sets_by_symbol_and_missing_genes(xp, rng):
    R = rng.standard_normal((6, 15))
    var = pd.DataFrame(
        {"symbol": [f"SYM{j}" for j in range(15)], "entrez_id": list(range(100, 115))},
        index=[f"{j}_at" for j in range(15)],
    )
    ref = profiles(R, xp, var=var)
    up = {"a": ["SYM1", "2_at", "NOPE", "103"], "b": ["SYM9"]}
    down = {"a": ["SYM7", "SYM8"], "b": ["SYM0", "GONE", "SYM0"]}
    r = gm.tl.connectivity(up=up, down=down, reference=ref, tau_reference=None)
    R32 = R.astype(np.float32).astype(np.float64)
    want = [
        [wtcs_loop(R32[j], u, d) for j in range(6)] for u, d in [([1, 2, 3], [7, 8]), ([9], [0])]
    ]
    np.testing.assert_allclose(gm.to_numpy(r.wtcs), want, atol=2e-6)
    assert r.queries.loc["a", "missing_up"] == 1 and r.queries.loc["b", "missing_down"] == 1
    assert list(r.queries.index) == ["a", "b"]


def test_profile_query_matched_by_symbol(xp, rng):
    """lish-moa-style query columns (g-0..) reach probe-named references through var symbols."""
    R, Q = rng.standard_normal((7, 12)), rng.standard_normal((3, 10))
    symbols = [f"S{j}" for j in range(12)]
    ref = profiles(R, xp, var=pd.DataFrame({"symbol": symbols}, index=[f"p{j}" for j in range(12)]))
    cols = rng.permutation(12)[:10]
    qvar = pd.DataFrame({"symbol": [symbols[c] for c in cols]}, index=[f"g-{i}" for i in range(10)])
    got = gm.tl.connectivity(profiles(Q, xp, var=qvar), ref, n_genes=2, tau_reference=None)
    R32 = R.astype(np.float32).astype(np.float64)
    sets = [top_bottom(q, 2) for q in Q.astype(np.float32)]
    want = [[wtcs_loop(R32[j], cols[u], cols[d]) for j in range(7)] for u, d in sets]
    np.testing.assert_allclose(gm.to_numpy(got.wtcs), want, atol=2e-6)
    assert (got.queries["missing_up"] == 0).all()


# ------------------------------------------------------------------ significance
def test_permutation_pvalues_and_qvalues(xp, rng):
    R = rng.standard_normal((8, 20))
    ref = profiles(R, xp)
    up, down = [["gene1", "gene2", "gene3"], ["gene4"]], [["gene5", "gene6"], ["gene7"]]
    r = gm.tl.connectivity(
        up=up, down=down, reference=ref, tau_reference=None, n_permutations=30, random_state=3
    )
    W = gm.to_numpy(r.wtcs)
    draws = np.random.default_rng(3)  # the documented draw: sizes in sorted order
    R32 = R.astype(np.float32).astype(np.float64)
    want = np.zeros_like(W)
    for row, (nu, nd) in [(1, (1, 1)), (0, (3, 2))]:
        pick = np.argsort(draws.random((30, 20)), axis=1)[:, : nu + nd]
        null = np.array([[wtcs_loop(R32[j], p[:nu], p[nu:]) for j in range(8)] for p in pick])
        want[row] = ((np.abs(null) >= np.abs(W[row]) * (1 - 1e-5)).sum(0) + 1) / 31
    np.testing.assert_allclose(gm.to_numpy(r.pvalue), want, atol=1e-6)
    q = gm.to_numpy(r.qvalue)
    for row in range(2):
        np.testing.assert_allclose(q[row], false_discovery_control(want[row]), rtol=1e-5)


def test_bh_qvalues_matches_scipy(xp, rng):
    p = rng.random((3, 37)) ** 3
    p[0, :5] = p[0, 5]  # ties
    got = gm.to_numpy(scores.bh_qvalues(xp.asarray(p)))
    for row in range(3):
        np.testing.assert_allclose(got[row], false_discovery_control(p[row]), rtol=1e-12)


# ------------------------------------------------------------------ top-k, streaming
@pytest.mark.parametrize("score", ["wtcs", "ncs"])
@pytest.mark.parametrize("direction", ["positive", "negative"])
def test_topk_equals_full_matrix(xp, rng, score, direction):
    Q, R = rng.standard_normal((4, 18)), rng.standard_normal((29, 18))
    obs = pd.DataFrame({"cell_id": np.resize(list("xyz"), 29)}, index=[f"r{i}" for i in range(29)])
    ref, query = profiles(R, xp, obs=obs), profiles(Q, xp)
    full = gm.tl.connectivity(query, ref, n_genes=3, by="cell_id", tau_reference=None)
    S = gm.to_numpy(getattr(full, score))
    key = S if direction == "positive" else -S
    order = np.argsort(-key, axis=1, kind="stable")[:, :6]
    hits = gm.tl.connectivity_topk(
        query, ref, k=6, n_genes=3, score=score, by="cell_id", direction=direction,
        block_rows=3, chunk_rows=7,
    )  # fmt: skip
    np.testing.assert_array_equal(gm.to_numpy(hits.indices), order)
    np.testing.assert_allclose(gm.to_numpy(hits.scores), np.take_along_axis(S, order, 1), atol=1e-6)
    frame = hits.to_frame()
    assert list(frame.columns[:4]) == ["query", "rank", "reference", score]
    assert len(frame) == 4 * 6 and "ref_cell_id" in frame


def test_topk_streams_gctx_and_parquet(tmp_path, rng):
    R = rng.standard_normal((23, 16))
    ref = profiles(
        R, np, obs=pd.DataFrame({"cell_id": ["c"] * 23}, index=[f"r{i}" for i in range(23)])
    )
    gctx = gm.io.write_gctx(ref, tmp_path / "ref.gctx")
    parquet = gm.io.write_parquet(ref, tmp_path / "ref.parquet")
    up = [["gene1", "gene4", "gene9"], ["gene2"]]
    want = gm.tl.connectivity_topk(up=up, reference=ref, k=5)
    for path in (gctx, parquet):
        got = gm.tl.connectivity_topk(up=up, reference=path, k=5, chunk_rows=4)
        np.testing.assert_array_equal(gm.to_numpy(got.indices), gm.to_numpy(want.indices))
        np.testing.assert_array_equal(got.to_frame()["reference"], want.to_frame()["reference"])


# ------------------------------------------------------------------ results and summaries
def test_to_frame_and_summaries(xp, rng):
    R = rng.standard_normal((12, 20))
    obs = pd.DataFrame(
        {"pert_iname": np.resize(["a", "b", "c"], 12), "moa": np.resize(["m1|m2", "m2", ""], 12)},
        index=[f"r{i}" for i in range(12)],
    )
    ref = profiles(R, xp, obs=obs)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        r = gm.tl.connectivity(profiles(rng.standard_normal((3, 20)), xp), ref, n_genes=3)
    frame = r.to_frame(top=4)
    ncs = gm.to_numpy(r.ncs)
    best = np.argsort(-gm.to_numpy(r.tau), axis=1, kind="stable")[:, :4]
    assert frame["reference"].tolist() == [f"r{j}" for j in best.ravel()]
    np.testing.assert_allclose(frame["ncs"], np.take_along_axis(ncs, best, 1).ravel(), rtol=1e-6)
    assert {"ref_pert_iname", "ref_moa", "wtcs", "tau"} <= set(frame.columns)
    summary = r.by_perturbagen()
    for name in "abc":
        vals = ncs[:, obs["pert_iname"].to_numpy() == name]
        hi, lo = np.percentile(vals, 67, axis=1), np.percentile(vals, 33, axis=1)
        want = np.where(np.abs(hi) >= np.abs(lo), hi, lo)
        np.testing.assert_allclose(summary[name], want, rtol=1e-5, atol=1e-6)
    moa = r.by_moa()
    assert list(moa.columns) == ["m1", "m2"]
    members = {"m1": [0, 3, 6, 9], "m2": [0, 1, 3, 4, 6, 7, 9, 10]}
    for name, cols in members.items():
        want = [es_loop(row, cols, weighted=False) for row in ncs.astype(np.float64)]
        np.testing.assert_allclose(moa[name], want, atol=2e-6)


# ------------------------------------------------------------------ errors
def test_documented_errors(rng):
    ref = profiles(rng.standard_normal((4, 10)), np)
    with pytest.raises(DataError, match="n_genes=6 needs 2 x 6 genes"):
        gm.tl.connectivity(profiles(rng.standard_normal((2, 10)), np), ref, n_genes=6)
    with pytest.raises(DataError, match="no query gene is in the reference"):
        gm.tl.connectivity(up=[["X", "Y"]], reference=ref)
    with pytest.raises(DataError, match="2 up sets but 1 down sets"):
        gm.tl.connectivity(up=[["gene1"], ["gene2"]], down=[["gene3"]], reference=ref)
    with pytest.raises(DataError, match="no column"):
        gm.tl.connectivity(up=[["gene1"]], reference=ref, by="cell_id")
    with pytest.raises(DataError, match="no query"):
        gm.tl.connectivity(reference=ref)
    with pytest.raises(ValueError, match="direction"):
        gm.tl.connectivity_topk(up=[["gene1"]], reference=ref, direction="up")
    with pytest.raises(DataError, match="cannot stream"):
        gm.tl.connectivity_topk(up=[["gene1"]], reference=__file__)
    with pytest.raises(DataError, match="NaN"):
        bad = rng.standard_normal((4, 10))
        bad[1, 2] = np.nan
        gm.tl.connectivity(up=[["gene1"]], reference=profiles(bad, np), tau_reference=None)


# ------------------------------------------------------------------ real L1000 data
def test_real_l1000_same_compound_connects(realdata):
    p = gm.io.read_gctx(realdata / "l1000_level5_modz_n272x978.gctx", device="cpu")
    with pytest.warns(UserWarning, match="coarse"):
        r = gm.tl.connectivity(p, p, n_genes=50)
    cell, drug = p.obs["cell_id"].to_numpy(), p.obs["pert_iname"].to_numpy()
    tau = np.where(cell[:, None] == cell[None, :], -np.inf, gm.to_numpy(r.tau))
    hit_rate = (drug[tau.argmax(axis=1)] == drug).mean()
    chance = (p.obs["pert_iname"].value_counts(normalize=True) ** 2).sum()
    assert chance < 0.45 and hit_rate > 0.65


def test_stays_on_device_within_transfer_budget(rng):
    """On a GPU stand-in (array-api-strict's device1) every score stays on the device; only the
    top-k tables and per-row bookkeeping reach the host."""
    import array_api_strict

    device = array_api_strict.Device("device1")
    ref, query = (
        profiles(rng.standard_normal((n, 30)), np).to("array_api_strict:device1") for n in (40, 3)
    )
    with gm.track_transfers() as log, warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        r = gm.tl.connectivity(query, ref, n_genes=4, n_permutations=10)
        hits = gm.tl.connectivity_topk(query, ref, k=5, n_genes=4, score="ncs", chunk_rows=9)
    for a in (r.wtcs, r.ncs, r.tau, r.pvalue, r.qvalue, hits.indices, hits.scores):
        assert a.device == device
    assert log.bytes_to_host <= 16 * (3 + 40)
    with gm.track_transfers() as log:
        frame = r.to_frame(top=5)
    assert len(frame) == 15 and log.bytes_to_host <= 15 * 8 * 6 + 16 * (3 + 40)
