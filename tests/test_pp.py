"""Preprocessing against independent oracles (scikit-learn, scipy, pandas)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import rankdata, spearmanr
from sklearn.preprocessing import QuantileTransformer, StandardScaler

import gpu_moa as gm
from gpu_moa import pp
from gpu_moa.pp._rank import rank_rows


def _profiles(X, xp, *, obs=None, Y=None):
    n, f = X.shape
    if obs is None:
        obs = pd.DataFrame(
            {"cp_type": ["trt_cp"] * n, "drug_id": [f"d{i % 3}" for i in range(n)]},
            index=pd.Index([f"s{i}" for i in range(n)], name="sig_id"),
        )
    labels = [f"moa{j}" for j in range(Y.shape[1])] if Y is not None else ()
    return gm.make_profiles(
        X, obs, [f"g-{j}" for j in range(f)], Y=Y, label_names=labels, device=xp
    )


def _heavy(rng, n, f):
    X = np.clip(rng.standard_t(3, size=(n, f)), -4, 4)
    X[:, 1] = np.round(X[:, 1])  # many ties -> repeated quantiles
    X[:, 2] = 1.5  # constant column
    return X


@pytest.mark.parametrize("n_quantiles", [1000, 50, 2, 1])
def test_rank_gauss_matches_quantile_transformer(xp, rng, n_quantiles):
    X = _heavy(rng, 400, 6)
    T = rng.standard_t(3, size=(120, 6)) * 1.7
    T[:10, 1] = np.arange(-5, 5)
    T[10:15, 2] = [1.5, 1.0, 2.0, 1.5 + 5e-8, 1.5 - 5e-8]
    qt = QuantileTransformer(
        n_quantiles=n_quantiles, output_distribution="normal", subsample=None
    ).fit(X)
    q = pp.rank_gauss_fit(xp.asarray(X), n_quantiles=n_quantiles)
    np.testing.assert_allclose(gm.to_numpy(q), qt.quantiles_, rtol=0, atol=1e-12)
    for data in (X, T):
        got = gm.to_numpy(pp.rank_gauss_apply(xp.asarray(data), q))
        np.testing.assert_allclose(got, qt.transform(data), rtol=0, atol=1e-7)


def test_rank_gauss_in_column_chunks_matches_quantile_transformer(rng, monkeypatch):
    """On the CPU the columns go in chunks, side by side on the cores: 11 columns in chunks of
    4 (the last one short) give scikit-learn's quantiles and scores."""
    from gpu_moa.pp import _rankgauss

    monkeypatch.setattr(_rankgauss, "CPU_CHUNK_COLS", 4)
    X, T = _heavy(rng, 300, 11), rng.standard_t(3, size=(90, 11)) * 1.7
    qt = QuantileTransformer(n_quantiles=50, output_distribution="normal", subsample=None).fit(X)
    q = pp.rank_gauss_fit(X, n_quantiles=50)
    np.testing.assert_allclose(q, qt.quantiles_, rtol=0, atol=1e-12)
    np.testing.assert_allclose(pp.rank_gauss_apply(T, q), qt.transform(T), rtol=0, atol=1e-7)


def test_rank_gauss_float32_profiles_with_reference(xp, rng):
    train, test = _heavy(rng, 300, 5), rng.standard_normal((40, 5))
    qt = QuantileTransformer(n_quantiles=100, output_distribution="normal", subsample=None)
    expect = qt.fit(train.astype(np.float32).astype(np.float64)).transform(
        test.astype(np.float32).astype(np.float64)
    )
    out = pp.rank_gauss(_profiles(test, xp), reference=_profiles(train, xp), n_quantiles=100)
    assert out.X.dtype == xp.float32
    np.testing.assert_allclose(gm.to_numpy(out.X), expect, atol=2e-6)


def test_rank_gauss_rejects_nan(xp):
    X = np.ones((4, 2))
    X[2, 1] = np.nan
    with pytest.raises(gm.DataError, match="NaN"):
        pp.rank_gauss_fit(xp.asarray(X))
    with pytest.raises(gm.DataError, match="shape"):
        pp.rank_gauss_apply(xp.asarray(np.ones((3, 2))), xp.asarray(np.ones((5, 3))))


def test_rank_rows_matches_rankdata(xp, rng):
    X = np.round(rng.standard_normal((30, 17)), 1)
    X[4] = 2.0
    np.testing.assert_array_equal(gm.to_numpy(rank_rows(xp.asarray(X))), rankdata(X, axis=1))


def test_scale_matches_standard_scaler(xp, rng):
    X = _heavy(rng, 50, 4)
    out = pp.scale(_profiles(X, xp))
    np.testing.assert_allclose(
        gm.to_numpy(out.X), StandardScaler().fit_transform(X), rtol=1e-5, atol=1e-5
    )


def _ctl_obs(n, n_ctl):
    return pd.DataFrame(
        {
            "cp_type": ["ctl_vehicle"] * n_ctl + ["trt_cp"] * (n - n_ctl),
            "cp_time": [24, 48] * (n // 2),
            "drug_id": ["ctl"] * n_ctl + [f"d{i % 4}" for i in range(n - n_ctl)],
        },
        index=pd.Index([f"s{i}" for i in range(n)], name="sig_id"),
    )


def test_drop_controls(xp, rng):
    p = _profiles(rng.standard_normal((10, 3)), xp, obs=_ctl_obs(10, 4))
    out = pp.drop_controls(p)
    assert list(out.obs.index) == [f"s{i}" for i in range(4, 10)]
    untyped = p.replace(obs=p.obs.drop(columns="cp_type"))
    assert pp.drop_controls(untyped).n_obs == 10  # no treatment type: every row is treated
    with pytest.raises(gm.DataError, match="no control rows"):
        pp.normalize(untyped)


@pytest.mark.parametrize("method", ["zscore", "robust_mad"])
@pytest.mark.parametrize("by", [None, "cp_time"])
def test_normalize_to_controls_pandas_oracle(xp, rng, method, by):
    n = 40
    X = rng.standard_normal((n, 3)) * 2 + 1
    obs = _ctl_obs(n, 16)
    got = gm.to_numpy(pp.normalize(_profiles(X, xp, obs=obs), method=method, by=by).X)
    df = pd.DataFrame(X)
    keys = obs["cp_time"] if by else pd.Series(0, index=obs.index)
    for key in keys.unique():
        rows = (keys == key).to_numpy()
        ref = df[rows & (obs["cp_type"] == "ctl_vehicle").to_numpy()]
        if method == "zscore":
            centre, spread = ref.mean(), ref.std(ddof=0)
        else:
            centre = ref.median()
            spread = 1.4826 * (ref - centre).abs().median()
        expect = (df[rows] - centre) / (spread + 1e-6)
        np.testing.assert_allclose(got[rows], expect.to_numpy(), rtol=1e-5, atol=1e-5)


def test_normalize_missing_reference_group(xp, rng):
    obs = _ctl_obs(8, 1)
    with pytest.raises(gm.DataError, match="no controls rows"):
        pp.normalize(_profiles(rng.standard_normal((8, 2)), xp, obs=obs), by="cp_time")


def _replicates(rng):
    obs = pd.DataFrame(
        {
            "cp_type": "trt_cp",
            "drug_id": ["b", "a", "b", "c", "a", "b", "a", "a", "b", "b", "d"],
            "cp_dose": ["D1", "D2"] * 5 + ["D1"],
        },
        index=pd.Index([f"s{i}" for i in range(11)], name="sig_id"),
    )
    X = rng.standard_normal((11, 9))
    X[0] += 3 * rng.standard_normal(9)
    Y = (rng.random((11, 4)) < 0.3).astype(float)
    return obs, X, Y


def _modz_oracle(block):
    s = block.shape[0]
    if s == 1:
        return block[0]
    rho = spearmanr(block, axis=1).statistic if s > 2 else spearmanr(block[0], block[1])[0]
    rho = np.atleast_2d(rho) if s > 2 else np.array([[1, rho], [rho, 1]])
    w = np.clip((rho.sum(axis=1) - 1) / (s - 1), 0.01, None)
    return (w / w.sum()) @ block


@pytest.mark.parametrize("method", ["mean", "median", "modz"])
def test_consensus_oracle(xp, rng, method):
    obs, X, Y = _replicates(rng)
    out = pp.consensus(_profiles(X, xp, obs=obs, Y=Y), by="drug_id", method=method)
    df = pd.DataFrame(X, index=obs["drug_id"].to_numpy())
    assert list(out.obs.index) == ["a", "b", "c", "d"]
    assert out.obs["n_replicates"].tolist() == [4, 5, 1, 1]
    assert "cp_type" in out.obs and "cp_dose" not in out.obs
    for i, drug in enumerate(out.obs.index):
        block = df.loc[[drug]].to_numpy()
        expect = {"mean": block.mean(0), "median": np.median(block, 0)}.get(method)
        expect = _modz_oracle(block) if method == "modz" else expect
        np.testing.assert_allclose(gm.to_numpy(out.X)[i], expect, rtol=1e-5, atol=1e-5)
        labels = Y[(obs["drug_id"] == drug).to_numpy()].max(axis=0)
        np.testing.assert_array_equal(gm.to_numpy(out.Y)[i], labels)


def test_consensus_multiple_keys_and_errors(xp, rng):
    obs, X, _ = _replicates(rng)
    out = pp.consensus(_profiles(X, xp, obs=obs), by=["drug_id", "cp_dose"])
    expect = obs.groupby(["drug_id", "cp_dose"]).size()
    assert out.obs["n_replicates"].tolist() == expect.tolist()
    assert out.obs.index[0] == "a|D1"
    with pytest.raises(gm.DataError, match="no column"):
        pp.consensus(_profiles(X, xp, obs=obs), by="pert_iname")
    obs.iloc[2, obs.columns.get_loc("drug_id")] = None
    with pytest.raises(gm.DataError, match="s2"):
        pp.consensus(_profiles(X, xp, obs=obs))
