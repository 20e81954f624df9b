"""The UMAP neighbour graph in the array namespace: exact kNN and the fuzzy simplicial set.

Both steps are what umap-learn computes with numba kernels (compiled anew in every process, about
ten seconds on two cores); here they are vectorised array code, on the GPU when the data are
there. They follow McInnes, Healy & Melville (2018), section 3 and umap-learn's defaults
(local connectivity 1, bandwidth 1, fuzzy union of the directed graph and its transpose).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import scipy.sparse

from gpu_moa import _backend

#: binary-search tolerance on the membership sum and floor of sigma (umap-learn's constants)
_TOLERANCE = 1e-5
_MIN_SIGMA_SCALE = 1e-3
_N_ITER = 64


def exact_knn(X: Any, *, k: int, block_rows: int = 2048) -> tuple[Any, Any]:
    """Exact Euclidean k nearest neighbours of every row among all rows, self first.

    Parameters
    ----------
    X : array, shape (n, d)
        Rows in any array namespace; everything is computed there (on the GPU when X is there)
        in blocks of ``block_rows``, with :func:`gpu_moa._backend.topk_rows` selecting the
        candidates.
    k : int
        Neighbours per row, counting the row itself (umap-learn's convention), k <= n.
    block_rows : int, default 2048
        Rows per block: memory is ``block_rows x n`` floats.

    Returns
    -------
    indices : int64 array, shape (n, k), in ``X``'s namespace and device
        Neighbour positions, nearest first; column 0 is the row itself.
    distances : float32 array, shape (n, k), same namespace
        Euclidean distances, ascending; column 0 is 0.
    """
    xp = _backend.get_namespace(X)
    n = X.shape[0]
    sq = xp.sum(X * X, axis=1)
    out_idx, out_dist = [], []
    for start in range(0, n, block_rows):
        stop = min(start + block_rows, n)
        blk = X[start:stop, :]
        # |x_i|^2 is constant along a row, so 2 x_i.x_j - |x_j|^2 ranks the neighbours of row i
        idx, _ = _backend.topk_rows(2.0 * xp.matmul(blk, X.T) - sq[None, :], k)
        # exact squared distances of the k candidates (the expanded form cancels badly)
        cand = xp.reshape(xp.take(X, xp.reshape(idx, (-1,)), axis=0), (stop - start, k, -1))
        diff = cand - blk[:, None, :]
        d2 = xp.astype(xp.sum(diff * diff, axis=2), xp.float64)
        rows = xp.arange(start, stop, dtype=xp.int64, device=_backend.array_device(X))
        idx, dist = _self_first(idx, d2, rows)
        out_idx.append(idx)
        out_dist.append(dist)
    return xp.concat(out_idx, axis=0), xp.concat(out_dist, axis=0)


def _self_first(idx: Any, d2: Any, rows: Any) -> tuple[Any, Any]:
    """Sort candidates by distance with each row itself in column 0 (at distance 0).

    Rounding can rank a duplicate of a row before the row itself, or push the row out of its
    candidates: the row then takes the place of its farthest candidate.
    """
    xp = _backend.get_namespace(d2)
    k = idx.shape[1]
    is_self = idx == rows[:, None]
    missing = ~xp.any(is_self, axis=1)
    cols = xp.arange(k, dtype=xp.int64, device=_backend.array_device(idx))
    put = missing[:, None] & (cols[None, :] == xp.argmax(d2, axis=1)[:, None])
    idx = xp.where(put, rows[:, None], idx)
    d2 = xp.where(is_self | put, -xp.inf, d2)
    order = xp.argsort(d2, axis=1, stable=True)
    d2 = xp.where(cols[None, :] == 0, 0.0, xp.take_along_axis(d2, order, axis=1))
    dist = xp.astype(xp.sqrt(xp.clip(d2, 0.0, None)), xp.float32)
    return xp.take_along_axis(idx, order, axis=1), dist


def smooth_knn_sigmas(dists: Any) -> tuple[Any, Any]:
    """Per-row ``rho`` (distance to the nearest other point) and ``sigma`` of the fuzzy set.

    ``sigma`` solves ``sum_j exp(-(d_ij - rho_i) / sigma_i) = log2(k)`` over the row's
    neighbours (column 0, the row itself, excluded) by a bisection run on all rows at once.

    Parameters
    ----------
    dists : array, shape (n, k)
        Ascending kNN distances, self first (as :func:`exact_knn` returns them).

    Returns
    -------
    rho, sigma : arrays of shape (n,), float64, in ``dists``' namespace
    """
    xp = _backend.get_namespace(dists)
    d = xp.astype(dists, xp.float64)
    n, k = d.shape
    positive = d > 0.0
    has_positive = xp.any(positive, axis=1)
    # the smallest non-zero distance of each row (rows are sorted ascending)
    rho = xp.min(xp.where(positive, d, xp.inf), axis=1)
    rho = xp.where(has_positive, rho, xp.zeros_like(rho))
    shifted = d[:, 1:] - rho[:, None]
    target = math.log2(k)
    dev = _backend.array_device(d)
    lo = xp.zeros(n, dtype=xp.float64, device=dev)
    hi = xp.full(n, xp.inf, dtype=xp.float64, device=dev)
    mid = xp.ones(n, dtype=xp.float64, device=dev)
    done = xp.zeros(n, dtype=xp.bool, device=dev)
    for _ in range(_N_ITER):
        terms = xp.where(shifted > 0, xp.exp(-shifted / mid[:, None]), xp.ones_like(shifted))
        psum = xp.sum(terms, axis=1)
        done = done | (xp.abs(psum - target) < _TOLERANCE)
        above = psum > target
        new_hi = xp.where(above, mid, hi)
        new_lo = xp.where(above, lo, mid)
        new_mid = xp.where(xp.isinf(new_hi), mid * 2.0, (new_lo + new_hi) / 2.0)
        lo, hi = xp.where(done, lo, new_lo), xp.where(done, hi, new_hi)
        mid = xp.where(done, mid, new_mid)
        if bool(xp.all(done)):
            break
    floor = _MIN_SIGMA_SCALE * xp.where(
        rho > 0.0, xp.mean(d, axis=1), xp.full(n, float(xp.mean(d)), dtype=xp.float64, device=dev)
    )
    return rho, xp.maximum(mid, floor)


def fuzzy_graph(indices: np.ndarray, dists: np.ndarray) -> scipy.sparse.csr_matrix:
    """UMAP's symmetric fuzzy neighbour graph from kNN results.

    Membership of neighbour j of row i is ``exp(-(d_ij - rho_i) / sigma_i)`` (1 within
    ``rho_i``, 0 for the row itself); the directed graph ``P`` is symmetrised by the fuzzy union
    ``P + P^T - P * P^T``.

    Parameters
    ----------
    indices, dists : arrays of shape (n, k)
        From :func:`exact_knn`. Memberships are computed in their namespace; only the n x k
        (index, membership) pairs come to the host, where SciPy assembles the sparse graph
        for umap-learn's layout.

    Returns
    -------
    scipy.sparse.csr_matrix, shape (n, n), float32
    """
    xp = _backend.get_namespace(dists)
    d = xp.astype(dists, xp.float64)
    rho, sigma = smooth_knn_sigmas(d)
    shifted = d - rho[:, None]
    vals = xp.where(shifted <= 0.0, xp.ones_like(d), xp.exp(-shifted / sigma[:, None]))
    idx = _backend.to_numpy(indices)
    n, k = idx.shape
    rows = np.repeat(np.arange(n), k)
    vals = _backend.to_numpy(vals).ravel()
    vals[idx.ravel() == rows] = 0.0
    P = scipy.sparse.csr_matrix((vals.astype(np.float32), (rows, idx.ravel())), shape=(n, n))
    P.eliminate_zeros()
    graph = P + P.T - P.multiply(P.T)
    graph.eliminate_zeros()
    return graph.tocsr()
