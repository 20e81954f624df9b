"""``_backend.average_precision_rows`` against scikit-learn's average precision, row by row."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import average_precision_score

from gpu_moa import _backend
from gpu_moa._backend import _ranking


def _oracle(S: np.ndarray, pos: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """sklearn's AP on each row's candidates (finite scores); 0 for rows without positives."""
    ap, n_pos = np.zeros(S.shape[0]), pos.sum(axis=1).astype(float)
    for i in range(S.shape[0]):
        cand = np.isfinite(S[i])
        if n_pos[i]:
            ap[i] = average_precision_score(pos[i, cand], S[i, cand].astype(np.float64))
    return ap, n_pos


def _block(rng, b: int, n: int, most: int) -> tuple[np.ndarray, np.ndarray]:
    """Scores on 7 levels (many ties, -0.0 and +0.0 mixed), -inf non-candidates, at most
    ``most`` positives per row; a row without candidates, one without positives and one where
    every candidate is positive."""
    S = (rng.integers(-3, 4, size=(b, n)) / 2).astype(np.float32)
    S = np.where((S == 0) & (rng.random((b, n)) < 0.5), np.float32(-0.0), S)
    S[rng.random((b, n)) < 0.2] = -np.inf
    pos = (rng.random((b, n)) < rng.random((b, 1))) & np.isfinite(S)
    pos &= np.cumsum(pos, axis=1) <= most
    S[0] = -np.inf
    pos[0] = False
    if b > 2:
        pos[1] = False
        S[2, 0] = 0.5  # at least one candidate
        pos[2] = np.isfinite(S[2])
    return S, pos


def _check(S: np.ndarray, pos: np.ndarray, xp) -> None:
    ap, n_pos = _backend.average_precision_rows(xp.asarray(S), xp.asarray(pos))
    ap, n_pos = _backend.to_numpy(ap), _backend.to_numpy(n_pos)
    ref_ap, ref_pos = _oracle(S, pos)
    assert ap.dtype == np.float64 and n_pos.dtype == np.float64
    np.testing.assert_array_equal(n_pos, ref_pos)
    np.testing.assert_allclose(ap, ref_ap, rtol=1e-12, atol=1e-14)  # float64 on every path


@pytest.mark.parametrize("b, n", [(1, 1), (5, 1), (7, 13), (33, 5), (17, 64)])
@pytest.mark.parametrize("most", [1, 4, 1000])  # NumPy: counting path up to 4, sorting path above
def test_matches_sklearn(xp, rng, b, n, most):
    S, pos = _block(rng, b, n, most)
    _check(S, pos, xp)


def test_signed_zeros_tie(xp):
    """-0.0 and +0.0 are one threshold: [0.0 (neg), -0.0 (pos), 1.0 (pos)] -> (1 + 2/3) / 2."""
    S = np.array([[0.0, -0.0, 1.0], [-0.0, 0.0, -np.inf]], dtype=np.float32)
    pos = np.array([[False, True, True], [False, True, False]])
    ap, _ = _backend.average_precision_rows(xp.asarray(S), xp.asarray(pos))
    np.testing.assert_allclose(_backend.to_numpy(ap), [5 / 6, 1 / 2], rtol=1e-6)
    _check(S, pos, xp)


def test_hand_computed_ties(xp):
    """Scores 3, 2, 2, 1 with positives at a tied 2 and at 1: (1/3 + 2/4) / 2 = 5/12."""
    S = np.array([[3.0, 2.0, 2.0, 1.0]], dtype=np.float32)
    pos = np.array([[False, True, False, True]])
    ap, n_pos = _backend.average_precision_rows(xp.asarray(S), xp.asarray(pos))
    np.testing.assert_allclose(_backend.to_numpy(ap), [5 / 12], rtol=1e-6)
    np.testing.assert_array_equal(_backend.to_numpy(n_pos), [2.0])


@pytest.mark.parametrize("few", [0, 1000])
def test_numpy_paths_agree_with_sklearn(rng, monkeypatch, few):
    """Both NumPy strategies (counting, sorting) on continuous scores, float64, Fortran order."""
    monkeypatch.setattr(_ranking, "FEW_POSITIVES", few)
    S = rng.standard_normal((40, 301)).astype(np.float32)
    S[rng.random(S.shape) < 0.1] = -np.inf
    pos = (rng.random(S.shape) < 0.03) & np.isfinite(S)
    _check(S, pos, np)
    _check(np.asfortranarray(S.astype(np.float64)), pos, np)
    S[:, ::7] = np.round(S[:, ::7], 1)  # some ties
    _check(S, pos, np)
