"""cytominer-eval's replicate metrics against loops over the full similarity matrix."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.preprocessing import StandardScaler

import gpu_moa as gm


def _wells(rng, n=60, f=16, n_cpd=12, signal=1.0, controls=8):
    """``controls`` vehicle wells, then compounds (n_cpd, one MoA per 3 compounds) with signal."""
    cpd = np.r_[np.full(controls, -1), np.arange(n - controls) % n_cpd]
    X = rng.standard_normal((n, f))
    X[controls:, :n_cpd] += signal * np.eye(n_cpd)[cpd[controls:]][:, :f]
    obs = pd.DataFrame(
        {
            "pert_type": ["ctl_vehicle"] * controls + ["trt_cp"] * (n - controls),
            "cpd": ["DMSO"] * controls + [f"c{c}" for c in cpd[controls:]],
            "moa": ["none"] * controls + [f"m{c // 3}" for c in cpd[controls:]],
        },
        index=pd.Index([f"w{i}" for i in range(n)], name="sig_id"),
    )
    return X, obs


def _profiles(X, obs, xp="cpu"):
    return gm.make_profiles(X, obs, [f"f{j}" for j in range(X.shape[1])], device=xp)


def test_replicate_reproducibility_matches_a_loop(xp, rng):
    X, obs = _wells(rng)
    got = gm.metrics.replicate_reproducibility(_profiles(X, obs, xp), groupby="cpd", block_rows=7)
    S = np.corrcoef(X)
    i, j = np.triu_indices(len(X), k=1)
    same = obs["cpd"].to_numpy()[i] == obs["cpd"].to_numpy()[j]
    threshold = pd.Series(S[i, j][~same]).quantile(0.95)
    assert got["threshold"] == pytest.approx(threshold, abs=1e-6)
    assert got["replicate_reproducibility"] == pytest.approx(np.mean(S[i, j][same] > threshold))
    assert got["n_replicate_pairs"] == same.sum() and got["n_non_replicate_pairs"] == (~same).sum()


def test_grit_matches_standard_scaler_loop(xp, rng):
    X, obs = _wells(rng)
    got = gm.metrics.grit(_profiles(X, obs, xp), groupby="cpd", block_rows=9)
    S = np.corrcoef(X)
    control = (obs["pert_type"] == "ctl_vehicle").to_numpy()
    cpd = obs["cpd"].to_numpy()
    expect = np.full(len(X), np.nan)
    for q in np.flatnonzero(~control):
        ctrl = S[q, control].reshape(-1, 1)
        reps = (cpd == cpd[q]) & ~control
        reps[q] = False
        if reps.any():
            expect[q] = StandardScaler().fit(ctrl).transform(S[q, reps].reshape(-1, 1)).mean()
    np.testing.assert_allclose(got["grit"].to_numpy(), expect, atol=1e-5)


def test_percent_replicating_and_matching(rng):
    X, obs = _wells(rng, n=200, signal=2.0)
    p = _profiles(X, obs)[(obs["pert_type"] == "trt_cp").to_numpy()]
    res = gm.metrics.percent_replicating(p, groupby="cpd", n_null=500)
    S = np.corrcoef(gm.to_numpy(p.X))
    cpd = p.obs["cpd"].to_numpy()
    groups = res["groups"].set_index("cpd")
    for name in ("c0", "c5"):
        rows = np.flatnonzero(cpd == name)
        a, b = np.triu_indices(rows.size, k=1)
        assert groups.loc[name, "median_similarity"] == pytest.approx(
            np.median(S[rows[a], rows[b]]), abs=1e-6
        )
    assert res["percent"] == 100.0  # strong planted compound signal
    assert groups["null_threshold"].between(0.0, 0.5).all()
    # no signal at all: about 5% of compounds beat the null's 95th percentile
    noise = gm.make_profiles(rng.standard_normal(gm.to_numpy(p.X).shape), p.obs, p.var_names)
    assert gm.metrics.percent_replicating(noise, groupby="cpd", n_null=500)["percent"] <= 35
    # the MoA signal is each compound's own: compounds of one MoA do not match
    matching = gm.metrics.percent_matching(p, moa="moa", compound="cpd", n_null=500)
    assert len(matching["groups"]) == 4 and matching["percent"] <= 50


def test_errors(rng):
    X, obs = _wells(rng, n=20)
    p = _profiles(X, obs)
    with pytest.raises(gm.DataError, match="fewer than two control"):
        gm.metrics.grit(p[(obs["pert_type"] == "trt_cp").to_numpy()], groupby="cpd")
    with pytest.raises(gm.DataError, match="no column"):
        gm.metrics.replicate_reproducibility(p, groupby="plate")
    unique = p.replace(obs=p.obs.assign(cpd=[f"u{i}" for i in range(20)]))
    with pytest.raises(gm.DataError, match="no replicate pair"):
        gm.metrics.replicate_reproducibility(unique, groupby="cpd")
    with pytest.raises(gm.DataError, match="no pair of rows in one group"):
        gm.metrics.percent_replicating(unique, groupby="cpd")


def test_real_l1000_plate_replicates(rng):
    """LJP009 read with read_profiles: doses of one compound replicate well above chance."""
    from pathlib import Path

    plate = Path(__file__).resolve().parents[2] / "shared/realdata"
    path = plate / "ljp009_a375_24h_level4_lishmoa_genes.csv.gz"
    if not path.exists():
        pytest.skip(f"{path} not present")
    p = gm.io.read_profiles(path, device="cpu")
    assert p.drug_column == "pert_id" and int(p.is_control.sum()) == 22
    treated = p[(p.obs["pert_type"] == "trt_cp").to_numpy()]
    assert gm.metrics.percent_replicating(treated, groupby="pert_id", n_null=300)["percent"] > 30
    assert (
        gm.metrics.replicate_reproducibility(treated, groupby="pert_id")[
            "replicate_reproducibility"
        ]
        > 0.15
    )
    assert gm.metrics.grit(p, groupby="pert_id")["grit"].median() > 0.5
