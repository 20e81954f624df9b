"""Named fast paths of gpu_moa._backend._kernels against plain definitions."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg

import gpu_moa as gm
from gpu_moa import _backend
from gpu_moa._backend import _kernels, eigh_top, interp_levels, sort_columns


def _plain_levels(X, q):
    """The definition, one column and one direction at a time, in the given value order."""
    nq = q.shape[0]
    levels = np.linspace(0.0, 1.0, nq)
    out = np.empty_like(X)
    for j in range(X.shape[1]):
        x, col = X[:, j], q[:, j]
        up = np.interp(x, col, levels)
        down = np.interp(-x, -col[::-1], -levels[::-1])
        out[:, j] = 0.5 * (up - down)
    return out


def test_interp_levels_equal_plain_interp(xp, rng):
    X = rng.standard_normal((301, 7))
    X[::5, 2] = 0.25  # tied values
    X[3, 4], X[9, 4] = -9.0, 9.0  # outside the quantile range
    X[::7, 5] = -0.0
    q = np.sort(rng.standard_normal((40, 7)), axis=0)
    q[10:18, 1] = q[10, 1]  # repeated quantiles (the two directions differ there)
    X[:50, 1] = q[10, 1]
    got = gm.to_numpy(interp_levels(xp.asarray(X), xp.asarray(q)))
    want = _plain_levels(X, q)
    if xp.__name__.endswith("numpy"):
        np.testing.assert_array_equal(got, want)  # the NumPy path: the same values exactly
    else:
        np.testing.assert_allclose(got, want, atol=1e-12)


def test_interp_levels_of_float32_equal_widened_values(xp, rng):
    """A float32 input gives the levels of its float64 widening (sorting first keeps order)."""
    X = rng.standard_normal((257, 5)).astype(np.float32)
    X[::3, 0] = np.float32(0.5)  # ties
    q = np.sort(rng.standard_normal((33, 5)), axis=0)
    got = interp_levels(xp.asarray(X), xp.asarray(q))
    assert got.dtype == xp.float64
    want = _plain_levels(X.astype(np.float64), q)
    np.testing.assert_allclose(gm.to_numpy(got), want, rtol=0, atol=1e-12)


def test_sort_columns_equal_numpy_sort(xp, rng):
    X = rng.standard_normal((123, 9)).astype(np.float32)
    X[::4, 3] = np.float32(-1.5)
    got = sort_columns(xp.asarray(X)[:, 2:8])  # a column slice, not contiguous
    assert tuple(got.shape) == (123, 6)
    np.testing.assert_array_equal(gm.to_numpy(got), np.sort(X[:, 2:8], axis=0))


def _with_spectrum(rng, eigvals):
    """A symmetric matrix with the given eigenvalues and random eigenvectors."""
    p = eigvals.shape[0]
    Q = np.linalg.qr(rng.standard_normal((p, p)))[0]
    S = (Q * eigvals) @ Q.T
    return (S + S.T) / 2


@pytest.mark.parametrize("spectrum", ["decaying", "steep", "flat"])
def test_eigh_top_equals_float64_eigh(xp, rng, refinements, spectrum):
    """The float32 start refined in float64 gives the float64 pairs; where float32 cannot resolve
    the pairs (a flat spectrum: the refinement cannot certify them) the float64 solver does."""
    p, k = 200, 8  # k + 10 <= p / 8: the float32 start is tried
    eigvals = {
        "decaying": 1.0 / np.arange(1.0, p + 1),
        # the top k span 8 decades: float32 (resolution ~1e-7 of the largest) loses the smallest
        "steep": np.concatenate([np.logspace(0, -10, k + 2), np.full(p - k - 2, 1e-12)]),
        "flat": 1.0 + 1e-3 * rng.random(p),
    }[spectrum]
    S = _with_spectrum(rng, eigvals)
    outcomes = refinements
    vals, vecs = eigh_top(xp.asarray(S), k)
    if _backend.is_numpy_namespace(xp):  # the float32 start is tried on the NumPy path only
        assert outcomes == [{"decaying": True, "steep": True, "flat": False}[spectrum]]
    else:
        assert outcomes == []
    want_vals, want_vecs = scipy.linalg.eigh(S, subset_by_index=[p - k, p - 1])
    want_vals, want_vecs = want_vals[::-1], want_vecs[:, ::-1]
    vals, vecs = gm.to_numpy(vals), gm.to_numpy(vecs)
    np.testing.assert_allclose(vals, want_vals, rtol=1e-9, atol=1e-14)
    np.testing.assert_allclose(np.abs(np.sum(vecs * want_vecs, axis=0)), 1.0, atol=1e-9)
    np.testing.assert_allclose(vecs.T @ vecs, np.eye(k), atol=1e-12)
    if spectrum == "steep":  # the float32 pairs alone are far off for the smallest
        start = scipy.linalg.eigh(S.astype(np.float32), subset_by_index=[p - k, p - 1])[0]
        assert abs(start[0] - want_vals[-1]) > want_vals[-1]


def test_eigh_top_of_many_pairs_takes_the_float64_solver(xp, rng, monkeypatch):
    p, k = 120, 60
    S = _with_spectrum(rng, 1.0 / np.arange(1.0, p + 1))
    monkeypatch.setattr(_kernels, "_refine_top", None)  # never called
    vals, vecs = eigh_top(xp.asarray(S), k)
    want_vals, want_vecs = scipy.linalg.eigh(S, subset_by_index=[p - k, p - 1])
    np.testing.assert_allclose(gm.to_numpy(vals), want_vals[::-1], rtol=1e-10)
    cos = np.abs(np.sum(gm.to_numpy(vecs) * want_vecs[:, ::-1], axis=0))
    np.testing.assert_allclose(cos, 1.0, atol=1e-9)


def test_usable_cores_follow_the_affinity_mask(monkeypatch):
    """A batch job's core allocation (affinity) bounds the worker threads, not the host's size."""
    import os

    from gpu_moa._backend import usable_cores

    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 3}, raising=False)
    monkeypatch.setattr(os, "cpu_count", lambda: 64)
    assert usable_cores() == 2
    monkeypatch.delattr(os, "sched_getaffinity")
    assert usable_cores() == 64


def test_side_tasks_return_every_result_in_order(xp):
    """Side tasks give ``fn`` over their items in order wherever each call ran, beside the
    caller's own ordered_map, whose results are unchanged."""
    import time

    from gpu_moa._backend import ordered_map, side_tasks

    def own(i):
        time.sleep(0.01 * (i == 2))
        return i * i

    with side_tasks(lambda i: -i, list(range(9)), xp) as results:
        assert list(ordered_map(own, [0, 1, 2], xp)) == [0, 1, 4]
        assert results() == [-i for i in range(9)]
    with side_tasks(lambda i: -i, [], xp) as results:
        assert results() == []


def test_idle_ordered_map_workers_take_side_tasks(monkeypatch):
    """NumPy path on two cores: while one long item of a hosting map runs, the idle worker takes
    side tasks (a map that does not host them leaves them alone), each with BLAS on one thread
    (as in results(), which runs the rest); a side task's error is raised by results(), and no
    block stays registered."""
    import time

    import array_api_compat.numpy as xp
    from threadpoolctl import threadpool_info

    from gpu_moa._backend import ordered_map, side_tasks

    monkeypatch.setattr(_kernels, "usable_cores", lambda: 2)
    ran: dict[int, list[int]] = {}

    def side(i):
        ran[i] = [m["num_threads"] for m in threadpool_info() if m["user_api"] == "blas"]
        time.sleep(0.05)
        return i

    def own(i):
        time.sleep(0.5 if i == 2 else 0.0)
        return i

    with side_tasks(side, list(range(40)), xp) as results:
        assert list(ordered_map(own, [0, 1, 2], xp)) == [0, 1, 2]
        assert ran == {}  # a map that does not host them leaves them alone
        assert list(ordered_map(own, [0, 1, 2], xp, host_side_tasks=True)) == [0, 1, 2]
        during = set(ran)
        assert results() == list(range(40))
    assert 1 <= len(during) < 40  # the idle worker took some while item 2 ran
    assert all(blas == [1] * len(blas) for blas in ran.values())
    with pytest.raises(ZeroDivisionError):
        with side_tasks(lambda i: 1 / i, [1, 0, 2], xp) as results:
            results()
    assert _kernels._SIDE == []


@pytest.mark.parametrize("n_cols", [None, 5, 70])
def test_segment_sum_equals_per_segment_sums(xp, rng, n_cols):
    """Sums of consecutive row segments in float64, against a loop over the segments (70
    columns: three column chunks on the NumPy path, each summed exactly as in one pass)."""
    from gpu_moa._backend import segment_sum

    counts = np.array([3, 1, 7, 2, 12, 1])
    shape = (counts.sum(),) if n_cols is None else (counts.sum(), n_cols)
    values = (rng.standard_normal(shape) * 1e3).astype(np.float32)
    got = gm.to_numpy(segment_sum(xp.asarray(values), counts))
    stops = np.cumsum(counts)
    segments = zip(stops - counts, stops, strict=True)
    want = np.stack([values[a:b].astype(np.float64).sum(axis=0) for a, b in segments])
    assert got.dtype == np.float64 and got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-9)
    if n_cols == 70 and _backend.is_numpy_namespace(xp):  # chunks: the one-pass values exactly
        one_pass = np.add.reduceat(values, stops - counts, axis=0, dtype=np.float64)
        np.testing.assert_array_equal(got, one_pass)
