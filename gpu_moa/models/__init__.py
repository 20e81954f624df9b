"""Supervised MoA models: the multilabel logistic baseline, its features and cross-validation.

===========================  ====================================================================
``MultilabelLogistic``       scikit-learn estimator fitting every label's L2 logistic regression
                             jointly on the device (batched L-BFGS; ``C="auto"``)
``KnnVotes``                 kNN MoA votes (:func:`gpu_moa.tl.predict_moa`) as an estimator, the
                             training rows as reference
``MoaBlend``                 members (logistic + kNN votes) blended with non-negative weights
                             chosen on drug-grouped out-of-fold predictions
``LabelPrior``               the label-frequency baseline (smoothed training frequencies)
``MoaFeatures``              raw / rank-Gauss / rank-Gauss + PCA features with cp_time/cp_dose
                             one-hot, fitted on a training fold
``cross_validate``           out-of-fold predictions and the competition metric per fold
``CVResult``                 what :func:`cross_validate` returns
``train_model``              features + model (logistic, kNN votes or blend) fitted on all
                             treated rows -> ``TrainedModel``
``TrainedModel``             ``predict(p)``, ``save(dir)``, ``TrainedModel.load(dir)``
===========================  ====================================================================
"""

from gpu_moa.models._blend import MoaBlend
from gpu_moa.models._cv import CVResult, LabelPrior, cross_validate
from gpu_moa.models._features import FEATURE_KINDS, MoaFeatures
from gpu_moa.models._knn_votes import KnnVotes
from gpu_moa.models._logistic import DEFAULT_C_GRID, MultilabelLogistic
from gpu_moa.models._trained import TrainedModel, train_model

__all__ = [
    "CVResult",
    "DEFAULT_C_GRID",
    "FEATURE_KINDS",
    "KnnVotes",
    "LabelPrior",
    "MoaBlend",
    "MoaFeatures",
    "MultilabelLogistic",
    "TrainedModel",
    "cross_validate",
    "train_model",
]
