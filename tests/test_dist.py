"""The Dask-partitioned engine equals the in-memory results (2-worker LocalCluster, odd partitions)."""

from __future__ import annotations

import argparse
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

import gpu_moa as gm
from gpu_moa.cli import _cluster

pytest.importorskip("distributed")

ODD = 37  # rows per partition: never divides the test matrices evenly


@pytest.fixture(scope="module")
def dask_cluster():
    """One 2-worker LocalCluster of processes for the module (serialisation is exercised)."""
    with (
        gm.settings.override(progress=False),
        gm.dist.cluster("cpu", n_workers=2, processes=True, dashboard_address=":0") as c,
    ):
        yield c


@pytest.fixture
def X(rng):
    """A 203 x 11 float32 matrix with correlated, off-centre columns."""
    mix = rng.normal(size=(11, 11))
    return (rng.normal(2.0, 3.0, size=(203, 11)) @ mix).astype(np.float32)


def test_import_does_not_load_dask():
    code = (
        "import sys, gpu_moa as gm; gm.dist.__doc__; "
        "bad = [m for m in sys.modules if m.split('.')[0] in ('dask', 'distributed')]; "
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_cluster_context_manager(dask_cluster):
    assert dask_cluster.n_workers == 2
    assert dask_cluster.kind == "cpu"
    assert gm.dist.compute(gm.dist.to_dask(np.ones((5, 2)), chunk_rows=2).sum())[0] == 10


def test_cluster_threads_shuts_down():
    with gm.dist.cluster("cpu", n_workers=1, dashboard_address=":0") as c:
        local = c.local_cluster
        assert c.n_workers == 1
    assert local.status.name == "closed"


@pytest.mark.parametrize(
    ("module", "kind", "extra"),
    [("distributed", "cpu", "dask"), ("dask_cuda", "cuda", "dask-cuda")],
)
def test_cluster_missing_dask_names_the_extra(monkeypatch, module, kind, extra):
    monkeypatch.setitem(sys.modules, module, None)
    with pytest.raises(gm.BackendUnavailableError, match=rf"pip install 'gpu_moa\[{extra}\]'"):
        gm.dist.cluster(kind)


def test_cluster_bad_kind():
    with pytest.raises(ValueError, match="kind must be"):
        gm.dist.cluster("tpu")


def test_to_dask_keeps_chunks_and_meta(X):
    d = gm.dist.to_dask(X, chunk_rows=ODD)
    assert d.chunks[0][:2] == (ODD, ODD) and d.chunks[1] == (11,)
    assert type(d._meta) is np.ndarray and d.dtype == np.float32
    np.testing.assert_array_equal(d.compute(), X)
    p = gm.make_profiles(X, pd.DataFrame(index=[f"s{i}" for i in range(203)]), list("abcdefghijk"))
    assert gm.dist.to_dask(p, chunk_rows=50).chunks[0] == (50, 50, 50, 50, 3)
    with pytest.raises(ValueError, match="chunk_rows"):
        gm.dist.to_dask(X, chunk_rows=0)


def test_moments_equal_numpy(dask_cluster, X):
    m = gm.dist.moments(X, chunk_rows=ODD)
    X64 = X.astype(np.float64)
    assert m.count == 203
    np.testing.assert_allclose(m.mean, X64.mean(axis=0), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(m.var(ddof=1), X64.var(axis=0, ddof=1), rtol=1e-10)
    np.testing.assert_allclose(m.std(ddof=0), X64.std(axis=0), rtol=1e-10)


def test_merge_moments_chan_formula():
    from gpu_moa.dist._array import block_moments, merge_moments

    a = np.array([[1.0, 2.0], [3.0, 6.0]])
    b = np.array([[5.0, -2.0]])
    m = merge_moments(block_moments(a), block_moments(b))
    both = np.vstack([a, b])
    assert m.count == 3
    np.testing.assert_allclose(m.mean, [3.0, 2.0])
    np.testing.assert_allclose(m.M2, ((both - both.mean(0)) ** 2).sum(0))


def test_pca_fit_equals_sklearn(dask_cluster, X):
    from sklearn.decomposition import PCA

    fit = gm.dist.pca_fit(X, n_comps=4, chunk_rows=ODD)
    ref = PCA(n_components=4).fit(X.astype(np.float64))
    signs = np.sign(ref.components_[np.arange(4), np.abs(ref.components_).argmax(1)])
    np.testing.assert_allclose(fit.components_, ref.components_ * signs[:, None], atol=1e-4)
    np.testing.assert_allclose(fit.explained_variance_, ref.explained_variance_, rtol=1e-4)
    np.testing.assert_allclose(fit.mean_, ref.mean_, rtol=1e-5)


def test_pca_profiles_equals_single_device(dask_cluster, X):
    p = gm.make_profiles(X, pd.DataFrame(index=[f"s{i}" for i in range(203)]), list("abcdefghijk"))
    got = gm.dist.pca(p, n_comps=3, chunk_rows=ODD)
    want = gm.tl.pca(p, n_comps=3)
    np.testing.assert_allclose(got.obsm["X_pca"], want.obsm["X_pca"], rtol=1e-4, atol=1e-3)


def test_cli_options_parse():
    parser = argparse.ArgumentParser()
    _cluster.add_cluster_options(parser)
    args = parser.parse_args(["--cluster", "cpu", "--partitions", "3"])
    assert (args.cluster, args.partitions) == ("cpu", 3)
    assert _cluster.chunk_rows_for(100, args) == 34
    with pytest.raises(SystemExit):
        parser.parse_args(["--partitions", "0"])
    with _cluster.cluster_from_args(parser.parse_args([])) as c:
        assert c is None


# ----------------------------------------------------------------------------- preprocessing
@pytest.fixture(scope="module")
def lish(small_lish_moa):
    """The first 600 rows of the small synthetic set (controls included)."""
    return small_lish_moa[np.arange(600)]


@pytest.mark.parametrize(
    "kw",
    [
        {},
        {"by": "cp_time"},
        {"method": "robust_mad", "by": ["cp_time", "cp_dose"]},
        {"reference": "all"},
    ],
)
def test_normalize_equals_single_device(dask_cluster, lish, kw):
    from scipy import stats

    got = gm.dist.normalize(lish, chunk_rows=ODD, **kw)
    np.testing.assert_allclose(got.X, gm.pp.normalize(lish, **kw).X, rtol=1e-6, atol=1e-6)
    if not kw:  # oracle: scipy z-score against the controls' mean and population sd
        X = lish.X.astype(np.float64)
        ctl = X[(lish.obs["cp_type"] == "ctl_vehicle").to_numpy()]
        want = (X - ctl.mean(0)) / (
            stats.tstd(ctl, axis=0) * np.sqrt((len(ctl) - 1) / len(ctl)) + 1e-6
        )
        np.testing.assert_allclose(got.X, want, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("method", ["mean", "median", "modz"])
def test_consensus_equals_single_device(dask_cluster, lish, method):
    treated = gm.pp.drop_controls(lish)
    got = gm.dist.consensus(treated, method=method, chunk_rows=ODD)
    want = gm.pp.consensus(treated, method=method)
    pd.testing.assert_frame_equal(got.obs, want.obs)
    np.testing.assert_allclose(got.X, want.X, rtol=1e-6, atol=1e-6)
    np.testing.assert_array_equal(got.Y, want.Y)
    if method == "mean":  # oracle: pandas groupby mean
        frame = pd.DataFrame(treated.X.astype(np.float64), index=treated.obs["drug_id"].to_numpy())
        np.testing.assert_allclose(got.X, frame.groupby(level=0).mean().to_numpy(), rtol=1e-5)


# ----------------------------------------------------------------------------- similarity
def _oracle_topk(A, R, k, exclude_self=False):
    """Stable ranking of the float64 Pearson matrix (ties: lower index), by hand."""

    def unit(M):
        M = M.astype(np.float64) - M.mean(1, keepdims=True)
        return M / np.linalg.norm(M, axis=1, keepdims=True)

    S = np.round(unit(A) @ unit(R).T, 5)
    if exclude_self:
        np.fill_diagonal(S, -np.inf)
    order = np.argsort(-S, axis=1, kind="stable")[:, :k]
    return order, np.take_along_axis(S, order, axis=1)


@pytest.mark.parametrize("metric", ["pearson", "spearman", "cosine"])
def test_similarity_topk_query_vs_reference(dask_cluster, rng, metric):
    A = rng.normal(size=(41, 25)).astype(np.float32)
    R = rng.normal(size=(203, 25)).astype(np.float32)
    R[150] = R[3]  # an exact tie across partitions: the lower index must come first
    A[0] = R[3]
    idx, scores = gm.dist.similarity_topk(A, R, k=6, metric=metric, chunk_rows=ODD)
    want_idx, want_scores = gm.tl.similarity_topk(A, R, k=6, metric=metric)
    np.testing.assert_array_equal(idx, want_idx)
    np.testing.assert_allclose(scores, want_scores, rtol=1e-6, atol=1e-6)
    np.testing.assert_array_equal(idx[0, :2], [3, 150])
    if metric == "pearson":
        o_idx, o_scores = _oracle_topk(A, R, 6)
        np.testing.assert_array_equal(idx, o_idx)
        np.testing.assert_allclose(scores, o_scores, atol=1e-5)


def test_similarity_topk_all_vs_all_and_groups(dask_cluster, rng):
    A = rng.normal(size=(119, 20)).astype(np.float32)
    idx, scores = gm.dist.similarity_topk(A, k=5, chunk_rows=ODD)
    np.testing.assert_array_equal(idx, _oracle_topk(A, A, 5, exclude_self=True)[0])
    groups = (rng.integers(0, 9, 119), rng.integers(0, 9, 119))
    got = gm.dist.similarity_topk(A, A, k=5, exclude_groups=groups, chunk_rows=ODD)
    want = gm.tl.similarity_topk(A, A, k=5, exclude_groups=groups)
    np.testing.assert_array_equal(got[0], want[0])
    small = gm.dist.similarity_topk(A[:4], k=10, chunk_rows=3)  # k larger than the reference
    assert small[0].shape == (4, 3)


@pytest.mark.parametrize("exclude_self", [True, False])
def test_similarity_topk_all_vs_all_symmetric_pairs_equal_single_device(
    dask_cluster, rng, exclude_self
):
    """All-vs-all runs each off-diagonal pair of partitions once (both directions from one
    product): equal to the single-device search, exact ties and groups included."""
    A = np.repeat(rng.integers(-2, 3, size=(40, 12)), 3, axis=0).astype(np.float32)  # ties
    groups = rng.integers(0, 15, 120)
    for kw in ({}, {"exclude_groups": (groups, groups)}):
        idx, scores = gm.dist.similarity_topk(
            A, k=7, exclude_self=exclude_self, chunk_rows=ODD, block_rows=16, **kw
        )
        want_idx, want_scores = gm.tl.similarity_topk(A, k=7, exclude_self=exclude_self, **kw)
        np.testing.assert_array_equal(idx, want_idx)
        np.testing.assert_allclose(scores, want_scores, atol=1e-6)


@pytest.mark.parametrize("fmt", ["gctx", "parquet"])
def test_similarity_topk_stream_equals_in_memory(tmp_path, rng, fmt):
    R = rng.normal(size=(203, 12)).astype(np.float32)
    p = gm.make_profiles(
        R, pd.DataFrame(index=[f"s{i}" for i in range(203)]), [f"g-{i}" for i in range(12)]
    )
    path = tmp_path / f"ref.{fmt}"
    if fmt == "gctx":
        gm.io.write_gctx(p, path)
    else:
        gm.io.write_parquet(p, path, row_group_size=50)
    A = rng.normal(size=(9, 12)).astype(np.float32)
    with gm.settings.override(progress=False):
        idx, scores = gm.dist.similarity_topk_stream(A, path, k=4, chunk_rows=ODD)
    want = gm.tl.similarity_topk(A, R, k=4)
    np.testing.assert_array_equal(idx, want[0])
    np.testing.assert_allclose(scores, want[1], rtol=1e-6)


def test_similarity_topk_stream_on_cluster(dask_cluster, tmp_path, rng):
    R = rng.normal(size=(150, 8)).astype(np.float32)
    p = gm.make_profiles(
        R, pd.DataFrame(index=[f"s{i}" for i in range(150)]), [f"g-{i}" for i in range(8)]
    )
    gm.io.write_gctx(p, tmp_path / "ref.gctx")
    A = rng.normal(size=(5, 8)).astype(np.float32)
    idx, _ = gm.dist.similarity_topk_stream(A, tmp_path / "ref.gctx", k=3, chunk_rows=ODD)
    np.testing.assert_array_equal(idx, _oracle_topk(A, R, 3)[0])


def test_similarity_topk_stream_bad_file(tmp_path):
    (tmp_path / "ref.csv").write_text("a,b\n1,2\n")
    with pytest.raises(gm.DataError, match="GCTX"):
        gm.dist.similarity_topk_stream(np.ones((1, 2)), tmp_path / "ref.csv", k=1)


# ----------------------------------------------------------------------------- logistic
def test_logistic_from_dask_equals_single_device(dask_cluster, small_lish_moa):
    from sklearn.linear_model import LogisticRegression

    p = gm.pp.drop_controls(small_lish_moa)[np.arange(400)]
    X = p.X[:, ::10]
    Y = p.Y[:, np.argsort(-p.Y.sum(0), kind="stable")[:4]]
    Y = np.concatenate([Y, np.zeros((400, 1), np.float32)], axis=1)  # a label with no positive
    rows = 3 * ODD  # 111: fewer partitions keep the L-BFGS round trips cheap
    Y[:rows, 0] = 1  # the first partition holds one class only for label 0
    kw = {"C": 0.05, "tol": 1e-6, "max_iter": 500}
    model = gm.dist.MultilabelLogistic(chunk_rows=rows, **kw).fit(
        gm.dist.to_dask(X, chunk_rows=rows), gm.dist.to_dask(Y, chunk_rows=rows)
    )
    single = gm.models.MultilabelLogistic(**kw).fit(X, Y)
    # two L-BFGS runs (scipy's on the client, ours on the device) stopping at tol 1e-6: equal
    # to ~1e-4; the order of the partition sums varies between runs, hence 1e-3
    np.testing.assert_allclose(model.predict_proba(X), single.predict_proba(X), atol=1e-3)
    np.testing.assert_allclose(model.coef_, single.coef_, atol=2e-3)
    np.testing.assert_allclose(model.intercept_[-1], single.intercept_[-1])  # the prior
    oracle = LogisticRegression(C=0.05, tol=1e-8, max_iter=5000).fit(X.astype(np.float64), Y[:, 1])
    np.testing.assert_allclose(model.coef_[1], oracle.coef_[0], atol=2e-3)
    np.testing.assert_allclose(model.intercept_[1], oracle.intercept_[0], atol=2e-3)
    with pytest.raises(ValueError, match="positive number"):
        gm.dist.MultilabelLogistic(C="auto").fit(X, Y)


# ----------------------------------------------------------------------------- command line
def test_match_cli_on_cluster_equals_single_device(tmp_path, tiny_lish_moa):
    from gpu_moa.cli import main

    train, _ = tiny_lish_moa
    gm.io.write_lish_moa(train, tmp_path / "data")
    common = ["match", str(tmp_path / "data"), "-r", str(tmp_path / "data"), "--quiet", "--k", "4"]
    assert main([*common, "-o", str(tmp_path / "single.csv")]) == 0
    assert (
        main([*common, "--cluster", "cpu", "--partitions", "3", "-o", str(tmp_path / "d.csv")]) == 0
    )
    pd.testing.assert_frame_equal(
        pd.read_csv(tmp_path / "d.csv"), pd.read_csv(tmp_path / "single.csv")
    )
