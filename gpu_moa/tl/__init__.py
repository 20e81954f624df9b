"""Tools: embeddings (PCA, UMAP), similarity with blocked top-k, and kNN MoA matching.

Every function takes data first and keyword-only options, computes in the data's array namespace
and returns device arrays or a new :class:`~gpu_moa.Profiles`.
"""

from gpu_moa._lazy import lazy_exports

_EXPORTS = {
    # embeddings
    "pca": "._pca",
    "pca_fit": "._pca",
    "pca_transform": "._pca",
    "umap": "._umap",
    # similarity
    "similarity": "._similarity",
    "similarity_topk": "._similarity",
    # matching
    "match": "._match",
    "predict_moa": "._match",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
