"""``C="auto"``: one C for all labels, chosen by inner (drug-grouped) cross-validation.

Each inner fold is whitened once and the whole grid is fitted as a warm-started path (strong to
weak regularisation), so the search costs about one and a half fits per fold instead of one per
candidate. On the CPU the inner folds run side by side on the cores
(:func:`gpu_moa._backend.ordered_map`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from gpu_moa import _backend
from gpu_moa.metrics._folds import grouped_folds
from gpu_moa.metrics._loss import multilabel_log_loss
from gpu_moa.models._path import fit_path, logits, probabilities


def choose_C(
    X: Any,
    Y: Any,
    grid: Sequence[float],
    *,
    groups: Any = None,
    n_splits: int = 3,
    random_state: int = 0,
    **solver_kw: Any,
) -> tuple[float, pd.DataFrame]:
    """Pick the C of ``grid`` with the lowest mean inner-CV multilabel log loss.

    Parameters
    ----------
    X, Y : arrays
        Training features and 0/1 labels (same namespace).
    grid : sequence of float
        Candidate C values.
    groups : array-like, optional
        Drug id per row; inner folds keep drugs whole (rows are their own group when omitted).
    n_splits : int
        Inner folds.
    random_state : int
        Seed of the inner folds.
    **solver_kw
        ``fit_intercept``, ``tol``, ``max_iter``, ``memory`` for :func:`fit_path`.

    Returns
    -------
    best_C : float
    scores : pandas.DataFrame
        Log loss per C (rows) and inner fold (columns), with a ``mean`` column.
    """
    Cs = sorted(float(c) for c in grid)
    n = X.shape[0]
    groups = np.arange(n) if groups is None else np.asarray(groups)
    folds = grouped_folds(groups, Y, n_splits=n_splits, random_state=random_state)

    def fold_scores(fold: tuple[np.ndarray, np.ndarray]) -> list[float]:
        tr, va = fold
        X_va, Y_va = _backend.take_rows(X, va), _backend.take_rows(Y, va)
        path = fit_path(_backend.take_rows(X, tr), _backend.take_rows(Y, tr), Cs, **solver_kw)
        return [
            multilabel_log_loss(Y_va, probabilities(logits(X_va, fit.coef, fit.intercept)))
            for fit in path
        ]

    scores = np.zeros((len(Cs), len(folds)))
    # folds are independent: on the CPU they overlap on the cores (see ordered_map)
    columns = _backend.ordered_map(
        fold_scores, folds, _backend.get_namespace(X), host_side_tasks=True
    )
    for j, column in enumerate(columns):
        scores[:, j] = column
    table = pd.DataFrame(
        scores, index=pd.Index(Cs, name="C"), columns=[f"fold{j}" for j in range(len(folds))]
    )
    table["mean"] = table.mean(axis=1)
    return float(table["mean"].idxmin()), table
