"""Matching, kNN MoA inference, the match command and the matching stage."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import gpu_moa as gm
from gpu_moa.cli import main as cli_main


@pytest.fixture
def data(planted):
    return planted(60, 12, 4, rate=0.25, shift=2.0, per_drug=4)


def _brute_neighbours(Xq, Xr, same, k):
    S = np.corrcoef(Xq, Xr)[: len(Xq), len(Xq) :]
    S[same] = -np.inf
    order = np.argsort(-S, axis=1, kind="stable")[:, :k]
    return order, np.take_along_axis(S, order, axis=1)


def test_match_table(xp, data, labelled_profiles):
    X, Y, drugs = data
    query, ref = (
        labelled_profiles(X[:10], Y[:10], drugs[:10], xp),
        labelled_profiles(X, Y, drugs, xp),
    )
    hits = gm.tl.match(query, ref, k=5)
    order, best = _brute_neighbours(X[:10], X, drugs[:10, None] == drugs[None, :], 5)
    assert list(hits.columns) == [
        "query_sig_id", "rank", "ref_sig_id", "ref_drug_id", "score", "ref_moa"
    ]  # fmt: skip
    assert hits["rank"].tolist() == list(range(1, 6)) * 10
    np.testing.assert_array_equal(hits["ref_sig_id"], np.array(ref.sig_ids)[order.ravel()])
    np.testing.assert_allclose(hits["score"], best.ravel(), atol=2e-6)
    assert not (hits["ref_drug_id"].to_numpy() == np.repeat(drugs[:10], 5)).any()
    names = np.array([f"moa{j}" for j in range(Y.shape[1])])
    expect = ["|".join(names[Y[j] > 0]) for j in order.ravel()]
    assert hits["ref_moa"].tolist() == expect


def test_match_self_and_same_drug_switch(data, labelled_profiles):
    X, Y, drugs = data
    p = labelled_profiles(X, Y, drugs, None)
    hits = gm.tl.match(p, p, k=3, exclude_same_drug=False)
    assert (hits["query_sig_id"] != hits["ref_sig_id"]).all()  # never itself
    order, _ = _brute_neighbours(X, X, np.eye(len(X), dtype=bool), 3)
    np.testing.assert_array_equal(hits["ref_sig_id"], np.array(p.sig_ids)[order.ravel()])


def test_match_drug_level_uses_consensus(data, labelled_profiles):
    X, Y, drugs = data
    ref = labelled_profiles(X, Y, drugs, None, controls=4)
    query = labelled_profiles(X[:6] + 0.1, Y[:6], np.array(["q"] * 6, dtype=object), None)
    hits = gm.tl.match(query, ref, k=4, level="drug", consensus_method="mean")
    sigs = gm.pp.consensus(gm.pp.drop_controls(ref), by="drug_id", method="mean")
    order, best = _brute_neighbours(X[:6] + 0.1, gm.to_numpy(sigs.X), np.zeros((6, 14), bool), 4)
    np.testing.assert_array_equal(hits["ref_sig_id"], np.array(sigs.sig_ids)[order.ravel()])
    assert "d0" not in set(hits["ref_drug_id"])  # d0 rows were the controls


@pytest.mark.parametrize("block_rows", [None, 7, 1])
def test_predict_moa_formula(xp, data, labelled_profiles, monkeypatch, block_rows):
    X, Y, drugs = data
    if block_rows is not None:  # votes in blocks of that many query rows (60 = 8 x 7 + 4)
        monkeypatch.setattr(gm.tl._match, "_VOTE_CELLS", block_rows * Y.shape[1])
    p = labelled_profiles(X, Y, drugs, xp, controls=4)
    P = gm.to_numpy(gm.tl.predict_moa(p, p, k=6, shrinkage=0.5, power=2.0))
    order, best = _brute_neighbours(X, X, drugs[:, None] == drugs[None, :], 6)
    w = np.clip(best, 0, None) ** 2
    prior = Y[4:].mean(axis=0)
    expect = (np.einsum("ik,ikl->il", w, Y[order]) + 0.5 * prior) / (w.sum(1)[:, None] + 0.5)
    expect[:4] = 0.0  # controls are predicted 0
    np.testing.assert_allclose(P, expect, atol=1e-5)
    assert P.dtype == np.float32


def test_predict_moa_beats_prior_on_planted_data(planted, labelled_profiles):
    X, Y, drugs = planted(600, 20, 5, rate=0.1, shift=2.0)
    p = labelled_profiles(X, Y, drugs, None)
    P = gm.tl.predict_moa(p, p, k=20)
    prior = np.broadcast_to(Y.mean(axis=0), Y.shape)
    assert gm.metrics.multilabel_log_loss(Y, P) < 0.8 * gm.metrics.multilabel_log_loss(Y, prior)


def test_predict_moa_uses_the_planted_moa_signal_of_the_generator():
    # Strong planted signal: the small preset at realistic difficulty (signal_strength=1) has
    # too few drugs per MoA for kNN votes to beat the prior; the full set does (0.0205 vs 0.0222).
    small = gm.datasets.make_lish_moa(preset="small", random_state=0, signal_strength=3.0)
    p = gm.pp.drop_controls(small)
    Y = gm.to_numpy(p.Y)
    P = gm.tl.predict_moa(p, p)
    prior = np.broadcast_to(Y.mean(axis=0), Y.shape)
    assert gm.metrics.multilabel_log_loss(Y, P) < gm.metrics.multilabel_log_loss(Y, prior)


def test_predict_moa_needs_labels(data, labelled_profiles):
    X, Y, drugs = data
    p = labelled_profiles(X, Y, drugs, None)
    with pytest.raises(gm.DataError, match="labels"):
        gm.tl.predict_moa(p, p.replace(Y=None, label_names=[]))


def test_match_rejects_mismatched_features(data, labelled_profiles):
    X, Y, drugs = data
    p = labelled_profiles(X, Y, drugs, None)
    with pytest.raises(gm.DataError, match="features"):
        gm.tl.match(p.select_vars(p.var_names[:5]), p)


def test_match_command(small_lish_moa_dir, tmp_path, capsys):
    out = tmp_path / "hits.parquet"
    args = [
        "match",
        str(small_lish_moa_dir),
        "--reference",
        str(small_lish_moa_dir),
        "--k",
        "3",
        "--quiet",
    ]
    assert cli_main([*args, "--out", str(out), "--level", "drug"]) == 0
    hits = pd.read_parquet(out)
    test = gm.io.read_lish_moa(small_lish_moa_dir, split="test")
    assert hits["query_sig_id"].nunique() == test.n_obs
    assert set(hits["rank"]) == {1, 2, 3}
    assert "queries" in capsys.readouterr().out


def test_match_command_bad_reference(tmp_path, capsys):
    code = cli_main(["match", str(tmp_path), "--reference", str(tmp_path / "nope"), "--quiet"])
    assert code == 2
    assert "error" in capsys.readouterr().err


def test_matching_stage_quick(small_lish_moa, tmp_path):
    from gpu_moa.run import RunContext
    from gpu_moa.run.stages import matching

    ctx = RunContext(train=small_lish_moa, test=None, out=tmp_path, device="cpu", quick=True)
    matching.run(ctx)
    m = ctx.metrics["matching"]
    assert m["hit_rate_at_1"] > 5 * m["chance_at_1"]
    assert 0 < m["knn_log_loss"] < 1.05 * m["prior_log_loss"]
    assert set(ctx.tables) >= {"matching_hit_rate", "matching_example"}
    assert ctx.sections[-1].figures
    # the example comes from the stage's all-vs-all search: the same as searching its query alone
    example = ctx.tables["matching_example"]
    p = matching._population(ctx)
    query = p[(p.sig_ids == example["query_sig_id"].iloc[0])]
    alone = gm.tl.match(query, p, k=10)
    np.testing.assert_array_equal(example["ref_sig_id"], alone["ref_sig_id"])
    np.testing.assert_allclose(example["score"], alone["score"], atol=1e-6)
    pd.testing.assert_frame_equal(
        example.drop(columns=["score", "query_moa"]), alone.drop(columns="score")
    )
