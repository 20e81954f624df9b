"""Supervised MoA models: the multilabel logistic baseline, its features and cross-validation.

===========================  ====================================================================
``MultilabelLogistic``       scikit-learn estimator fitting every label's L2 logistic regression
                             jointly on the device (batched L-BFGS; ``C="auto"``)
``LabelPrior``               the label-frequency baseline (smoothed training frequencies)
``MoaFeatures``              raw / rank-Gauss / rank-Gauss + PCA features with cp_time/cp_dose
                             one-hot, fitted on a training fold
``cross_validate``           out-of-fold predictions and the competition metric per fold
``CVResult``                 what :func:`cross_validate` returns
``train_model``              features + logistic fitted on all treated rows -> ``TrainedModel``
``TrainedModel``             ``predict(p)``, ``save(dir)``, ``TrainedModel.load(dir)``
===========================  ====================================================================
"""

from gpu_moa._lazy import lazy_exports

_EXPORTS = {
    "MultilabelLogistic": "gpu_moa._logistic",
    "DEFAULT_C_GRID": "gpu_moa._logistic",
    "LabelPrior": "gpu_moa._cv",
    "cross_validate": "gpu_moa._cv",
    "CVResult": "gpu_moa._cv",
    "MoaFeatures": "gpu_moa._features",
    "FEATURE_KINDS": "gpu_moa._features",
    "train_model": "gpu_moa._trained",
    "TrainedModel": "gpu_moa._trained",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
