"""Blend weights and the clipping range, chosen on out-of-fold predictions kept on the device.

The blend of ``M`` members' probability matrices ``P_m`` (n x K) is ``sum_m w_m P_m`` with
``w`` on the simplex (``w_m >= 0``, ``sum_m w_m = 1``), so it stays a probability. The weights
minimise the competition metric (mean over labels of the binary log loss, predictions clipped
to [1e-15, 1 - 1e-15]), which is convex in ``w``. Each evaluation of the loss and its gradient is
one pass over the device matrices that returns only ``K`` losses and ``K x M`` gradients to the
host, where SciPy's SLSQP takes the (tiny) optimisation steps.
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


def label_losses(Y: Any, P: Any, *, low: float = EPS, high: float = 1.0 - EPS) -> np.ndarray:
    """Host per-label log loss of ``P`` (device) clipped to ``[low, high]``; shape (K,)."""
    xp = _backend.get_namespace(P)
    Pc = xp.clip(xp.astype(P, xp.float64), max(low, EPS), min(high, 1.0 - EPS))
    Y = xp.astype(Y, xp.float64)
    return _backend.to_numpy(xp.mean(-(Y * xp.log(Pc) + (1.0 - Y) * xp.log1p(-Pc)), axis=0))


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
    P = blend(members, weights)
    Pc = xp.clip(P, EPS, 1.0 - EPS)
    Y = xp.astype(Y, xp.float64)
    loss = xp.mean(-(Y * xp.log(Pc) + (1.0 - Y) * xp.log1p(-Pc)), axis=0)
    inside = xp.astype((P > EPS) & (P < 1.0 - EPS), xp.float64)
    dP = (-(Y / Pc) + (1.0 - Y) / (1.0 - Pc)) * inside
    grad = xp.stack([xp.mean(dP * xp.astype(Pm, xp.float64), axis=0) for Pm in members], axis=1)
    return _backend.to_numpy(loss), _backend.to_numpy(grad)


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
    start = np.full(M, 1.0 / M)
    scale = float(np.mean(loss_and_grad(members, Y, start)[0])) or 1.0

    def fun(v: np.ndarray) -> tuple[float, np.ndarray]:
        loss, grad = loss_and_grad(members, Y, v)
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


def label_weights(members: Sequence[Any], Y: Any) -> np.ndarray:
    """Each label's own OOF-optimal weights, searched on a simplex lattice.

    The lattice has about 100 points: steps of 1/100 for two members, 1/10 for three. Each
    point is one pass over the device matrices that scores all labels at once.

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
    M = len(members)
    steps = max(2, round(100 ** (1 / max(M - 1, 1))))
    grid = simplex_lattice(M, steps)
    losses = np.stack([label_losses(Y, blend(members, w)) for w in grid])  # (points, K)
    return grid[np.argmin(losses, axis=0)]


def choose_clip(
    P: Any, Y: Any, grid: Sequence[float] = CLIP_GRID, *, skip: np.ndarray | None = None
) -> tuple[float, float]:
    """The clipping range ``[low, high]`` of ``grid`` with the lowest OOF log loss of ``P``.

    Low and high bounds act on disjoint entries (below ``low``, above ``high``), so each is
    chosen on its own: ``low`` from ``grid``, ``high`` from ``1 - grid``.

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
    lows = [float(np.mean(label_losses(Y, P, low=g)[keep])) for g in grid]
    highs = [float(np.mean(label_losses(Y, P, high=1.0 - g)[keep])) for g in grid]
    return float(grid[int(np.argmin(lows))]), float(1.0 - grid[int(np.argmin(highs))])
