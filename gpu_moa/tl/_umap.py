"""UMAP embedding: cuML on a GPU, else the neighbour graph in the array namespace + umap-learn.

Without cuML, the exact kNN graph and its fuzzy simplicial set are computed by
:mod:`gpu_moa.tl._umap_graph` (on the GPU when the data are there; umap-learn would spend about
ten seconds per process compiling its numba kernels for them), and umap-learn's
``simplicial_set_embedding`` (spectral initialisation, then the stochastic layout) runs on the host.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from gpu_moa import _backend
from gpu_moa.profiles import Profiles
from gpu_moa.tl._umap_graph import exact_knn, fuzzy_graph

UMAP_INSTALL_HINT = (
    "install umap-learn: `pip install 'gpu_moa[umap]'` (or `pip install umap-learn`)"
)


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
        from umap.umap_ import find_ab_params, simplicial_set_embedding
    except ImportError as exc:
        raise _backend.BackendUnavailableError(
            f"umap-learn is not installed: {UMAP_INSTALL_HINT}"
        ) from exc
    knn_idx, knn_dist = exact_knn(rep, k=params["n_neighbors"])
    graph = fuzzy_graph(knn_idx, knn_dist)
    a, b = find_ab_params(1.0, params["min_dist"])
    seed = params["random_state"]
    emb, _ = simplicial_set_embedding(
        data=_backend.to_numpy(rep).astype(np.float32),
        graph=graph.tocoo(),
        n_components=params["n_components"],
        initial_alpha=1.0,
        a=a,
        b=b,
        gamma=1.0,
        negative_sample_rate=5,
        n_epochs=params["n_epochs"],
        init="spectral",
        random_state=np.random.RandomState(seed),
        metric="euclidean",
        metric_kwds={},
        densmap=False,
        densmap_kwds={},
        output_dens=False,
        parallel=seed is None,  # a seed makes the layout serial (and reproducible)
    )
    return emb


def umap(
    p: Profiles,
    *,
    use_rep: str = "X_pca",
    n_neighbors: int = 15,
    n_components: int = 2,
    min_dist: float = 0.1,
    n_epochs: int | None = None,
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
    n_epochs : int, optional
        Layout optimisation epochs (default: umap-learn's, 500 up to 10,000 rows, else 200).
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
        "n_epochs": n_epochs,
        "random_state": random_state,
    }
    xp = _backend.get_namespace(rep)
    start = time.perf_counter()
    if _backend.device_of(rep) == "gpu" and _backend.has_cuml():
        backend, device, note = "cuml", "gpu", "cuML is installed and the data are on the GPU"
        emb = _backend.import_cuml().UMAP(**params, output_type="cupy").fit_transform(rep)
    else:
        backend, device = "umap-learn", "cpu"
        note = (
            "cuML is not installed: exact kNN on the GPU, layout by umap-learn on the host"
            if _backend.device_of(rep) == "gpu"
            else "data on the CPU: exact kNN graph, layout by umap-learn"
        )
        emb = _umap_learn(rep, **params)
    emb = xp.astype(_backend.to_device(emb, rep), xp.float32)
    _backend.synchronize(xp)
    _backend.log_backend(
        "umap", backend, device=device, note=note, seconds=time.perf_counter() - start
    )
    uns = dict(p.uns)
    uns["umap"] = {"use_rep": use_rep, "backend": backend, **params}
    return p.replace(obsm={**p.obsm, "X_umap": emb}, uns=uns)
