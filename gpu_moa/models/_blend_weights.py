"""Blend weights and the clipping range, chosen on out-of-fold predictions kept on the device.

The blend of ``M`` members' probability matrices ``P_m`` (n x K) is ``sum_m w_m P_m`` with
``w`` on the simplex (``w_m >= 0``, ``sum_m w_m = 1``), so it stays a probability. The weights
minimise the competition metric (mean over labels of the binary log loss, predictions clipped
to [1e-15, 1 - 1e-15]), which is convex in ``w``. Each evaluation of the loss and its gradient is
one pass over the device matrices that returns only ``K`` losses and ``K x M`` gradients to the
host, where SciPy's SLSQP takes the (tiny) optimisation steps.

Labels are 0/1, so an entry's loss is ``-log q`` with ``q = P`` for a positive and ``1 - P`` for
a negative (one logarithm, not two). On the simplex ``1 - sum_m w_m P_m = sum_m w_m (1 - P_m)``,
so the blend's ``q`` is the same weighted sum of the members' ``q_m``: the per-label lattice
search forms the ``q_m`` once and scores each weight vector with a multiply-add, a clip and a
logarithm. All passes go over row blocks that stay in the cache, each block read once for
every weight vector scored on it.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

import array_api_compat
import numpy as np
from scipy.optimize import minimize

from gpu_moa import _backend
from gpu_moa.metrics._loss import EPS

#: candidate lower clipping bounds (the upper bound candidates are ``1 - value``)
CLIP_GRID = (EPS, 1e-6, 3e-6, 1e-5, 3e-5, 1e-4, 3e-4, 1e-3)

#: the metric's upper clip; a negative's ``1 - P`` is clipped to ``[_LOW_NEG, HIGH]`` where
#: ``_LOW_NEG = 1 - (1 - EPS)`` is EPS as float64 rounds it
HIGH = 1.0 - EPS
_LOW_NEG = 1.0 - HIGH
#: a label whose members' ``q`` all exceed this never meets the lower clip, so its loss is
#: convex along the lattice (the clip at ``EPS`` caps ``-log q`` and could make it non-convex)
_SAFE_Q = 1e-14
#: elements of one row block (256 kB of float64: a few such temporaries stay in the cache)
_BLOCK = 1 << 15


def _row_blocks(n: int, K: int) -> list[slice]:
    step = max(1, _BLOCK // max(K, 1))
    return [slice(s, min(s + step, n)) for s in range(0, n, step)]


def _positives(Y: Any, like: Any) -> Any:
    xp = _backend.get_namespace(like)
    return xp.astype(_backend.to_device(Y, like), xp.bool)


def _q(P: Any, pos: Any) -> Any:
    """``P`` where the label is 1, ``1 - P`` where it is 0, in float64."""
    xp = _backend.get_namespace(P)
    P = xp.astype(P, xp.float64, copy=False)
    return xp.where(pos, P, 1.0 - P)


def _low_bounds(pos: Any) -> Any:
    """The metric's lower clip of ``q``, entry by entry (EPS for positives, ``_LOW_NEG`` else)."""
    xp = _backend.get_namespace(pos)
    low = xp.full(pos.shape, _LOW_NEG, dtype=xp.float64, device=array_api_compat.device(pos))
    return xp.where(pos, EPS, low)


def _lattice_terms(members: Sequence[Any], pos: Any) -> tuple[list[Any], Any]:
    """``[q_M, q_1 - q_M, ..., q_(M-1) - q_M]``, so that ``q(w) = q_M + sum_m w_m (q_m - q_M)``
    (members that agree give exactly flat losses), and each label's smallest ``q_m``."""
    xp = _backend.get_namespace(members[0])
    Qs = [_q(P, pos) for P in members]
    q_min = Qs[0]
    for Q in Qs[1:]:
        q_min = xp.minimum(q_min, Q)
    return [Qs[-1], *[Q - Qs[-1] for Q in Qs[:-1]]], xp.min(q_min, axis=0)


def _log_q_sums(terms: Sequence[Any], weights: Sequence[Any], low: Any = None) -> Any:
    """Column sums of ``log(clip(q(W), low, HIGH))`` for each ``W`` of ``weights``.

    ``terms`` come from :func:`_lattice_terms`; ``weights`` holds device arrays of shape (M,) or
    (K, M). Without ``low`` only the upper clip is applied (for labels that never come near the
    lower one). Returns (len(weights), K).
    """
    xp = _backend.get_namespace(terms[0])
    n, K = terms[0].shape
    sums = [xp.zeros(K, dtype=xp.float64, device=array_api_compat.device(terms[0]))] * len(weights)
    for rows in _row_blocks(n, K):
        blocks = [T[rows, :] for T in terms]
        low_rows = None if low is None else low[rows, :]
        for s, W in enumerate(weights):
            q = blocks[0]
            for m, D in enumerate(blocks[1:]):
                q = q + W[..., m] * D
            q = xp.clip(q, low_rows, HIGH)
            sums[s] = sums[s] + xp.sum(xp.log(q), axis=0)
    return xp.stack(sums)


def blend(members: Sequence[Any], weights: np.ndarray) -> Any:
    """``sum_m weights[..., m] * members[m]`` in the members' namespace, float64.

    Parameters
    ----------
    members : sequence of arrays, shape (n, K) each
        Probability matrices on one device.
    weights : ndarray, shape (M,) or (K, M)
        One weight per member, or one per label and member.

    Returns
    -------
    array, shape (n, K)
    """
    xp = _backend.get_namespace(members[0])
    dev = array_api_compat.device(members[0])
    W = xp.asarray(np.asarray(weights, dtype=np.float64), device=dev)
    out = xp.zeros(members[0].shape, dtype=xp.float64, device=dev)
    for m, P in enumerate(members):
        out = out + W[..., m] * xp.astype(P, xp.float64)
    return out


def _log_q(P: Any, pos: Any, low: float = EPS, high: float = HIGH) -> Any:
    """``log q`` of ``P`` clipped to ``[low, high]`` (and to the metric's own range), float64."""
    xp = _backend.get_namespace(P)
    return xp.log(_q(xp.clip(xp.astype(P, xp.float64), max(low, EPS), min(high, HIGH)), pos))


def label_losses(Y: Any, P: Any, *, low: float = EPS, high: float = 1.0 - EPS) -> np.ndarray:
    """Host per-label log loss of ``P`` (device) clipped to ``[low, high]``; shape (K,)."""
    xp = _backend.get_namespace(P)
    n, K = P.shape
    pos = _positives(Y, P)
    total = xp.zeros(K, dtype=xp.float64, device=array_api_compat.device(P))
    for rows in _row_blocks(n, K):
        total = total - xp.sum(_log_q(P[rows, :], pos[rows, :], low, high), axis=0)
    return _backend.to_numpy(total) / n


def _loss_and_grad(Ps: Sequence[Any], pos: Any, W: Any) -> tuple[np.ndarray, np.ndarray]:
    """:func:`loss_and_grad` of float64 members ``Ps`` and weights ``W`` (device)."""
    xp = _backend.get_namespace(Ps[0])
    n, K = Ps[0].shape
    dev = array_api_compat.device(Ps[0])
    loss = xp.zeros(K, dtype=xp.float64, device=dev)
    grad = [loss] * len(Ps)
    for rows in _row_blocks(n, K):
        blocks = [P[rows, :] for P in Ps]
        P = W[..., 0] * blocks[0]
        for m in range(1, len(blocks)):
            P = P + W[..., m] * blocks[m]
        Pc = xp.clip(P, EPS, HIGH)
        p = pos[rows, :]
        q = xp.where(p, Pc, 1.0 - Pc)
        loss = loss - xp.sum(xp.log(q), axis=0)
        sign = 1.0 - 2.0 * xp.astype(p, xp.float64)  # -1 for a positive, 1 for a negative
        dP = xp.where((P > EPS) & (P < HIGH), sign / q, 0.0)
        grad = [g + xp.sum(dP * B, axis=0) for g, B in zip(grad, blocks, strict=True)]
    return _backend.to_numpy(loss) / n, _backend.to_numpy(xp.stack(grad, axis=1)) / n


def loss_and_grad(members: Sequence[Any], Y: Any, weights: np.ndarray) -> tuple[Any, np.ndarray]:
    """Per-label OOF log loss of the blend and its gradient in the weights.

    Parameters
    ----------
    members : sequence of arrays, shape (n, K)
        Out-of-fold probabilities of each member.
    Y : array, shape (n, K)
        0/1 labels in the members' namespace.
    weights : ndarray, shape (M,) or (K, M)

    Returns
    -------
    loss : ndarray, shape (K,)
    grad : ndarray, shape (K, M)
        ``d loss[l] / d w[l, m]``; for one shared weight vector the gradient of the mean loss
        is the mean over labels.
    """
    xp = _backend.get_namespace(members[0])
    W = xp.asarray(
        np.asarray(weights, dtype=np.float64), device=array_api_compat.device(members[0])
    )
    Ps = [xp.astype(P, xp.float64) for P in members]
    return _loss_and_grad(Ps, _positives(Y, members[0]), W)


def simplex_weights(members: Sequence[Any], Y: Any) -> np.ndarray:
    """Non-negative weights summing to 1 that minimise the blend's OOF competition log loss.

    Parameters
    ----------
    members : sequence of arrays, shape (n, K)
        Out-of-fold probabilities of each member, on the device.
    Y : array, shape (n, K)
        0/1 labels in the same namespace.

    Returns
    -------
    ndarray, shape (M,)
    """
    M = len(members)
    if M == 1:
        return np.ones(1)
    xp = _backend.get_namespace(members[0])
    dev = array_api_compat.device(members[0])
    Ps = [xp.astype(P, xp.float64) for P in members]
    pos = _positives(Y, members[0])

    def loss_grad(v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return _loss_and_grad(Ps, pos, xp.asarray(np.asarray(v, dtype=np.float64), device=dev))

    start = np.full(M, 1.0 / M)
    scale = float(np.mean(loss_grad(start)[0])) or 1.0

    def fun(v: np.ndarray) -> tuple[float, np.ndarray]:
        loss, grad = loss_grad(v)
        return float(loss.mean()) / scale, grad.mean(axis=0) / scale

    res = minimize(
        fun,
        start,
        jac=True,
        method="SLSQP",
        bounds=[(0.0, 1.0)] * M,
        constraints=[{"type": "eq", "fun": lambda v: v.sum() - 1.0, "jac": lambda v: np.ones(M)}],
        options={"ftol": 1e-12, "maxiter": 500},
    )
    w = np.clip(res.x, 0.0, None)
    return w / w.sum()


def simplex_lattice(M: int, steps: int) -> np.ndarray:
    """All weight vectors of ``M`` members in multiples of ``1 / steps`` summing to 1."""
    heads = [c for c in itertools.product(range(steps + 1), repeat=M - 1) if sum(c) <= steps]
    return np.array([[*c, steps - sum(c)] for c in heads], dtype=np.float64) / steps


def _lattice_losses(terms: Sequence[Any], pos: Any, grid: np.ndarray) -> np.ndarray:
    """Host per-label losses at every lattice point, shape (points, K), the metric's clip."""
    xp = _backend.get_namespace(terms[0])
    G = xp.asarray(grid, device=array_api_compat.device(terms[0]))
    sums = _log_q_sums(terms, [G[j, :] for j in range(grid.shape[0])], _low_bounds(pos))
    return -_backend.to_numpy(sums) / terms[0].shape[0]


def _pair_argmin(terms: Sequence[Any], grid: np.ndarray) -> np.ndarray:
    """First lattice minimiser of each label for two members whose loss is convex in ``w``.

    Bisection on the sign of the forward difference ``f(k + 1) - f(k)``: the first ``k`` with
    a non-negative difference is the first minimiser, found with ``2 log2(points)`` passes.
    """
    xp = _backend.get_namespace(terms[0])
    n, K = terms[0].shape
    dev = array_api_compat.device(terms[0])
    lo, hi = np.zeros(K, dtype=np.int64), np.full(K, grid.shape[0] - 1)
    while (lo < hi).any():
        mid = np.minimum((lo + hi) // 2, grid.shape[0] - 2)
        pair = [xp.asarray(grid[k], device=dev) for k in (mid, mid + 1)]
        f = -_backend.to_numpy(_log_q_sums(terms, pair)) / n
        active, rising = lo < hi, f[1] >= f[0]
        hi = np.where(active & rising, mid, hi)
        lo = np.where(active & ~rising, mid + 1, lo)
    return lo


def label_weights(members: Sequence[Any], Y: Any) -> np.ndarray:
    """Each label's own OOF-optimal weights, searched on a simplex lattice.

    The lattice has about 100 points: steps of 1/100 for two members, 1/10 for three. The
    result is each label's first lattice minimiser (as ``np.argmin`` over all points). For two
    members the loss of a label kept away from the lower clip is convex along the lattice and
    bisection finds that point with 14 passes; other labels, and more members, score every
    point.

    Parameters
    ----------
    members : sequence of arrays, shape (n, K)
        Out-of-fold probabilities of each member.
    Y : array, shape (n, K)
        0/1 labels.

    Returns
    -------
    ndarray, shape (K, M)
    """
    xp = _backend.get_namespace(members[0])
    M = len(members)
    steps = max(2, round(100 ** (1 / max(M - 1, 1))))
    grid = simplex_lattice(M, steps)
    pos = _positives(Y, members[0])
    terms, q_min = _lattice_terms(members, pos)
    if M != 2:
        return grid[np.argmin(_lattice_losses(terms, pos, grid), axis=0)]
    near = np.flatnonzero(_backend.to_numpy(q_min) <= _SAFE_Q)
    best = _pair_argmin(terms, grid)
    if near.size:
        idx = xp.asarray(near, device=array_api_compat.device(pos))
        cols = [xp.take(T, idx, axis=1) for T in terms]
        best[near] = np.argmin(_lattice_losses(cols, xp.take(pos, idx, axis=1), grid), axis=0)
    return grid[best]


def choose_clip(
    P: Any, Y: Any, grid: Sequence[float] = CLIP_GRID, *, skip: np.ndarray | None = None
) -> tuple[float, float]:
    """The clipping range ``[low, high]`` of ``grid`` with the lowest OOF log loss of ``P``.

    Low and high bounds act on disjoint entries (below ``low``, above ``high``), so each is
    chosen on its own: ``low`` from ``grid``, ``high`` from ``1 - grid``. The logarithm is
    taken once: clipping ``P`` to a bound clips ``log q`` to the bound's logarithm (from below
    for the label's own side, from above for the other).

    Parameters
    ----------
    P : array, shape (n, K)
        Out-of-fold probabilities (device).
    Y : array, shape (n, K)
        0/1 labels.
    grid : sequence of float
        Candidate lower bounds (ascending, the first the metric's own 1e-15).
    skip : ndarray of bool, shape (K,), optional
        Labels left out of the choice (they will not be clipped).

    Returns
    -------
    (low, high) : tuple of float
    """
    keep = np.ones(P.shape[1], bool) if skip is None else ~np.asarray(skip, bool)
    if not keep.any():
        return float(grid[0]), float(1.0 - grid[0])
    xp = _backend.get_namespace(P)
    dev = array_api_compat.device(P)
    n, K = P.shape
    pos = _positives(Y, P)
    bounds = xp.asarray([[max(g, EPS), 1.0 - g] for g in grid], dtype=xp.float64, device=dev)
    log_low, log_high = xp.log(bounds[:, 0]), xp.log(bounds[:, 1])
    zero = xp.zeros(K, dtype=xp.float64, device=dev)
    lows, highs = [zero] * len(grid), [zero] * len(grid)
    for rows in _row_blocks(n, K):
        p = pos[rows, :]
        L = _log_q(P[rows, :], p)
        for i in range(len(grid)):
            raised, capped = xp.maximum(L, log_low[i]), xp.minimum(L, log_high[i])
            lows[i] = lows[i] - xp.sum(xp.where(p, raised, capped), axis=0)
            highs[i] = highs[i] - xp.sum(xp.where(p, capped, raised), axis=0)
    low = (_backend.to_numpy(xp.stack(lows)) / n)[:, keep].mean(axis=1)
    high = (_backend.to_numpy(xp.stack(highs)) / n)[:, keep].mean(axis=1)
    return float(grid[int(np.argmin(low))]), float(1.0 - grid[int(np.argmin(high))])
