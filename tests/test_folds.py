"""Drug-grouped, multilabel-stratified cross-validation folds."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import gpu_moa as gm
from gpu_moa.metrics import drug_grouped_folds
from gpu_moa.metrics._folds import MAX_WHOLE_DRUG_ROWS, grouped_folds


@pytest.fixture(scope="module")
def folds_and_data(small_lish_moa):
    return small_lish_moa, drug_grouped_folds(small_lish_moa, n_splits=5, random_state=0)


def test_folds_partition_the_rows(folds_and_data):
    p, folds = folds_and_data
    assert len(folds) == 5
    valid = np.concatenate([va for _, va in folds])
    assert np.array_equal(np.sort(valid), np.arange(p.n_obs))
    for tr, va in folds:
        assert np.intersect1d(tr, va).size == 0
        assert tr.size + va.size == p.n_obs


def test_small_drugs_stay_whole_and_large_drugs_are_spread(folds_and_data):
    p, folds = folds_and_data
    fold = np.empty(p.n_obs, int)
    for k, (_, va) in enumerate(folds):
        fold[va] = k
    per_drug = pd.Series(fold, index=p.obs.index).groupby(p.obs["drug_id"].to_numpy())
    sizes = p.obs["drug_id"].value_counts()
    small = sizes.index[sizes <= MAX_WHOLE_DRUG_ROWS]
    assert (per_drug.nunique().loc[small] == 1).all()
    large = sizes.index[sizes > MAX_WHOLE_DRUG_ROWS]
    assert len(large) >= 1  # the controls at least
    assert (per_drug.nunique().loc[large] == 5).all()


def test_folds_stratify_labels_over_drugs():
    # 200 drugs of 6 rows; label k is carried by 20 drugs: each of 5 folds should get 4 of them
    rng = np.random.default_rng(0)
    drug_labels = np.zeros((200, 3))
    for k in range(3):
        drug_labels[rng.choice(200, 20, replace=False), k] = 1
    groups = np.repeat([f"d{i}" for i in range(200)], 6)
    Y = np.repeat(drug_labels, 6, axis=0)
    folds = grouped_folds(groups, Y, n_splits=5, random_state=0)
    for _, va in folds:
        counts = [np.unique(groups[va][Y[va, k] > 0]).size for k in range(3)]
        assert all(3 <= c <= 5 for c in counts), counts


def test_folds_spread_positive_drugs_of_real_like_data(small_lish_moa):
    folds = drug_grouped_folds(small_lish_moa, n_splits=3, random_state=0)
    Y = gm.to_numpy(small_lish_moa.Y)
    drugs = small_lish_moa.obs["drug_id"].to_numpy()
    spread = []
    for k in range(Y.shape[1]):
        if np.unique(drugs[Y[:, k] > 0]).size >= 3:
            counts = [np.unique(drugs[va][Y[va, k] > 0]).size for _, va in folds]
            spread.append(max(counts) - min(counts))
    assert len(spread) >= 5
    assert np.mean(spread) <= 1.0


def test_folds_are_reproducible_and_seeded(small_lish_moa):
    a = drug_grouped_folds(small_lish_moa, n_splits=3, random_state=1)
    b = drug_grouped_folds(small_lish_moa, n_splits=3, random_state=1)
    c = drug_grouped_folds(small_lish_moa, n_splits=3, random_state=2)
    assert all(np.array_equal(x[1], y[1]) for x, y in zip(a, b, strict=True))
    assert not all(np.array_equal(x[1], y[1]) for x, y in zip(a, c, strict=True))


def test_rows_without_group_are_their_own_group():
    groups = np.array(["d1"] * 6 + ["d2"] * 6 + [None] * 8, dtype=object)
    Y = np.zeros((20, 2))
    Y[:6, 0] = 1
    Y[12:, 1] = np.arange(8) % 2
    folds = grouped_folds(groups, Y, n_splits=2, random_state=0)
    fold = np.empty(20, int)
    for k, (_, va) in enumerate(folds):
        fold[va] = k
    assert len(set(fold[:6])) == 1 and len(set(fold[6:12])) == 1
    assert len(set(fold[12:])) == 2  # ungrouped rows spread over both folds


def test_fold_errors_name_the_fix(small_lish_moa):
    with pytest.raises(gm.DataError, match="no labels"):
        drug_grouped_folds(small_lish_moa.replace(Y=None, label_names=[]))
    with pytest.raises(gm.DataError, match="drug_id"):
        drug_grouped_folds(small_lish_moa.replace(obs=small_lish_moa.obs.drop(columns="drug_id")))
    with pytest.raises(gm.DataError, match="fewer folds"):
        grouped_folds(["a", "a", "b"], np.eye(3)[:, :2], n_splits=5)
