"""Metrics: the competition's log loss, drug-grouped CV folds, and retrieval metrics."""

from gpu_moa.metrics._folds import drug_grouped_folds
from gpu_moa.metrics._loss import multilabel_log_loss, per_label_auc, per_label_log_loss
from gpu_moa.metrics._retrieval import knn_hit_rate, precision_at_k, retrieval_map

__all__ = [
    "drug_grouped_folds",
    "knn_hit_rate",
    "multilabel_log_loss",
    "per_label_auc",
    "per_label_log_loss",
    "precision_at_k",
    "retrieval_map",
]
