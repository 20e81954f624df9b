"""Reliability: huge finite feature values are refused or reported, never a silent empty model."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import gpu_moa as gm
from gpu_moa import cli
from gpu_moa._validation import MAX_ABS_FEATURE, check_finite
from gpu_moa.models import MultilabelLogistic
from gpu_moa.models._solver import solve, whiten


@pytest.mark.parametrize("value", [1e20, 3e38, -1e16])
def test_readers_name_column_and_row_of_a_huge_value(tiny_lish_moa, tmp_path, capsys, value):
    train, test = tiny_lish_moa
    X = gm.to_numpy(train.X).copy()
    X[4, 2] = value
    gm.io.write_lish_moa(train.replace(X=X), tmp_path, test=test)
    with pytest.raises(gm.DataError, match="train_features.csv") as err:
        gm.io.read_lish_moa(tmp_path, split="train")
    msg = str(err.value)
    assert "'g-2'" in msg and "'id_00004'" in msg and "float32" in msg
    assert cli.main(["validate", "--quiet", str(tmp_path)]) == 2
    captured = capsys.readouterr()
    assert "g-2" in captured.err and "Traceback" not in captured.err


def test_check_finite_bound_is_exclusive_and_plain():
    ok = np.array([[MAX_ABS_FEATURE, -1.0]])
    check_finite(ok, ["a", "b"], ["r0"], "here")
    with pytest.raises(gm.DataError, match=r"in column 'b' at row 'r0'") as err:
        check_finite(np.array([[1.0, -2e15]]), np.array(["a", "b"]), np.array(["r0"]), "here")
    assert "np.str_" not in str(err.value) and "-2e+15" in str(err.value)


def test_model_inputs_refuse_huge_values_and_non_finite_loss_raises(rng):
    X = rng.normal(size=(40, 3))
    Y = (rng.random((40, 2)) < 0.4).astype(float)
    X[5, 1] = 1e30
    with pytest.raises(gm.DataError, match="1e\\+30"):
        MultilabelLogistic(C=1.0).fit(X, Y)
    X[5, 1] = 0.0
    w, Z = whiten(X)
    Z[3, 0] = np.inf  # what an overflow inside the fit would produce
    r = Z.shape[1]
    x0 = np.zeros((r + 1, 2))
    lam = np.zeros((r + 1, 1))
    with pytest.raises(gm.DataError, match="NaN/inf at iteration 0 for 2 label"):
        solve(Z, Y, x0, lam, w, fit_intercept=True, tol=1e-4, max_iter=10)


def test_swamped_fit_warns_and_plain_fit_does_not(rng):
    X = rng.normal(size=(200, 4))
    Y = (X[:, [1, 2]] + 0.3 * rng.normal(size=(200, 2)) > 0).astype(float)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        MultilabelLogistic(C=1.0).fit(X, Y)
    X[7, 0] = 1e10  # one extreme cell: its direction swamps the others
    with pytest.warns(UserWarning, match="column 0's range") as rec:
        model = MultilabelLogistic(C=1.0).fit(X, Y)
    assert "dominated by one feature" in str(rec[0].message) or "intercept-only" in str(
        rec[0].message
    )
    assert np.abs(model.coef_[:, 1:]).max() < 1e-3  # what the warning is about
