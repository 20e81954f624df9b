"""Scale out with Dask / Dask-CUDA: partitioned twins of the single-device algorithms.

Every partitioned computation is a reduction of small per-partition statistics over row blocks
whose chunks are NumPy (CPU) or CuPy (GPU) arrays: feature moments (count, mean, M2 merged with
Chan's formula), the PCA covariance (merged scatter matrices, eigh on the client), similarity top-k
(per-partition top-k merged), consensus signatures (partitions aligned on whole groups) and the
logistic loss and gradient (summed over partitions, L-BFGS on the client). Results equal the
single-device ones.

Runs on the active ``distributed`` client (see :func:`cluster`) or, without one, on Dask's local
threaded scheduler. Dask, distributed and dask-cuda are imported only when a function runs::

    with gm.dist.cluster("cpu", n_workers=2):
        scores, idx = gm.dist.similarity_topk(query, reference, k=10, chunk_rows=50_000)
"""

from gpu_moa._lazy import lazy_exports

_EXPORTS = {
    # clusters and computing
    "cluster": "gpu_moa._dist_cluster",
    "Cluster": "gpu_moa._dist_cluster",
    "compute": "gpu_moa._dist_cluster",
    # dask arrays and statistics
    "to_dask": "gpu_moa._dist_array",
    "moments": "gpu_moa._dist_array",
    "Moments": "gpu_moa._dist_array",
    "pca_fit": "gpu_moa._dist_pca",
    "pca": "gpu_moa._dist_pca",
    "normalize": "gpu_moa._dist_pp",
    "consensus": "gpu_moa._dist_pp",
    # similarity
    "similarity_topk": "gpu_moa._dist_similarity",
    "similarity_topk_stream": "gpu_moa._dist_stream",
    # models
    "MultilabelLogistic": "gpu_moa._dist_logistic",
    "fit_logistic": "gpu_moa._dist_logistic",
    # command line
    "add_cluster_options": "gpu_moa._dist_cli",
    "cluster_from_args": "gpu_moa._dist_cli",
    "chunk_rows_for": "gpu_moa._dist_cli",
    "search_from_args": "gpu_moa._dist_cli",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
