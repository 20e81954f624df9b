"""Honest cross-validation folds for lish-moa: whole drugs per fold, multilabel-stratified.

The recipe is the one the competition's public notebooks settled on: drugs with at most 18 rows
(the usual 6 or 12 replicates) are assigned whole to one fold, stratified on the drug's labels;
rows of larger drugs (the controls and a few frequently profiled compounds) are spread over the
folds row by row, stratified on the row's labels. Both stratifications use
``iterstrat.ml_stratifiers.MultilabelStratifiedKFold``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from iterstrat.ml_stratifiers import MultilabelStratifiedKFold

from gpu_moa import _backend
from gpu_moa._validation import data_error

#: drugs with at most this many rows are kept whole in one fold
MAX_WHOLE_DRUG_ROWS = 18


def _fold_of(labels: np.ndarray, n_splits: int, seed: int, what: str) -> np.ndarray:
    """Fold number of each row of a 0/1 matrix, by multilabel-stratified K-fold."""
    if len(labels) < n_splits:
        raise data_error(
            "drug_grouped_folds",
            f"only {len(labels)} {what} for {n_splits} folds",
            "use fewer folds (n_splits) or more data",
        )
    fold = np.empty(len(labels), dtype=np.int64)
    splitter = MultilabelStratifiedKFold(n_splits=n_splits, shuffle=True, random_state=seed)
    for k, (_, valid) in enumerate(splitter.split(np.zeros((len(labels), 1)), labels)):
        fold[valid] = k
    return fold


def _group_codes(groups: Any) -> np.ndarray:
    """Dense group codes; rows without a group id (NaN/None) are groups of their own."""
    codes, uniq = pd.factorize(np.asarray(groups))
    missing = codes < 0
    codes[missing] = len(uniq) + np.arange(int(missing.sum()))
    return codes


def max_splits(groups: Any) -> int:
    """The most folds :func:`grouped_folds` can make for these group ids.

    Parameters
    ----------
    groups : array-like, shape (n,)
        Group (drug) id of each row, as for :func:`grouped_folds`.

    Returns
    -------
    int
        The number of whole (small) groups or the rows of large groups, whichever is fewer
        (each kind present must fill every fold); 0 without rows.
    """
    sizes = np.bincount(_group_codes(groups)) if len(groups) else np.zeros(0, np.int64)
    small = sizes <= MAX_WHOLE_DRUG_ROWS
    limits = [int(n) for n in (small.sum(), sizes[~small].sum()) if n > 0]
    return min(limits) if limits else 0


def grouped_folds(
    groups: Any, Y: Any, *, n_splits: int = 5, random_state: int = 0
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Drug-grouped multilabel-stratified folds from group ids and a label matrix.

    Parameters
    ----------
    groups : array-like, shape (n,)
        Group (drug) id of each row; rows with a missing id (NaN/None) are their own group.
    Y : array, shape (n, K)
        0/1 labels in any namespace: each small drug's labels are combined on the device, so only
        a drugs x labels int8 matrix (and the rows of large drugs) come to the host.
    n_splits : int
        Number of folds.
    random_state : int
        Seed of the shuffling.

    Returns
    -------
    list of (train_idx, valid_idx)
        NumPy int64 row positions; every row is in exactly one ``valid_idx``.
    """
    groups = np.asarray(groups)
    if not _backend.is_array(Y):
        Y = np.asarray(Y)
    if Y.ndim != 2 or Y.shape[0] != len(groups):
        raise ValueError(f"Y has shape {tuple(Y.shape)}, expected ({len(groups)}, n_labels)")
    xp = _backend.get_namespace(Y)
    positive = xp.astype(Y > 0.5, xp.float32)
    codes = _group_codes(groups)
    sizes = np.bincount(codes)
    small = sizes[codes] <= MAX_WHOLE_DRUG_ROWS
    fold = np.empty(len(groups), dtype=np.int64)
    if small.any():
        # a drug's labels: any of its rows' (summed on the device; drugs x labels int8 to the host)
        small_rows = np.flatnonzero(small)
        small_codes, drug_codes = pd.factorize(codes[small])
        order = np.argsort(small_codes, kind="stable")
        sums = _backend.segment_sum(
            _backend.take_rows(positive, small_rows[order]), np.bincount(small_codes)
        )
        drug_labels = _backend.to_numpy(xp.astype(sums > 0, xp.int8))
        fold[small] = _fold_of(drug_labels, n_splits, random_state, "drugs")[small_codes]
    if (~small).any():
        large = _backend.to_numpy(xp.astype(_backend.take_rows(positive, ~small), xp.int8))
        fold[~small] = _fold_of(large, n_splits, random_state, "rows of large drugs")
    rows = np.arange(len(groups))
    return [(rows[fold != k], rows[fold == k]) for k in range(n_splits)]


#: values of ``cv_groups``: group by drug (honest) or let rows without a drug id be their own group
CV_GROUPS = ("drugs", "rows")


def cv_kind(cv_groups: str) -> str:
    """How outputs describe the folds of ``cv_groups`` ("drugs" or "rows")."""
    if cv_groups == "drugs":
        return "drug-grouped"
    return "row-grouped (optimistic: replicates of one drug can fall in different folds)"


def cv_group_ids(
    p: Any, cv_groups: str = "drugs", *, where: str = "cross-validation"
) -> np.ndarray:
    """Group id of each row of ``p`` for cross-validation: its drug code (:meth:`Profiles.drug_codes`).

    Parameters
    ----------
    p : Profiles
        Training profiles.
    cv_groups : {"drugs", "rows"}
        "drugs" refuses profiles where any treated row lacks a drug id (no drug column, a
        missing or an empty id): such rows would become one-row groups, their replicates would
        leak across folds and the score would be inflated. "rows" accepts them (each unknown row is its own
        group) for an evaluation that outputs must then label as row-grouped and optimistic.
    where : str
        What to name in the error message.

    Returns
    -------
    numpy.ndarray of int64
        One code per row; unknown drugs get unique negative codes.

    Raises
    ------
    DataError
        When drug ids are missing and ``cv_groups`` is "drugs", or ``cv_groups`` is unknown.
    """
    if cv_groups not in CV_GROUPS:
        raise data_error(
            where,
            f"cv_groups={cv_groups!r} is not one of {list(CV_GROUPS)}",
            "pass 'drugs' or 'rows'",
        )
    codes = p.drug_codes()
    treated = ~p.is_control  # controls are never trained on: their ids do not matter
    unknown = int(((codes < 0) & treated).sum())
    if unknown and cv_groups == "drugs":
        column = p.drug_column
        what = (
            "the profiles have no drug id column (drug_id, from train_drug.csv)"
            if column is None
            else f"{unknown} of {int(treated.sum())} treated rows have a missing or empty "
            f"{column!r}"
        )
        raise data_error(
            where,
            f"{what}, so drug-grouped cross-validation cannot keep each drug's replicates in one "
            "fold; rows without a drug would leak across folds and inflate the score",
            "put train_drug.csv (columns sig_id, drug_id) beside train_features.csv and fill "
            "every drug_id, or accept an optimistic row-grouped CV explicitly "
            "(--cv-groups rows on the command line, cv_groups='rows' in the API)",
        )
    return codes


def drug_grouped_folds(
    p: Any, *, n_splits: int = 5, random_state: int = 0, cv_groups: str = "drugs"
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Cross-validation folds that keep each drug's rows together and stratify the MoA labels.

    Drugs with at most 18 rows go whole into one fold (multilabel-stratified on the union of the
    drug's labels); the rows of larger drugs, including the controls, are stratified row by row.

    Parameters
    ----------
    p : Profiles
        Training profiles with labels ``p.Y`` and drug ids (:attr:`Profiles.drug_column`).
    n_splits, random_state : int
        Number of folds and seed of the shuffling, as in :func:`grouped_folds`.
    cv_groups : {"drugs", "rows"}
        "rows" accepts rows without a drug id as one-row groups (an optimistic CV); see
        :func:`cv_group_ids`.

    Returns
    -------
    list of (train_idx, valid_idx)
        NumPy int64 row positions into ``p``.

    Raises
    ------
    DataError
        When the profiles have no labels, or rows lack a drug id and ``cv_groups`` is "drugs".
    """
    if p.Y is None:
        raise data_error(
            "drug_grouped_folds",
            "the profiles have no labels (Y is None)",
            "load the training set with its targets (train_targets_scored.csv)",
        )
    groups = cv_group_ids(p, cv_groups, where="drug_grouped_folds")
    return grouped_folds(groups, p.Y, n_splits=n_splits, random_state=random_state)
