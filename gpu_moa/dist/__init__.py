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

from gpu_moa.dist._array import moments, Moments, to_dask
from gpu_moa.dist._cluster import cluster, Cluster, compute
from gpu_moa.dist._connectivity import connectivity_topk
from gpu_moa.dist._logistic import fit_logistic, MultilabelLogistic
from gpu_moa.dist._pca import pca, pca_fit
from gpu_moa.dist._pp import consensus, normalize
from gpu_moa.dist._similarity import similarity_topk
from gpu_moa.dist._stream import similarity_topk_stream

__all__ = [
    "Cluster",
    "Moments",
    "MultilabelLogistic",
    "cluster",
    "compute",
    "connectivity_topk",
    "consensus",
    "fit_logistic",
    "moments",
    "normalize",
    "pca",
    "pca_fit",
    "similarity_topk",
    "similarity_topk_stream",
    "to_dask",
]
