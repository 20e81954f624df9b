"""Tools: embeddings (PCA, UMAP), similarity with blocked top-k, and kNN MoA matching.

Every function takes data first and keyword-only options, computes in the data's array namespace
and returns device arrays or a new :class:`~gpu_moa.Profiles`.
"""

from gpu_moa.tl._connectivity import connectivity, connectivity_topk
from gpu_moa.tl._match import match, predict_moa
from gpu_moa.tl._pca import pca, pca_fit, pca_transform
from gpu_moa.tl._similarity import similarity, similarity_topk
from gpu_moa.tl._umap import umap

__all__ = [
    "connectivity",
    "connectivity_topk",
    "match",
    "pca",
    "pca_fit",
    "pca_transform",
    "predict_moa",
    "similarity",
    "similarity_topk",
    "umap",
]
