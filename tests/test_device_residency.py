"""Every public computation runs on array-api-strict's second device, equal to its NumPy result,
within a host-transfer budget.

``Device("device1")`` refuses implicit conversion to NumPy and mixing devices, as CuPy does, so
these tests catch on the CPU what would only fail on a GPU. The budget: bytes copied to the host
(counted by ``gm.track_transfers``) at most the size of the host result an operation returns plus
16 bytes per row of bookkeeping; fits may add a few scalars per label and iteration; nothing of
the size rows x features or rows x labels.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import gpu_moa as gm

DEVICE = "array_api_strict:device1"


@pytest.fixture(scope="module")
def host(small_lish_moa):
    """About 600 rows of the small preset, whole drugs, controls included (NumPy)."""
    drugs = small_lish_moa.obs["drug_id"].unique()[:100]
    return small_lish_moa[small_lish_moa.obs["drug_id"].isin(drugs).to_numpy()]


@pytest.fixture(scope="module")
def dev(host):
    return host.to(DEVICE)


def _on_device1(a):
    import array_api_strict

    return a.device == array_api_strict.Device("device1")


def _nbytes(result) -> int:
    if isinstance(result, pd.DataFrame | pd.Series):
        return int(np.sum(result.memory_usage(index=True, deep=False)))
    if isinstance(result, np.ndarray):
        return result.nbytes
    return 8


def _check_budget(log, n_rows: int, result=None, extra: int = 0, big: tuple[int, ...] = ()):
    """At most the host result + 16 B per row (+ extra); no copy as large as ``big`` blocks."""
    budget = (0 if result is None else _nbytes(result)) + 16 * n_rows + extra
    assert log.bytes_to_host <= budget, [c for c in log.calls if c.direction == "to_host"]
    largest = log.largest("to_host")
    for size in big:
        assert largest is None or largest.nbytes < size, largest


def _blocks(p):
    """Sizes of the forbidden copies: rows x features and rows x labels (float32)."""
    return (p.n_obs * p.n_vars * 4, p.n_obs * len(p.label_names) * 4)


@pytest.mark.parametrize("metric", ["pearson", "spearman", "cosine"])
def test_similarity_topk(host, dev, metric):
    want = gm.tl.similarity_topk(host.X, k=7, metric=metric)
    with gm.track_transfers() as log:
        got = gm.tl.similarity_topk(dev.X, k=7, metric=metric)
    assert all(_on_device1(a) for a in got)
    np.testing.assert_array_equal(gm.to_numpy(got[0]), want[0])
    np.testing.assert_allclose(gm.to_numpy(got[1]), want[1], atol=1e-5)
    _check_budget(log, host.n_obs, big=_blocks(host))


@pytest.mark.parametrize(
    "op",
    [
        lambda p: gm.pp.scale(p),
        lambda p: gm.pp.rank_gauss(p),
        lambda p: gm.pp.normalize(p, by="cp_time"),
        lambda p: gm.pp.normalize(p, method="robust_mad"),
        lambda p: gm.pp.consensus(gm.pp.drop_controls(p), by="drug_id", method="modz"),
    ],
    ids=["scale", "rank_gauss", "normalize", "normalize_mad", "consensus_modz"],
)
def test_preprocessing(host, dev, op):
    want = op(host)
    with gm.track_transfers() as log:
        got = op(dev)
    assert _on_device1(got.X)
    np.testing.assert_allclose(gm.to_numpy(got.X), want.X, rtol=1e-4, atol=1e-4)
    _check_budget(log, host.n_obs, big=_blocks(host))


def test_pca(host, dev):
    want = gm.tl.pca(host, n_comps=10)
    with gm.track_transfers() as log:
        got = gm.tl.pca(dev, n_comps=10)
    assert _on_device1(got.obsm["X_pca"])
    np.testing.assert_allclose(
        np.abs(gm.to_numpy(got.obsm["X_pca"])), np.abs(want.obsm["X_pca"]), rtol=1e-3, atol=1e-3
    )
    _check_budget(log, host.n_obs, big=_blocks(host))


def test_predict_moa_and_match(host, dev):
    treated_h, treated_d = gm.pp.drop_controls(host), gm.pp.drop_controls(dev)
    want = gm.tl.predict_moa(host[:50], treated_h, k=5)
    with gm.track_transfers() as log:
        got = gm.tl.predict_moa(dev[:50], treated_d, k=5)
    assert _on_device1(got)
    np.testing.assert_allclose(gm.to_numpy(got), want, rtol=1e-5, atol=1e-6)
    _check_budget(log, host.n_obs, big=_blocks(host))
    want_hits = gm.tl.match(host[:20], treated_h, k=3)
    with gm.track_transfers() as log:
        hits = gm.tl.match(dev[:20], treated_d, k=3)
    pd.testing.assert_frame_equal(hits, want_hits, check_exact=False, rtol=1e-5)
    _check_budget(log, host.n_obs, result=hits, big=_blocks(host))


def test_retrieval_metrics(host, dev):
    p_h, p_d = gm.pp.drop_controls(host), gm.pp.drop_controls(dev)
    want = gm.metrics.retrieval_map(p_h)
    with gm.track_transfers() as log:
        got = gm.metrics.retrieval_map(p_d)
    assert got == pytest.approx(want, rel=1e-5)
    _check_budget(log, host.n_obs, big=_blocks(host))
    with gm.track_transfers() as log:
        rate = gm.metrics.knn_hit_rate(p_d, k=5)
        prec = gm.metrics.precision_at_k(p_d, k=5)
    assert rate == pytest.approx(gm.metrics.knn_hit_rate(p_h, k=5))
    assert prec == pytest.approx(gm.metrics.precision_at_k(p_h, k=5))
    _check_budget(log, 2 * host.n_obs, big=_blocks(host))


def test_loss_and_auc(host, dev):
    rng = np.random.default_rng(0)
    P = rng.uniform(0.001, 0.2, size=(host.n_obs, len(host.label_names))).astype(np.float32)
    P_d = gm.to_device(P, dev.X)
    with gm.track_transfers() as log:
        loss = gm.metrics.multilabel_log_loss(dev.Y, P_d)
        auc = gm.metrics.per_label_auc(dev.Y, P_d, labels=host.label_names)
    assert loss == pytest.approx(gm.metrics.multilabel_log_loss(host.Y, P), rel=1e-9)
    pd.testing.assert_series_equal(
        auc, gm.metrics.per_label_auc(host.Y, P, labels=host.label_names)
    )
    _check_budget(log, 0, result=auc, extra=8, big=_blocks(host))


def test_logistic_fit_and_cross_validate(host, dev):
    p_h, p_d = gm.pp.drop_controls(host), gm.pp.drop_controls(dev)
    model = gm.models.MultilabelLogistic(C=0.01, max_iter=30)
    want = gm.models.MultilabelLogistic(C=0.01, max_iter=30).fit(p_h.X, p_h.Y)
    with gm.track_transfers() as log:
        got = model.fit(p_d.X, p_d.Y)
    assert _on_device1(got.coef_)
    np.testing.assert_allclose(gm.to_numpy(got.coef_), want.coef_, rtol=1e-3, atol=1e-5)
    K = len(host.label_names)
    # a few float64 scalars per label and iteration, never the coefficient matrix per iteration
    _check_budget(log, p_h.n_obs, extra=8 * 8 * K * 31, big=_blocks(p_h) + (8 * K * host.n_vars,))
    folds = gm.metrics.drug_grouped_folds(host, n_splits=2, random_state=0)
    with gm.settings.override(progress=False):
        want_cv = gm.models.cross_validate(model, host, folds=folds, features="raw")
        with gm.track_transfers() as log:
            got_cv = gm.models.cross_validate(model, dev, folds=folds, features="raw")
    assert got_cv.log_loss == pytest.approx(want_cv.log_loss, rel=1e-4)
    np.testing.assert_allclose(got_cv.oof.to_numpy(), want_cv.oof.to_numpy(), atol=1e-5)
    # the returned out-of-fold table once, plus the fits' scalars
    _check_budget(log, host.n_obs, result=got_cv.oof, extra=2 * 8 * 8 * K * 31 + 16 * K * 8)


def test_moa_features(host, dev):
    feats_h = gm.models.MoaFeatures("rank_gauss+pca").fit(host)
    feats_d = gm.models.MoaFeatures("rank_gauss+pca")
    with gm.track_transfers() as log:
        X_d = feats_d.fit(dev).transform(dev)
    assert _on_device1(X_d)
    np.testing.assert_allclose(
        np.abs(gm.to_numpy(X_d)), np.abs(gm.to_numpy(feats_h.transform(host))), atol=2e-3
    )
    # the fitted quantiles and PCA loadings are model state kept on the host (p x components)
    state = sum(a.nbytes for a in feats_h.arrays_.values())
    _check_budget(log, host.n_obs, extra=state, big=_blocks(host))


@pytest.mark.parametrize(
    "op",
    [
        lambda p: gm.eda.label_frequencies(p),
        lambda p: gm.eda.top_variance(p, kind="cell", n=3),
        lambda p: gm.eda.feature_variance(p),
        lambda p: gm.eda.drug_ranks(p, cell="c-0"),
        lambda p: gm.eda.replicate_reproducibility(gm.pp.drop_controls(p)),
        lambda p: gm.eda.moa_enrichment(p, cell="c-0", threshold=-1.0),
    ],
    ids=[
        "label_frequencies",
        "top_variance",
        "feature_variance",
        "drug_ranks",
        "replicates",
        "moa_enrichment",
    ],
)
def test_eda_tables(host, dev, op):
    want = op(host)
    with gm.track_transfers() as log:
        got = op(dev)
    pd.testing.assert_frame_equal(got, want, check_exact=False, rtol=1e-4, atol=1e-5)
    _check_budget(log, host.n_obs, result=got, big=_blocks(host))


def test_transfer_log_counts_and_names_the_caller():
    x = np.arange(12, dtype=np.float32).reshape(3, 4)
    with gm.track_transfers() as log:
        d = gm.to_device(x, DEVICE)
        back = gm.to_numpy(d)
    np.testing.assert_array_equal(back, x)
    assert (log.bytes_to_device, log.bytes_to_host) == (48, 48)
    assert [c.direction for c in log.calls] == ["to_device", "to_host"]
    assert all("test_device_residency" in c.where for c in log.calls)
    with gm.track_transfers() as outer:
        gm.to_numpy(x)  # host NumPy never counts
    assert outer.calls == []


def test_run_stages_on_device1_equal_the_cpu_run(small_lish_moa, tmp_path):
    """The whole main job (every stage, --quick settings) on device1 = on NumPy, and no stage
    copies a rows x labels matrix to the host."""
    from gpu_moa import run

    metrics = {}
    for device in ("cpu", DEVICE):
        with gm.settings.override(device=device, progress=False):
            ctx = run.RunContext(
                train=small_lish_moa.to(device),
                test=None,
                out=tmp_path / device.replace(":", "_"),
                device=device,
                quick=True,
            )
            with gm.track_transfers() as log:
                run.run_stages(ctx)
        metrics[device] = ctx.metrics
        largest = log.largest("to_host")
        n, K = small_lish_moa.n_obs, len(small_lish_moa.label_names)
        assert largest is None or largest.nbytes < n * K * 4, largest
    assert set(metrics[DEVICE]) == set(metrics["cpu"]) >= set(run.STAGES) - {"summary"}
    for stage in ("data", "labels", "eda", "connectivity"):
        assert metrics[DEVICE][stage] == metrics["cpu"][stage], stage
    for stage, rel in (("matching", 1e-5), ("baseline", 1e-6)):
        numbers = _numbers(metrics["cpu"][stage])
        assert _numbers(metrics[DEVICE][stage]) == pytest.approx(numbers, rel=rel), stage
    pca_dev, pca_cpu = (metrics[d]["embedding"]["pca"] for d in (DEVICE, "cpu"))
    assert _numbers(pca_dev) == pytest.approx(_numbers(pca_cpu), rel=1e-3)


def _numbers(metrics: dict) -> dict:
    """The numbers of a stage's metrics, nested dicts flattened (``weights.logistic``)."""
    out = {}
    for key, value in metrics.items():
        if isinstance(value, dict):
            out |= {f"{key}.{k}": v for k, v in _numbers(value).items()}
        elif isinstance(value, int | float) and not isinstance(value, bool):
            out[key] = value
    return out


def test_drug_grouped_folds_from_device_labels(host, dev):
    want = gm.metrics.drug_grouped_folds(host, n_splits=3, random_state=1)
    with gm.track_transfers() as log:
        got = gm.metrics.drug_grouped_folds(dev, n_splits=3, random_state=1)
    for (t_got, v_got), (t_want, v_want) in zip(got, want, strict=True):
        np.testing.assert_array_equal(t_got, t_want)
        np.testing.assert_array_equal(v_got, v_want)
    # drugs x labels int8 plus the rows of large drugs (split row by row), never float32 rows
    sizes = host.obs["drug_id"].value_counts()
    n_small, n_large_rows = int((sizes <= 18).sum()), int(sizes[sizes > 18].sum())
    K = len(host.label_names)
    assert log.bytes_to_host <= (n_small + n_large_rows) * K + 16 * host.n_obs
    assert log.bytes_to_host < host.n_obs * K * 4 / 3
