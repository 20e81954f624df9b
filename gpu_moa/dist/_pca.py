"""Partitioned PCA: per-partition centred scatter matrices merged, eigh on the client."""

from __future__ import annotations

import functools
from typing import Any

from gpu_moa.dist._array import scatter_moments, to_dask
from gpu_moa.dist._cluster import compute
from gpu_moa.profiles import Profiles


def pca_fit(X: Any, *, n_comps: int = 50, chunk_rows: int | None = None) -> Any:
    """Partitioned twin of :func:`gpu_moa.tl.pca_fit` (exact covariance-eigh).

    Each partition contributes its count, mean and centred scatter ``X_i^T X_i``; the pieces
    merge with the parallel-variance formula and :func:`gpu_moa.tl._pca.pca_fit_from_scatter`
    finishes on the client.

    Parameters
    ----------
    X : Profiles, array or dask array, shape (n, p)
    n_comps : int, default 50
    chunk_rows : int, optional
        Rows per partition.

    Returns
    -------
    PCAFit
        Arrays in the chunks' namespace and dtype (equal to ``gm.tl.pca_fit(X)``).
    """
    from gpu_moa.tl._pca import pca_fit_from_scatter

    x = to_dask(X, chunk_rows=chunk_rows)
    stats = scatter_moments(x)
    return pca_fit_from_scatter(stats.M2, stats.mean, stats.count, n_comps=n_comps, dtype=x.dtype)


def pca(
    p: Profiles, *, n_comps: int = 50, whiten: bool = False, chunk_rows: int | None = None
) -> Profiles:
    """Partitioned twin of :func:`gpu_moa.tl.pca`: fit on partitions, project each partition.

    Parameters
    ----------
    p : Profiles
    n_comps : int, default 50
        Number of components (capped at min(n_obs, n_vars)).
    whiten : bool, default False
        Scale scores to unit variance.
    chunk_rows : int, optional
        Rows per partition.

    Returns
    -------
    Profiles
        With ``obsm["X_pca"]`` and ``uns["pca"]`` as :func:`gpu_moa.tl.pca` writes them.
    """
    from gpu_moa.tl._pca import pca_transform, with_pca

    n_comps = min(n_comps, p.n_obs, p.n_vars)
    x = to_dask(p, chunk_rows=chunk_rows)
    fit = pca_fit(x, n_comps=n_comps)
    project = functools.partial(pca_transform, fit, whiten=whiten)
    (scores,) = compute(
        x.map_blocks(project, chunks=(x.chunks[0], (n_comps,)), dtype=x.dtype, meta=x._meta),
        desc="pca",
    )
    return with_pca(p, fit, scores, whiten=whiten, solver="dask+" + fit.solver)
