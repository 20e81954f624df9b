"""The competition metric and per-label AUC against scikit-learn."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import log_loss, roc_auc_score

import gpu_moa as gm
from gpu_moa.metrics import multilabel_log_loss, per_label_auc, per_label_log_loss


def _labels_and_scores(rng, n=300, k=7):
    Y = (rng.random((n, k)) < 0.2).astype(np.float64)
    P = np.clip(0.2 + 0.5 * (Y - 0.2) + 0.3 * rng.normal(size=(n, k)), 0.0, 1.0)
    P[:5, 0] = 0.0  # exactly 0 / 1 exercise the clipping
    P[5:10, 1] = 1.0
    return Y, P


def _sklearn_columns(Y, P):
    """The oracle: scikit-learn's log_loss per column, on predictions clipped as in the
    competition (scikit-learn itself clips at the dtype's eps, not 1e-15)."""
    Pc = np.clip(P, 1e-15, 1 - 1e-15)
    return [log_loss(Y[:, k], Pc[:, k], labels=[0, 1]) for k in range(Y.shape[1])]


def test_log_loss_matches_sklearn_per_column(xp, rng):
    Y, P = _labels_and_scores(rng)
    expected = np.mean(_sklearn_columns(Y, P))
    got = multilabel_log_loss(xp.asarray(Y), xp.asarray(P))
    assert got == pytest.approx(expected, rel=1e-12)
    per = per_label_log_loss(xp.asarray(Y), xp.asarray(P))
    assert gm.get_namespace(per) is gm.get_namespace(xp.asarray(P))
    assert np.allclose(gm.to_numpy(per), _sklearn_columns(Y, P), rtol=1e-12)


def test_log_loss_clips_float32_predictions(xp):
    # float32 cannot hold 1 - 1e-15: the metric must still clip in float64 and stay finite
    Y = xp.asarray(np.array([[1.0, 0.0], [0.0, 1.0]], dtype=np.float32))
    P = xp.asarray(np.array([[1.0, 0.0], [1.0, 0.0]], dtype=np.float32))
    got = multilabel_log_loss(Y, P)
    assert got == pytest.approx(-np.log(1e-15) / 2, rel=1e-4)  # 1 - 1e-15 rounds in float64


def test_log_loss_accepts_dataframes_and_rejects_shape_mismatch(rng):
    Y, P = _labels_and_scores(rng, n=50, k=3)
    frame = pd.DataFrame(P, columns=list("abc"))
    assert multilabel_log_loss(pd.DataFrame(Y), frame) == pytest.approx(multilabel_log_loss(Y, P))
    with pytest.raises(ValueError, match="shape"):
        multilabel_log_loss(Y[:, :2], P)


def test_per_label_auc_matches_sklearn_with_ties_and_one_class(rng):
    Y, P = _labels_and_scores(rng)
    P = np.round(P, 1)  # many ties
    Y[:, 3] = 0.0  # one class only
    auc = per_label_auc(Y, P, labels=[f"l{k}" for k in range(Y.shape[1])])
    assert list(auc.index) == [f"l{k}" for k in range(Y.shape[1])]
    assert np.isnan(auc["l3"])
    for k in (0, 1, 2, 4, 5, 6):
        assert auc.iloc[k] == pytest.approx(roc_auc_score(Y[:, k], P[:, k]), abs=1e-12)


def test_per_label_auc_takes_names_from_dataframes(xp, rng):
    Y, P = _labels_and_scores(rng, n=80, k=2)
    auc = per_label_auc(xp.asarray(Y), pd.DataFrame(P, columns=["x", "y"]))
    assert list(auc.index) == ["x", "y"]
    assert auc["x"] == pytest.approx(roc_auc_score(Y[:, 0], P[:, 0]))
