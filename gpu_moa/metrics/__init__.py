"""Metrics: the competition's log loss, drug-grouped CV folds, and retrieval metrics."""

from gpu_moa.metrics._average_precision import average_precision, expected_average_precision
from gpu_moa.metrics._folds import drug_grouped_folds
from gpu_moa.metrics._loss import multilabel_log_loss, per_label_auc, per_label_log_loss
from gpu_moa.metrics._map import mean_average_precision, null_average_precision
from gpu_moa.metrics._replicates import (
    grit,
    percent_matching,
    percent_replicating,
    replicate_reproducibility,
)
from gpu_moa.metrics._retrieval import knn_hit_rate, precision_at_k, retrieval_map

__all__ = [
    "average_precision",
    "drug_grouped_folds",
    "expected_average_precision",
    "grit",
    "knn_hit_rate",
    "mean_average_precision",
    "multilabel_log_loss",
    "null_average_precision",
    "per_label_auc",
    "per_label_log_loss",
    "percent_matching",
    "percent_replicating",
    "precision_at_k",
    "replicate_reproducibility",
    "retrieval_map",
]
