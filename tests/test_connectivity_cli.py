"""``gpu-moa connect`` (GMT/GRP and profile queries, GCTX references) and gm.dist.connectivity_topk
against the single-device search."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import gpu_moa as gm
from gpu_moa.cli._main import main

N_REF, N_GENES = 19, 16


@pytest.fixture
def reference(rng, tmp_path):
    obs = pd.DataFrame(
        {"pert_iname": np.resize(["a", "b", "c"], N_REF), "cell_id": np.resize(["x", "y"], N_REF)},
        index=pd.Index([f"r{i}" for i in range(N_REF)], name="sig_id"),
    )
    var = pd.DataFrame(
        {"symbol": [f"S{j}" for j in range(N_GENES)]},
        index=pd.Index([f"{j}_at" for j in range(N_GENES)], name="feature"),
    )
    ref = gm.Profiles(X=rng.standard_normal((N_REF, N_GENES)).astype(np.float32), obs=obs, var=var)
    return ref, gm.io.write_gctx(ref, tmp_path / "ref.gctx")


def test_cli_gmt_against_gctx(reference, tmp_path, capsys):
    ref, gctx = reference
    (tmp_path / "up.gmt").write_text("Q1\td\tS1\tS2\t3_at\tNOPE\nQ2\td\tS9\tS10\n")
    (tmp_path / "dn.gmt").write_text("Q1d\td\tS4\tS5\nQ2d\td\tS11\n")
    out = tmp_path / "hits.parquet"
    argv = ["connect", str(tmp_path / "up.gmt"), "--down", str(tmp_path / "dn.gmt")]
    assert main([*argv, "--reference", str(gctx), "--k", "4", "--out", str(out), "--quiet"]) == 0
    printed = capsys.readouterr().out
    assert "2 queries x up to 4 hits" in printed and "1 query genes not in the reference" in printed
    hits = pd.read_parquet(out)
    up, down = [["S1", "S2", "3_at"], ["S9", "S10"]], [["S4", "S5"], ["S11"]]
    want = gm.tl.connectivity(up=up, down=down, reference=ref, tau_reference=None)
    order = np.argsort(-gm.to_numpy(want.wtcs), axis=1, kind="stable")[:, :4]
    assert hits["reference"].tolist() == [f"r{j}" for j in order.ravel()]
    assert hits["query"].tolist() == ["Q1"] * 4 + ["Q2"] * 4
    assert {"ref_pert_iname", "ref_cell_id"} <= set(hits.columns)


def test_cli_profiles_tau_and_permutations(reference, tmp_path):
    ref, gctx = reference
    out = tmp_path / "hits.csv"
    argv = ["connect", str(gctx), "--reference", str(gctx), "--n-genes", "3", "--score", "tau"]
    with pytest.warns(UserWarning, match="coarse"):
        code = main([*argv, "--permutations", "9", "--k", "2", "--out", str(out), "--quiet"])
    assert code == 0
    hits = pd.read_csv(out)
    assert len(hits) == N_REF * 2 and {"tau", "ncs", "pvalue", "qvalue"} <= set(hits.columns)
    assert hits["pvalue"].between(0.1, 1.0).all()


def test_cli_errors(reference, tmp_path, capsys):
    _, gctx = reference
    (tmp_path / "up.gmt").write_text("Q1 d S1\n")
    code = main(["connect", str(tmp_path / "up.gmt"), "--reference", str(gctx), "--quiet"])
    assert code == 2 and "expected 'name<TAB>description" in capsys.readouterr().err
    (tmp_path / "up.gmt").write_text("Q1\td\tNOPE\n")
    code = main(["connect", str(tmp_path / "up.gmt"), "--reference", str(gctx), "--quiet"])
    assert code == 2 and "no query gene is in the reference" in capsys.readouterr().err


@pytest.mark.parametrize("score", ["wtcs", "ncs"])
def test_dist_topk_equals_single_device(reference, score):
    ref, gctx = reference
    up, down = [["S1", "S2", "S3"], ["S7"], ["S0", "S12"]], [["S4"], ["S8", "S9"], ["S13"]]
    kw = {"up": up, "down": down, "k": 5, "score": score, "by": "cell_id"}
    want = gm.tl.connectivity_topk(reference=ref, **kw)
    for source in (ref, gctx):
        got = gm.dist.connectivity_topk(reference=source, chunk_rows=6, **kw)
        np.testing.assert_array_equal(gm.to_numpy(got.indices), gm.to_numpy(want.indices))
        np.testing.assert_allclose(gm.to_numpy(got.scores), gm.to_numpy(want.scores), rtol=1e-6)


def test_cli_real_gmt_against_real_gctx(tmp_path):
    shared = Path(__file__).resolve().parents[2] / "shared" / "realdata"
    gmt, gctx = shared / "l1000_query_up.gmt", shared / "l1000_level5_modz_n272x978.gctx"
    if not gctx.is_file():
        pytest.skip("../shared/realdata is not here")
    out = tmp_path / "hits.parquet"
    assert main(["connect", str(gmt), "-r", str(gctx), "--k", "3", "-o", str(out), "--quiet"]) == 0
    hits = pd.read_parquet(out)
    assert len(hits) == 8 * 3 and hits["wtcs"].between(-1, 1).all()
    assert hits["ref_pert_iname"].isin(["vemurafenib", "atorvastatin", "venlafaxine"]).all()


def test_run_stage_connectivity(small_lish_moa, tmp_path):
    """The ``gpu-moa run`` stage: drugs' consensus signatures query each other (WTCS)."""
    from gpu_moa.run._context import RunContext
    from gpu_moa.run.stages import connectivity

    ctx = RunContext(train=small_lish_moa, test=None, out=tmp_path, device="cpu", quick=True)
    connectivity.run(ctx)
    metrics = ctx.metrics["connectivity"]
    assert metrics["drugs"] == connectivity.MAX_DRUGS[True]
    assert metrics["wtcs"] > 5 * metrics["chance"]  # the planted MoA signal connects drugs
    example = ctx.tables["connectivity_example"]
    assert len(example) == 5 and (example["query"] != example["reference"]).all()
    assert ctx.sections[-1].title == connectivity.TITLE


def test_run_stage_connectivity_samples_drugs_before_collapsing(small_lish_moa, tmp_path):
    """Collapsing only the sampled drugs gives the signatures of collapsing all, then sampling."""
    from gpu_moa.run._context import RunContext
    from gpu_moa.run.stages import connectivity

    ctx = RunContext(train=small_lish_moa, test=None, out=tmp_path, device="cpu", quick=True)
    got = connectivity._signatures(ctx)
    p = gm.pp.drop_controls(small_lish_moa)
    p = p.select_vars((p.var["kind"] == "gene").to_numpy())
    every = gm.pp.consensus(p, by="drug_id", method="modz")
    limit = connectivity.MAX_DRUGS[True]
    assert every.n_obs > limit  # the sample is a real one
    rng = np.random.default_rng(ctx.random_state)
    want = every[np.sort(rng.choice(every.n_obs, size=limit, replace=False))]
    assert list(got.obs.index) == list(want.obs.index)
    np.testing.assert_allclose(gm.to_numpy(got.X), gm.to_numpy(want.X), rtol=1e-6, atol=1e-7)
    np.testing.assert_array_equal(gm.to_numpy(got.Y), gm.to_numpy(want.Y))
