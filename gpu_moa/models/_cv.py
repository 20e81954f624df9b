"""Cross-validation of MoA models on profiles, with features fitted inside each training fold."""

from __future__ import annotations

import inspect
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from tqdm.auto import tqdm

from gpu_moa import _backend
from gpu_moa._settings import settings
from gpu_moa._validation import data_error
from gpu_moa.metrics._folds import cv_group_ids
from gpu_moa.metrics._loss import multilabel_log_loss, per_label_auc, per_label_log_loss
from gpu_moa.models._features import MoaFeatures
from gpu_moa.models._path import as_arrays
from gpu_moa.profiles import Profiles


class LabelPrior(ClassifierMixin, BaseEstimator):
    """The reference baseline: every row gets each label's smoothed training frequency.

    ``prior_ = (positives + 0.5) / (n + 1)`` per label, so no prediction is exactly 0 or 1.
    """

    def fit(self, X: Any, Y: Any) -> LabelPrior:
        """Store the smoothed label frequencies of ``Y`` (``X`` only sets the namespace)."""
        X, Y = as_arrays(X, Y)
        xp = _backend.get_namespace(Y)
        self.prior_ = (xp.sum(Y, axis=0, dtype=xp.float64) + 0.5) / (Y.shape[0] + 1)
        self.classes_ = np.arange(Y.shape[1])
        self.n_features_in_ = int(X.shape[1])
        return self

    def predict_proba(self, X: Any) -> Any:
        """The prior repeated for every row of ``X``, in X's namespace."""
        X, _ = as_arrays(X)
        xp = _backend.get_namespace(X)
        prior = xp.astype(_backend.to_device(self.prior_, X), X.dtype)
        return xp.zeros((X.shape[0], 1), dtype=X.dtype, device=_backend.array_device(X)) + prior


def make_features(features: str | MoaFeatures) -> MoaFeatures:
    """A fresh (unfitted) :class:`MoaFeatures` from a kind name or a template object."""
    if isinstance(features, MoaFeatures):
        return MoaFeatures(
            features.kind,
            n_quantiles=features.n_quantiles,
            n_pca_genes=features.n_pca_genes,
            n_pca_cells=features.n_pca_cells,
        )
    return MoaFeatures(features)


def fit_on(model: Any, features: MoaFeatures, p: Profiles) -> Any:
    """Fit features then a clone of ``model`` on the treated rows of ``p``.

    ``groups`` (the drug ids) are passed to models whose ``fit`` accepts them (``C="auto"``).
    """
    treated = p[~p.is_control]
    X = features.fit_transform(treated)
    est = clone(model)
    kw = {}
    if "groups" in inspect.signature(est.fit).parameters and treated.drug_column is not None:
        kw["groups"] = treated.obs[treated.drug_column].to_numpy()
    return est.fit(X, treated.Y, **kw)


def predict_on_device(model: Any, features: MoaFeatures, p: Profiles) -> Any:
    """float64 probabilities for every row of ``p`` on ``p``'s device; controls are set to 0."""
    P = model.predict_proba(features.transform(p))
    xp = _backend.get_namespace(P)
    P = xp.astype(P, xp.float64)
    if p.is_control.any():
        P = xp.where(_backend.to_device(p.is_control, P)[:, None], 0.0, P)
    return P


def predict_on(model: Any, features: MoaFeatures, p: Profiles) -> np.ndarray:
    """Host float64 probabilities for every row of ``p``; controls are set to 0."""
    return _backend.to_numpy(predict_on_device(model, features, p))


@dataclass
class CVResult:
    """Out-of-fold predictions and scores of :func:`cross_validate`.

    Attributes
    ----------
    oof : pandas.DataFrame
        Out-of-fold probabilities (index sig_id, one column per label; NaN for rows in no fold).
    log_loss : float
        Competition metric over all rows that were in a validation fold (controls included).
    fold_log_loss : list of float
        The metric on each validation fold.
    label_log_loss : pandas.Series
        Per-label out-of-fold log loss.
    auc : pandas.Series
        Per-label ROC AUC computed within each validation fold and averaged over the folds
        where the label has both classes (NaN if none). Pooling out-of-fold scores instead
        mixes models whose intercepts differ by fold, which for rare labels under drug-grouped
        CV pushes the pooled AUC below 0.5.
    C : list
        The C each fold used (the chosen one for ``C="auto"``; None for models without C).
    seconds : list of float
        Wall time of each fold (features, fit and prediction).
    """

    oof: pd.DataFrame
    log_loss: float
    fold_log_loss: list[float]
    label_log_loss: pd.Series
    auc: pd.Series
    C: list[Any] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)

    def folds_table(self) -> pd.DataFrame:
        """One row per fold: log loss, C and seconds."""
        return pd.DataFrame(
            {"log_loss": self.fold_log_loss, "C": self.C, "seconds": self.seconds},
            index=pd.RangeIndex(len(self.fold_log_loss), name="fold"),
        )


def cross_validate(
    model: Any,
    p: Profiles,
    *,
    folds: list[tuple[np.ndarray, np.ndarray]],
    features: str | MoaFeatures = "rank_gauss",
    cv_groups: str = "drugs",
) -> CVResult:
    """Out-of-fold predictions of ``model`` with features fitted on each training fold only.

    Parameters
    ----------
    model : estimator
        Any scikit-learn style multilabel estimator with ``predict_proba`` returning (n, K),
        e.g. :class:`MultilabelLogistic` or :class:`LabelPrior`; cloned for every fold.
    p : Profiles
        Labelled training profiles.
    folds : list of (train_idx, valid_idx)
        Row positions, e.g. from :func:`gpu_moa.metrics.drug_grouped_folds`.
    features : {"raw", "rank_gauss", "rank_gauss+pca"} or MoaFeatures
        Feature construction (see :class:`MoaFeatures`).
    cv_groups : {"drugs", "rows"}
        "drugs" (default) refuses profiles where rows lack a drug id (their replicates would
        leak across folds, here and in the models' inner CV); "rows" accepts them for an
        optimistic, row-grouped estimate (see :func:`gpu_moa.metrics._folds.cv_group_ids`).

    Returns
    -------
    CVResult

    Raises
    ------
    DataError
        When ``p`` has no labels, or rows lack a drug id and ``cv_groups`` is "drugs".

    Notes
    -----
    Vehicle controls are left out of training and predicted 0 (all their labels are 0).
    """
    if p.Y is None:
        raise data_error(
            "cross_validate", "the profiles have no labels", "pass labelled training profiles"
        )
    cv_group_ids(p, cv_groups, where="cross_validate")
    xp = p.xp
    Y = xp.astype(p.Y, xp.float64)
    result = CVResult(pd.DataFrame(), np.nan, [], pd.Series(dtype=float), pd.Series(dtype=float))
    bar = tqdm(folds, desc="cross_validate", unit="fold", disable=not settings.progress)
    aucs, blocks, rows = [], [], []
    for train_idx, valid_idx in bar:
        start = time.perf_counter()
        feats = make_features(features)
        est = fit_on(model, feats, p[train_idx])
        P = predict_on_device(est, feats, p[valid_idx])  # out-of-fold rows stay on the device
        _backend.synchronize(xp)
        result.seconds.append(round(time.perf_counter() - start, 3))
        Yv = _backend.take_rows(Y, valid_idx)
        result.fold_log_loss.append(multilabel_log_loss(Yv, P))
        aucs.append(per_label_auc(Yv, P, labels=p.label_names))
        result.C.append(getattr(est, "C_", None))
        blocks.append(P)
        rows.append(np.asarray(valid_idx))
    done_rows = np.concatenate(rows)
    oof = _backend.take_rows(xp.concat(blocks, axis=0), np.argsort(done_rows, kind="stable"))
    Yd = _backend.take_rows(Y, np.sort(done_rows))
    full = np.full((p.n_obs, len(p.label_names)), np.nan)
    full[np.sort(done_rows)] = _backend.to_numpy(oof)  # the returned table: one copy at the end
    result.oof = pd.DataFrame(full, index=p.obs.index, columns=p.label_names)
    result.log_loss = multilabel_log_loss(Yd, oof)
    result.label_log_loss = pd.Series(
        _backend.to_numpy(per_label_log_loss(Yd, oof)), index=p.label_names, name="log_loss"
    )
    result.auc = pd.concat(aucs, axis=1).mean(axis=1).rename("auc")
    return result
