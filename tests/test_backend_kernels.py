"""Named fast paths of gpu_moa._backend._kernels against plain definitions."""

from __future__ import annotations

import numpy as np

import gpu_moa as gm
from gpu_moa._backend import interp_levels, sort_columns


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
