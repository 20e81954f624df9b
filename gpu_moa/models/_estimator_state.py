"""Fitted estimators (logistic, kNN votes, blends of them) as JSON-able specs and host arrays.

:class:`~gpu_moa.models.TrainedModel` writes the spec into ``model.json`` and the arrays into
``arrays.npz``; a blend's members nest (their arrays under ``member<i>/``). Nothing is pickled.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from gpu_moa import _backend
from gpu_moa.models._blend import MoaBlend
from gpu_moa.models._knn_votes import KnnVotes
from gpu_moa.models._logistic import MultilabelLogistic

#: estimator classes a model file can hold
ESTIMATORS = (MultilabelLogistic, KnnVotes, MoaBlend)


def estimator_state(est: Any, prefix: str = "") -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """JSON-able spec and host arrays (names starting with ``prefix``) of a fitted estimator.

    Parameters
    ----------
    est : MultilabelLogistic, KnnVotes or MoaBlend
        A fitted estimator (a blend's members are stored under ``member<i>/``).
    prefix : str
        Prepended to the array names.

    Returns
    -------
    spec : dict
    arrays : dict of str -> ndarray
    """
    if isinstance(est, MultilabelLogistic):
        params = est.get_params()
        params["C_grid"] = list(params["C_grid"]) if params["C_grid"] is not None else None
        spec = {"kind": "logistic", "params": params, "C_": est.C_}
        arrays = {"coef": est.coef_, "intercept": est.intercept_}
    elif isinstance(est, KnnVotes):
        spec = {"kind": "knn", "params": est.get_params()}
        labels = _backend.to_numpy(est.labels_).astype(np.uint8)
        arrays = {"reference": est.reference_, "labels": labels}
    elif isinstance(est, MoaBlend):
        params = {k: v for k, v in est.get_params(deep=False).items() if k != "members"}
        if not isinstance(params["weights"], str):
            params["weights"] = [float(w) for w in params["weights"]]
        spec = {
            "kind": "blend",
            "params": params,
            "names": list(est.names_),
            "weights_": est.weights_.tolist(),
            "clip_": list(est.clip_),
            "oof_log_loss_": est.oof_log_loss_,
            "members": [],
        }
        arrays = {"prior": est.prior_, "constant": est.constant_}
        if est.label_weights_ is not None:
            arrays["label_weights"] = est.label_weights_
        for i, member in enumerate(est.members_):
            member_spec, member_arrays = estimator_state(member, f"{prefix}member{i}/")
            spec["members"].append(member_spec)
            arrays |= {k[len(prefix) :]: v for k, v in member_arrays.items()}
    else:
        raise TypeError(f"cannot save a {type(est).__name__}")
    return spec, {prefix + k: _backend.to_numpy(v) for k, v in arrays.items()}


def estimator_from_state(
    spec: dict[str, Any], arrays: dict[str, np.ndarray], prefix: str = ""
) -> Any:
    """The fitted estimator that :func:`estimator_state` described (arrays on the host).

    Parameters
    ----------
    spec : dict
        The estimator's spec.
    arrays : dict of str -> ndarray
        All arrays of the model file.
    prefix : str
        Prefix of this estimator's array names.

    Returns
    -------
    MultilabelLogistic, KnnVotes or MoaBlend

    Raises
    ------
    KeyError, ValueError
        When an array is missing or the spec names an unknown kind.
    """
    kind = spec["kind"]
    if kind == "logistic":
        est = MultilabelLogistic(**spec["params"])
        est.coef_, est.intercept_ = arrays[prefix + "coef"], arrays[prefix + "intercept"]
        est.C_ = spec["C_"]
        est.n_features_in_ = int(est.coef_.shape[1])
        est.classes_ = np.arange(est.coef_.shape[0])
    elif kind == "knn":
        est = KnnVotes(**spec["params"])
        est.reference_ = arrays[prefix + "reference"]
        est.labels_ = arrays[prefix + "labels"].astype(np.float32)
        est.groups_ = None
        est.n_features_in_ = int(est.reference_.shape[1])
        est.classes_ = np.arange(est.labels_.shape[1])
    elif kind == "blend":
        members = [
            estimator_from_state(m, arrays, f"{prefix}member{i}/")
            for i, m in enumerate(spec["members"])
        ]
        est = MoaBlend(members, **spec["params"])
        est.members_, est.names_ = members, list(spec["names"])
        est.weights_ = np.asarray(spec["weights_"], dtype=np.float64)
        est.clip_ = tuple(spec["clip_"])
        est.prior_ = arrays[prefix + "prior"]
        est.constant_ = arrays[prefix + "constant"].astype(bool)
        est.label_weights_ = arrays.get(prefix + "label_weights")
        est.oof_log_loss_ = spec.get("oof_log_loss_")
        est.label_log_loss_, est.fold_log_loss_ = None, None
        est.n_features_in_ = members[0].n_features_in_
        est.classes_ = np.arange(est.prior_.shape[0])
        if est.weights_.shape != (len(members),):
            raise ValueError(f"{len(spec['weights_'])} blend weights for {len(members)} members")
    else:
        raise ValueError(f"unknown estimator kind {kind!r}")
    return est


def check_shapes(est: Any, n_labels: int, n_features: int) -> None:
    """Raise ValueError when ``est`` (or a blend member) does not fit the labels or features.

    Parameters
    ----------
    est : MultilabelLogistic, KnnVotes or MoaBlend
        A loaded estimator.
    n_labels, n_features : int
        The label and feature counts the model file names.
    """
    for leaf in est.members_ if isinstance(est, MoaBlend) else [est]:
        if leaf.classes_.size != n_labels or leaf.n_features_in_ != n_features:
            raise ValueError(
                f"a {type(leaf).__name__} for {leaf.classes_.size} labels x "
                f"{leaf.n_features_in_} features, the files name {n_labels} labels x "
                f"{n_features} features"
            )
        if isinstance(leaf, MultilabelLogistic) and leaf.intercept_.shape != (n_labels,):
            raise ValueError(f"{leaf.intercept_.shape[0]} intercepts for {n_labels} labels")
        if isinstance(leaf, KnnVotes) and leaf.labels_.shape[0] != leaf.reference_.shape[0]:
            raise ValueError(
                f"{leaf.labels_.shape[0]} label rows for {leaf.reference_.shape[0]} kNN "
                "reference rows"
            )
    if isinstance(est, MoaBlend):
        shapes = [est.prior_.shape, est.constant_.shape]
        if est.label_weights_ is not None:
            shapes.append(est.label_weights_.shape[:1])
        if any(shape != (n_labels,) for shape in shapes):
            raise ValueError(f"blend prior/weights of shapes {shapes} for {n_labels} labels")
