"""UMAP embedding: cuML on a GPU, else an exact kNN graph on the device and umap-learn's layout.

Without cuML the costly part umap-learn would do itself, the nearest-neighbour search (and its
numba compilation, about ten seconds per process), is replaced by an exact blocked kNN in the
array namespace (one matrix product per row block, on the GPU when the data are there); umap-learn
then builds the fuzzy graph and optimises the layout on the host.
"""

from __future__ import annotations

import time
import warnings
from typing import Any

import numpy as np

from gpu_moa import _backend as B
from gpu_moa.profiles import Profiles

UMAP_INSTALL_HINT = (
    "install umap-learn: `pip install 'gpu_moa[umap]'` (or `pip install umap-learn`)"
)


def _smallest_k(d: Any, k: int, xp: Any) -> Any:
    """Column positions of the ``k`` smallest entries of each row (any order)."""
    if B.is_numpy_namespace(xp):
        # NumPy-only fast path: introselect instead of a full sort of every row.
        return np.argpartition(d, k - 1, axis=1)[:, :k]
    return xp.argsort(d, axis=1)[:, :k]


def exact_knn(X: Any, *, k: int, block_rows: int = 2048) -> tuple[np.ndarray, np.ndarray]:
    """Exact Euclidean k nearest neighbours of every row among all rows, self first.

    Parameters
    ----------
    X : array, shape (n, d)
        Rows in any array namespace; distances are computed there in blocks of ``block_rows``.
    k : int
        Neighbours per row, counting the row itself (umap-learn's convention), k <= n.
    block_rows : int, default 2048
        Rows per block: memory is ``block_rows x n`` floats.

    Returns
    -------
    indices : numpy.ndarray of int64, shape (n, k)
        Neighbour positions, nearest first; column 0 is the row itself.
    distances : numpy.ndarray of float32, shape (n, k)
        Euclidean distances, ascending; column 0 is 0.
    """
    xp = B.get_namespace(X)
    n = X.shape[0]
    sq = xp.sum(X * X, axis=1)
    indices = np.empty((n, k), dtype=np.int64)
    distances = np.empty((n, k), dtype=np.float32)
    for start in range(0, n, block_rows):
        stop = min(start + block_rows, n)
        blk = X[start:stop, :]
        d2 = sq[start:stop, None] + sq[None, :] - 2.0 * xp.matmul(blk, X.T)
        own = xp.arange(start, stop)[:, None] == xp.arange(n)[None, :]
        d2 = xp.where(own, -xp.inf, d2)  # the row itself comes first, even among duplicates
        idx = _smallest_k(d2, k, xp)
        d2h = B.to_numpy(xp.take_along_axis(d2, idx, axis=1))
        idx = B.to_numpy(idx)
        order = np.argsort(d2h, axis=1, kind="stable")
        indices[start:stop] = np.take_along_axis(idx, order, axis=1)
        d2h = np.take_along_axis(d2h, order, axis=1)
        distances[start:stop] = np.sqrt(np.clip(d2h, 0.0, None))
    return indices, distances


def _rep(p: Profiles, use_rep: str) -> Any:
    if use_rep == "X":
        return p.X
    if use_rep not in p.obsm:
        raise KeyError(
            f"obsm[{use_rep!r}] is missing (available: {sorted(p.obsm) or 'none'}); "
            f"run gm.tl.pca(p) first, or pass use_rep='X' to embed the features directly"
        )
    return p.obsm[use_rep]


def _umap_learn(rep: Any, **params: Any) -> np.ndarray:
    try:
        import umap
    except ImportError as exc:
        raise B.BackendUnavailableError(
            f"umap-learn is not installed: {UMAP_INSTALL_HINT}"
        ) from exc
    knn_idx, knn_dist = exact_knn(rep, k=params["n_neighbors"])
    n_jobs = 1 if params["random_state"] is not None else -1  # a seed makes the layout serial
    model = umap.UMAP(**params, n_jobs=n_jobs, precomputed_knn=(knn_idx, knn_dist, None))
    with warnings.catch_warnings():
        # no search index is needed: the embedding is computed once, never extended
        warnings.filterwarnings("ignore", message=r"precomputed_knn\[2\]", category=UserWarning)
        return model.fit_transform(B.to_numpy(rep))


def umap(
    p: Profiles,
    *,
    use_rep: str = "X_pca",
    n_neighbors: int = 15,
    n_components: int = 2,
    min_dist: float = 0.1,
    random_state: int | None = 0,
) -> Profiles:
    """UMAP embedding of the profiles.

    Parameters
    ----------
    p : Profiles
        Signatures with the representation to embed.
    use_rep : str, default "X_pca"
        Key of ``p.obsm`` to embed, or "X" for the features themselves.
    n_neighbors : int, default 15
        Size of the local neighbourhood (capped at n_obs - 1).
    n_components : int, default 2
        Dimension of the embedding.
    min_dist : float, default 0.1
        How tightly points may pack in the embedding.
    random_state : int or None, default 0
        Seed for a reproducible layout; None lets umap-learn run its layout in parallel.

    Returns
    -------
    Profiles
        A copy with ``obsm["X_umap"]`` (n_obs x n_components, float32, in ``p``'s namespace) and
        ``uns["umap"]`` (parameters and the backend that ran).
    """
    rep = _rep(p, use_rep)
    n = rep.shape[0]
    if n < 3:
        raise ValueError(f"UMAP needs at least 3 rows, got {n}")
    params = {
        "n_neighbors": min(n_neighbors, n - 1),
        "n_components": n_components,
        "min_dist": min_dist,
        "random_state": random_state,
    }
    xp = B.get_namespace(rep)
    start = time.perf_counter()
    if B.device_of(rep) == "gpu" and B.has_cuml():
        backend, device, note = "cuml", "gpu", "cuML is installed and the data are on the GPU"
        emb = B.import_cuml().UMAP(**params, output_type="cupy").fit_transform(rep)
    else:
        backend, device = "umap-learn", "cpu"
        note = (
            "cuML is not installed: exact kNN on the GPU, layout by umap-learn on the host"
            if B.device_of(rep) == "gpu"
            else "data on the CPU: exact kNN graph, layout by umap-learn"
        )
        emb = _umap_learn(rep, **params)
    emb = xp.astype(B.to_device(emb, xp), xp.float32)
    B.synchronize(xp)
    B.log_backend("umap", backend, device=device, note=note, seconds=time.perf_counter() - start)
    uns = dict(p.uns)
    uns["umap"] = {"use_rep": use_rep, "backend": backend, **params}
    return p.replace(obsm={**p.obsm, "X_umap": emb}, uns=uns)
