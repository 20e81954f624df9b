"""A trained MoA model (features + estimator + label names), saved as JSON + NPZ.

The estimator is a :class:`MultilabelLogistic`, a :class:`KnnVotes` or a :class:`MoaBlend` of
them. The model directory holds ``arrays.npz`` (coefficients, intercepts, the kNN reference rows
and labels, rank-Gauss quantiles, PCA axes; a blend's members under ``member<i>/``) and
``model.json`` (format tag, label and feature names, estimator kind and parameters, blend
weights and clipping range, feature spec, training metrics). Both are written atomically, the
JSON last, so a directory with a ``model.json`` always has matching arrays; ``load`` checks that
they agree (array names and shapes, label and feature counts). Nothing is pickled: the files
load with NumPy and the standard library on any machine, with or without a GPU.
"""

from __future__ import annotations

import hashlib
import json
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from gpu_moa._atomic import atomic_path, write_text_atomic
from gpu_moa._validation import DataError, data_error
from gpu_moa.models._blend import MoaBlend
from gpu_moa.models._cv import fit_on, make_features, predict_on
from gpu_moa.models._estimator_state import (
    ESTIMATORS,
    check_shapes,
    estimator_from_state,
    estimator_state,
)
from gpu_moa.models._features import MoaFeatures
from gpu_moa.models._logistic import MultilabelLogistic
from gpu_moa.profiles import Profiles

#: format of files holding a logistic model only (version 1, still read)
FORMAT_V1 = "gpu_moa.multilabel_logistic/1"
FORMAT = "gpu_moa.moa_model/2"
_FEATURE_PREFIX = "features/"


@dataclass
class TrainedModel:
    """Features and a fitted estimator (logistic, kNN votes or blend), ready to predict."""

    features: MoaFeatures
    estimator: Any
    label_names: list[str]
    info: dict[str, Any] = field(default_factory=dict)

    def predict(self, p: Profiles) -> pd.DataFrame:
        """Probabilities for every row of ``p`` (index sig_id, one column per label).

        Vehicle controls get 0 for every label.
        """
        P = predict_on(self.estimator, self.features, p)
        return pd.DataFrame(P, index=p.obs.index, columns=self.label_names)

    def save(self, path: str | Path) -> Path:
        """Write ``arrays.npz`` and ``model.json`` into the directory ``path`` (atomically)."""
        folder = Path(path)
        folder.mkdir(parents=True, exist_ok=True)
        spec, feature_arrays = self.features.get_state()
        arrays = {_FEATURE_PREFIX + k: v for k, v in feature_arrays.items()}
        estimator, est_arrays = estimator_state(self.estimator)
        with atomic_path(folder / "arrays.npz") as tmp, open(tmp, "wb") as fh:
            np.savez(fh, **arrays, **est_arrays)
        manifest = {
            "format": FORMAT,
            "arrays_sha256": _sha256(folder / "arrays.npz"),  # pairs the two files
            "label_names": list(self.label_names),
            "features": spec,
            "estimator": estimator,
            "info": self.info,
        }
        write_text_atomic(folder / "model.json", json.dumps(manifest, indent=2, default=str))
        return folder

    @classmethod
    def load(cls, path: str | Path) -> TrainedModel:
        """Read a model directory written by :meth:`save`.

        Raises
        ------
        DataError
            When the directory has no ``model.json``/``arrays.npz``, another format, files
            that disagree (missing arrays, shapes that do not fit the labels or features, an
            ``arrays.npz`` other than the one ``model.json`` was saved with) or damaged files.
        """
        folder = Path(path)
        try:
            return cls._read(folder)
        except DataError:
            raise
        except (
            ValueError,
            KeyError,
            TypeError,
            AttributeError,
            EOFError,
            zipfile.BadZipFile,
        ) as err:
            raise data_error(
                str(folder),
                f"the model files are damaged ({type(err).__name__}: {str(err)[:120]})",
                "retrain the model (`gpu-moa train --out DIR`) or restore the directory",
            ) from None

    @classmethod
    def _read(cls, folder: Path) -> TrainedModel:
        """:meth:`load` without the translation of parsing errors."""
        manifest_path, arrays_path = folder / "model.json", folder / "arrays.npz"
        if not manifest_path.is_file() or not arrays_path.is_file():
            raise data_error(
                str(folder),
                "not a gpu_moa model directory (model.json and arrays.npz expected)",
                "pass the --out directory of `gpu-moa train`",
            )
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        if manifest.get("format") not in (FORMAT, FORMAT_V1):
            raise data_error(
                str(manifest_path),
                f"unknown model format {manifest.get('format')!r} (expected {FORMAT!r})",
                "retrain the model with this version of gpu_moa",
            )
        with np.load(arrays_path, allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in npz.files}
        features = MoaFeatures.from_state(
            manifest["features"],
            {
                k[len(_FEATURE_PREFIX) :]: v
                for k, v in arrays.items()
                if k.startswith(_FEATURE_PREFIX)
            },
        )
        spec = dict(manifest["estimator"])
        spec.setdefault("kind", "logistic")  # version 1 files
        labels = list(manifest["label_names"])
        try:
            est = estimator_from_state(spec, arrays)
            check_shapes(est, len(labels), len(features.feature_names_))
        except (KeyError, ValueError) as err:
            raise data_error(
                str(folder),
                f"model.json and arrays.npz do not agree ({err})",
                "retrain the model (`gpu-moa train --out DIR`) instead of mixing files",
            ) from None
        digest = manifest.get("arrays_sha256")  # consistent shapes, yet another model's arrays
        if digest is not None and digest != _sha256(arrays_path):
            raise data_error(
                str(folder),
                "arrays.npz is not the file model.json was saved with (checksum differs)",
                "retrain the model (`gpu-moa train --out DIR`) instead of mixing files",
            )
        return cls(features, est, labels, manifest.get("info", {}))


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


#: fitted attributes of :class:`MultilabelLogistic` carried over by :func:`as_single_device`
_FITTED = (
    "coef_",
    "intercept_",
    "C_",
    "C_scores_",
    "n_iter_",
    "converged_",
    "n_features_in_",
    "classes_",
)


def as_single_device(est: MultilabelLogistic) -> MultilabelLogistic:
    """A plain :class:`MultilabelLogistic` holding the fit of ``est`` (a subclass instance).

    Parameters the base class knows are copied, others (such as ``chunk_rows`` of
    :class:`gpu_moa.dist.MultilabelLogistic`) are dropped, so the model saves and loads without
    the machinery that fitted it.

    Parameters
    ----------
    est : MultilabelLogistic
        A fitted estimator of the class or of a subclass.

    Returns
    -------
    MultilabelLogistic
        ``est`` itself when it is already a plain one.
    """
    if type(est) is MultilabelLogistic:
        return est
    known = MultilabelLogistic().get_params()
    plain = MultilabelLogistic(**{k: v for k, v in est.get_params().items() if k in known})
    for name in _FITTED:
        setattr(plain, name, getattr(est, name))
    return plain


def train_model(
    p: Profiles,
    *,
    C: float | str | None = None,
    features: str | MoaFeatures = "rank_gauss",
    random_state: int = 0,
    estimator: Any = None,
    **estimator_kw: Any,
) -> TrainedModel:
    """Fit features and a model (by default a :class:`MultilabelLogistic`) on all treated rows.

    Parameters
    ----------
    p : Profiles
        Labelled training profiles (controls are left out of the fit).
    C : float or "auto", optional
        Regularisation (see :class:`MultilabelLogistic`; default 0.01).
    features : str or MoaFeatures
        Feature construction (see :class:`MoaFeatures`).
    random_state : int
        Seed of the inner folds of ``C="auto"``.
    estimator : MultilabelLogistic, KnnVotes or MoaBlend, optional
        An unfitted estimator to fit instead of the default logistic one: a
        :class:`MultilabelLogistic` (or subclass, e.g. ``gm.dist.MultilabelLogistic(C=0.01,
        chunk_rows=5000)`` to fit over Dask partitions), a :class:`KnnVotes` or a
        :class:`MoaBlend` of them. It carries its own parameters (``C`` and ``estimator_kw``
        are then an error); a logistic fit (a blend member's too) is kept as a plain
        :class:`MultilabelLogistic` (:func:`as_single_device`), so it saves and loads like any
        other.
    **estimator_kw
        Other :class:`MultilabelLogistic` parameters (``tol``, ``max_iter``...).

    Returns
    -------
    TrainedModel

    Raises
    ------
    DataError
        When ``p`` has no labels.
    TypeError
        When ``estimator`` is none of those classes or comes with ``C`` or ``estimator_kw``.
    """
    if p.Y is None:
        raise data_error("train", "the profiles have no labels", "pass labelled training data")
    if estimator is None:
        estimator = MultilabelLogistic(
            C=0.01 if C is None else C, random_state=random_state, **estimator_kw
        )
    elif not isinstance(estimator, ESTIMATORS):
        raise TypeError(
            "estimator must be a MultilabelLogistic (or subclass), KnnVotes or MoaBlend, got "
            f"{type(estimator).__name__}"
        )
    elif C is not None or estimator_kw:
        raise TypeError("pass C and other estimator parameters to the estimator itself")
    feats = make_features(features)
    est = fit_on(estimator, feats, p)
    if isinstance(est, MoaBlend):
        est.members_ = [_plain(m) for m in est.members_]
    return TrainedModel(feats, _plain(est), list(p.label_names))


def _plain(est: Any) -> Any:
    """:func:`as_single_device` for logistic fits, other estimators as they are."""
    return as_single_device(est) if isinstance(est, MultilabelLogistic) else est
