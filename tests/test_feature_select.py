"""feature_select and spherize against pycytominer (the oracle) and hand-built cases."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import gpu_moa as gm

pycytominer = pytest.importorskip("pycytominer")


def _table(rng, n=40):
    """Features built to trip each operation: constant, near-duplicate, NaN-rich, outlier,
    few distinct values; plus two controls groups of metadata."""
    base = rng.normal(size=(n, 6)).round(3)
    frame = pd.DataFrame(base, columns=[f"Cells_F{j}" for j in range(6)])
    frame["Cells_const"] = 1.0
    frame["Cells_dup"] = (frame["Cells_F0"] * 2 + rng.normal(scale=0.3, size=n)).round(4)
    frame["Cells_anti"] = (-frame["Cells_F1"] + rng.normal(scale=0.2, size=n)).round(4)
    frame["Nuclei_nan"] = np.where(np.arange(n) % 5 == 0, np.nan, rng.normal(size=n).round(3))
    frame["Nuclei_outlier"] = np.r_[900.0, rng.normal(size=n - 1).round(3)]
    frame["Nuclei_rare"] = np.where(np.arange(n) == 3, 2.0, 0.0)
    frame["Cytoplasm_few"] = np.resize([0.0, 0.0, 0.0, 1.0], n)
    frame.insert(0, "Metadata_type", np.where(np.arange(n) < 15, "control", "treated"))
    return frame


def _profiles(frame, xp="cpu"):
    features = [c for c in frame if not c.startswith("Metadata_")]
    obs = frame[["Metadata_type"]].set_axis(pd.Index([f"s{i}" for i in range(len(frame))]))
    obs.index.name = "sig_id"
    obs["cp_type"] = np.where(obs["Metadata_type"] == "control", "ctl_vehicle", "trt_cp")
    return gm.make_profiles(frame[features].to_numpy(), obs, features, device=xp)


@pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")  # oracle, const
@pytest.mark.parametrize(
    "ops",
    [
        ["variance_threshold"],
        ["frequency_threshold"],
        ["drop_na_columns", "correlation_threshold"],
        ["drop_na_columns", "drop_outliers", "variance_threshold", "correlation_threshold"],
    ],
)
def test_feature_select_equals_pycytominer(xp, rng, ops):
    frame = _table(rng)
    features = [c for c in frame if not c.startswith("Metadata_")]
    ref = pycytominer.feature_select(frame, features=features, operation=ops)
    got = gm.pp.feature_select(_profiles(frame, xp), operations=ops)
    assert got.var_names == [c for c in ref if c in features]
    np.testing.assert_allclose(
        gm.to_numpy(got.X), ref[got.var_names].to_numpy(), atol=1e-6, equal_nan=True
    )


@pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")
@pytest.mark.parametrize("method", ["spearman", "pearson"])
def test_correlation_on_controls_and_blocklist(rng, method, tmp_path):
    frame = _table(rng).drop(columns=["Nuclei_nan"])
    features = [c for c in frame if not c.startswith("Metadata_")]
    ref = pycytominer.feature_select(
        frame,
        features=features,
        samples="Metadata_type == 'control'",
        operation="correlation_threshold",
        corr_method=method,
        corr_threshold=0.8,
    )
    p = _profiles(frame)
    got = gm.pp.feature_select(
        p, operations="correlation", samples="controls", corr_method=method, corr_threshold=0.8
    )
    assert got.var_names == [c for c in ref if c in features]
    (tmp_path / "block.txt").write_text("blocklist\nCells_F2\nCells_F4\n")
    blocked = gm.pp.feature_select(p, operations=["blocklist"], blocklist=tmp_path / "block.txt")
    assert blocked.uns["feature_select"] == {"blocklist": ["Cells_F2", "Cells_F4"]}


def test_feature_select_errors(rng):
    p = _profiles(_table(rng))
    with pytest.raises(gm.DataError, match="unknown operation"):
        gm.pp.feature_select(p, operations=["noise"])
    with pytest.raises(gm.DataError, match="without NaN"):
        gm.pp.feature_select(p, operations=["correlation"])
    with pytest.raises(gm.DataError, match="no rows selected"):
        gm.pp.feature_select(p, samples="Metadata_type == 'none'")


@pytest.mark.parametrize("method", ["ZCA", "ZCA-cor", "PCA", "PCA-cor"])
@pytest.mark.parametrize("n_ref", [30, 8])  # more, and fewer, reference rows than features
def test_spherize_equals_pycytominer(xp, rng, method, n_ref):
    from pycytominer.operations.transform import Spherize

    n, d = 50, 12
    X = rng.normal(size=(n, d)) @ rng.normal(size=(d, d)) + 3.0
    obs = pd.DataFrame(
        {"cp_type": ["ctl_vehicle"] * n_ref + ["trt_cp"] * (n - n_ref)},
        index=pd.Index([f"s{i}" for i in range(n)], name="sig_id"),
    )
    X = X.astype(np.float32).astype(np.float64)
    p = gm.make_profiles(X, obs, [f"f{j}" for j in range(d)], device=xp)
    got = gm.to_numpy(gm.pp.spherize(p, method=method).X)
    fitted = Spherize(method=method, return_numpy=True).fit(pd.DataFrame(X[:n_ref]))
    expect = fitted.transform(pd.DataFrame(X))
    if method.startswith("PCA"):  # a component's sign is arbitrary, and beyond the rank
        keep = min(d, n_ref - 1)  # of a small reference so is the basis itself
        got, expect = got[:, :keep], expect[:, :keep]
        got = got * np.sign(np.sum(got * expect, axis=0))
    np.testing.assert_allclose(got, expect, atol=2e-3 * np.abs(expect).max(), rtol=1e-3)
    if n_ref > d:  # whitened controls: identity covariance
        cov = np.cov(got[:n_ref].T)
        np.testing.assert_allclose(cov, np.eye(d), atol=1e-3)


def test_spherize_errors(rng):
    X = rng.normal(size=(20, 5))
    X[:, 4] = X[:, 0] + X[:, 1]  # linearly dependent
    obs = pd.DataFrame(
        {"cp_type": ["ctl_vehicle"] * 10 + ["trt_cp"] * 10},
        index=pd.Index([f"s{i}" for i in range(20)], name="sig_id"),
    )
    p = gm.make_profiles(X, obs, [f"f{j}" for j in range(5)], device="cpu")
    with pytest.raises(gm.DataError, match="not full rank"):
        gm.pp.spherize(p)
    with pytest.raises(gm.DataError, match="method 'whiten'"):
        gm.pp.spherize(p, method="whiten")
    const = p.replace(X=p.xp.asarray(np.c_[X[:, :4], np.ones(20)], dtype=p.xp.float32))
    with pytest.raises(gm.DataError, match="vary"):
        gm.pp.spherize(const, method="ZCA-cor")
    with pytest.raises(gm.DataError, match="no rows selected"):
        gm.pp.spherize(p.replace(obs=p.obs.assign(cp_type="trt_cp")))
