"""KnnVotes: the kNN MoA votes of :func:`gpu_moa.tl.predict_moa` as a scikit-learn estimator.

The training rows are the reference library; a query's probabilities are its nearest training
rows' similarity-weighted label votes, shrunk to the label prior. Given drug ids (``groups``) at
both ``fit`` and ``predict_proba``, no query is matched with rows of its own drug, which makes
out-of-fold predictions leave-drug-out even for drugs whose rows a fold splits.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sklearn.utils.validation import check_is_fitted

from gpu_moa import _backend
from gpu_moa.models._path import MultilabelClassifierMixin, as_arrays
from gpu_moa.profiles import Profiles
from gpu_moa.tl._match import predict_moa


def _profiles(X: Any, groups: Any, Y: Any = None) -> Profiles:
    """Rows of a feature matrix as :class:`Profiles` (drug ids in ``obs`` when given), no copy."""
    n, p = X.shape
    obs = pd.DataFrame(index=pd.RangeIndex(n, name="sig_id"))
    if groups is not None:
        obs["drug_id"] = np.asarray(groups)
    var = pd.DataFrame({"kind": ["gene"] * p}, index=pd.Index([f"f{j}" for j in range(p)]))
    names = [] if Y is None else [str(j) for j in range(Y.shape[1])]
    return Profiles(X=X, obs=obs, var=var, Y=Y, label_names=names)


def _in(xp: Any, a: Any) -> Any:
    """``a`` in namespace ``xp`` (moved only when it lives elsewhere, e.g. a loaded model)."""
    return a if _backend.get_namespace(a) is xp else _backend.to_device(a, xp)


def _groups(groups: Any, n: int, what: str) -> np.ndarray | None:
    if groups is None:
        return None
    groups = np.asarray(groups)
    if groups.shape != (n,):
        raise ValueError(f"{what} has shape {groups.shape}, expected ({n},) (one id per row)")
    return groups


class KnnVotes(MultilabelClassifierMixin):
    """kNN MoA label probabilities with the training rows as the reference.

    ``predict_proba`` is :func:`gpu_moa.tl.predict_moa` of the query rows against the training
    rows: ``P[i, l] = (sum_j w_ij Y[j, l] + shrinkage * prior[l]) / (sum_j w_ij + shrinkage)``
    over the ``k`` most similar training rows ``j``, ``w_ij = max(s_ij, 0) ** power``.

    Parameters
    ----------
    k : int
        Neighbours voting for each query.
    metric : {"pearson", "spearman", "cosine"}
        Similarity of feature rows.
    shrinkage : float
        Pseudo-weight of the label prior.
    power : float
        Exponent sharpening the similarity weights.
    block_rows : int, optional
        Query rows per block of the streamed search.
    exclude_same_drug : bool
        When ``predict_proba`` gets the queries' drug ids (as :class:`MoaBlend` passes them for
        its out-of-fold predictions) and ``fit`` got the training rows', training rows of a
        query's own drug do not vote for it. False: they do, as for test rows of a drug that
        is also in the training set.

    Attributes
    ----------
    reference_ : array, shape (n_train, n_features)
        The training rows (in the namespace of ``X``).
    labels_ : array, shape (n_train, n_labels)
        Their 0/1 labels.
    groups_ : ndarray or None
        Their drug ids.
    classes_ : ndarray
        ``arange(n_labels)``.
    """

    def __init__(
        self,
        *,
        k: int = 20,
        metric: str = "pearson",
        shrinkage: float = 0.2,
        power: float = 4.0,
        block_rows: int | None = None,
        exclude_same_drug: bool = True,
    ) -> None:
        self.k = k
        self.metric = metric
        self.shrinkage = shrinkage
        self.power = power
        self.block_rows = block_rows
        self.exclude_same_drug = exclude_same_drug

    def fit(self, X: Any, Y: Any, *, groups: Any = None) -> KnnVotes:
        """Store the training rows as the reference.

        Parameters
        ----------
        X : array, shape (n, p)
            Features (any array-API namespace).
        Y : array, shape (n, K)
            0/1 labels.
        groups : array-like, shape (n,), optional
            Drug id of each row, for the own-drug exclusion of :meth:`predict_proba`.

        Returns
        -------
        self
        """
        X, Y = as_arrays(X, Y)
        xp = _backend.get_namespace(X)
        self.reference_ = xp.astype(X, xp.float32)
        self.labels_ = xp.astype(Y, xp.float32)
        self.groups_ = _groups(groups, X.shape[0], "groups")
        self.n_features_in_ = int(X.shape[1])
        self.classes_ = np.arange(Y.shape[1])
        return self

    def predict_proba(self, X: Any, *, groups: Any = None) -> Any:
        """Label probabilities of the rows of ``X``, shape (n, n_labels), float32.

        Parameters
        ----------
        X : array, shape (n, p)
            Query features, in the namespace of the training rows.
        groups : array-like, shape (n,), optional
            Drug ids of the queries: with the training ``groups`` (and ``exclude_same_drug``),
            training rows of a query's own drug do not vote for it.

        Returns
        -------
        array, shape (n, n_labels)
        """
        check_is_fitted(self, "reference_")
        X, _ = as_arrays(X)
        if X.shape[1] != self.n_features_in_:
            raise ValueError(f"X has {X.shape[1]} features, the model {self.n_features_in_}")
        xp = _backend.get_namespace(X)
        groups = _groups(groups, X.shape[0], "groups")
        exclude = self.exclude_same_drug and groups is not None and self.groups_ is not None
        reference = _profiles(
            _in(xp, self.reference_), self.groups_ if exclude else None, _in(xp, self.labels_)
        )
        return predict_moa(
            _profiles(xp.astype(X, xp.float32), groups if exclude else None),
            reference,
            k=min(self.k, reference.n_obs),
            metric=self.metric,
            exclude_same_drug=exclude,
            shrinkage=self.shrinkage,
            power=self.power,
            block_rows=self.block_rows,
        )

    def predict(self, X: Any, *, groups: Any = None) -> Any:
        """0/1 indicator matrix (probability >= 0.5), shape (n, n_labels)."""
        P = self.predict_proba(X, groups=groups)
        xp = _backend.get_namespace(P)
        return xp.astype(P >= 0.5, xp.int64)
