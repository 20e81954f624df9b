"""Metrics: the competition's log loss, drug-grouped CV folds, and retrieval metrics."""

from gpu_moa._lazy import lazy_exports

_EXPORTS = {
    # competition metric and per-label scores
    "multilabel_log_loss": "gpu_moa._metrics_loss",
    "per_label_log_loss": "gpu_moa._metrics_loss",
    "per_label_auc": "gpu_moa._metrics_loss",
    # honest cross-validation
    "drug_grouped_folds": "gpu_moa._metrics_cv",
    # retrieval with whole drugs held out
    "retrieval_map": "gpu_moa._metrics_retrieval",
    "precision_at_k": "gpu_moa._metrics_retrieval",
    "knn_hit_rate": "gpu_moa._metrics_retrieval",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
