"""Fingerprint matching: nearest reference profiles of each query and kNN MoA inference.

A compound's response is a fingerprint: the annotated reference compounds whose profiles correlate
best with an unknown one suggest its mechanism. :func:`match` lists the neighbours as a tidy
table; :func:`predict_moa` turns them into label probabilities that the competition's log loss
can score. Both stream the search through :func:`gpu_moa.tl.similarity_topk`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from gpu_moa import _backend
from gpu_moa._validation import DataError
from gpu_moa.profiles import Profiles, label_strings
from gpu_moa.tl._similarity import similarity_topk

LEVELS = ("signature", "drug")
#: label cells (query rows x labels) of one block of kNN votes
_VOTE_CELLS = 1 << 16


def _reference_at(reference: Profiles, level: str, consensus_method: str) -> Profiles:
    if level not in LEVELS:
        raise ValueError(f"level must be one of {LEVELS}, got {level!r}")
    if level == "signature":
        return reference
    if reference.drug_column is None:
        raise DataError(
            "reference: level='drug' needs a drug_id (or L1000 pert_id) column in obs. Fix: add "
            "drug ids (lish-moa's train_drug.csv) or use level='signature'"
        )
    from gpu_moa.pp import consensus, drop_controls

    return consensus(drop_controls(reference), by=reference.drug_column, method=consensus_method)


def _drug_codes(query: Profiles, reference: Profiles) -> tuple[np.ndarray, np.ndarray] | None:
    """Shared drug codes (:meth:`Profiles.drug_codes`) of query and reference rows, or None when
    neither names its drugs; unknown ids never match."""
    if query.drug_column is None and reference.drug_column is None:
        return None
    codes = query.drug_codes(reference)
    return codes[: query.n_obs], codes[query.n_obs :]


def neighbours(
    query: Profiles,
    reference: Profiles,
    *,
    k: int = 10,
    metric: str = "pearson",
    exclude_same_drug: bool = True,
    block_rows: int | None = None,
    search: Any = None,
) -> tuple[Any, Any]:
    """Top-k reference neighbours of each query row (``similarity_topk`` on Profiles).

    ``search`` replaces :func:`~gpu_moa.tl.similarity_topk` by a function of the same
    signature, e.g. ``functools.partial(gm.dist.similarity_topk, chunk_rows=...)`` on Dask.

    A query that *is* the reference (the same object) never matches itself; with
    ``exclude_same_drug`` no query matches a reference row of its own drug (rows without a
    drug id are never excluded). Returns ``(indices, scores)`` as in
    :func:`~gpu_moa.tl.similarity_topk`.
    """
    if query.n_vars != reference.n_vars or query.var_names != reference.var_names:
        raise DataError(
            f"match: the query has {query.n_vars} features and the reference "
            f"{reference.n_vars}, or they differ in names/order. Fix: select the same features "
            "in the same order (e.g. reference.select_vars(query.var_names))"
        )
    groups = _drug_codes(query, reference) if exclude_same_drug else None
    return (search or similarity_topk)(
        query.X,
        None if query is reference else reference.X,
        k=k,
        metric=metric,
        exclude_groups=groups,
        block_rows=block_rows,
    )


def _ref_moa(reference: Profiles, rows: np.ndarray) -> np.ndarray:
    if reference.Y is None:
        return np.full(len(rows), "", dtype=object)
    return label_strings(reference.Y, rows, reference.label_names)


def match(
    query: Profiles,
    reference: Profiles,
    *,
    k: int = 10,
    metric: str = "pearson",
    exclude_same_drug: bool = True,
    level: str = "signature",
    consensus_method: str = "modz",
    block_rows: int | None = None,
    search: Any = None,
) -> pd.DataFrame:
    """The ``k`` reference profiles most similar to each query, as a tidy table.

    Parameters
    ----------
    query : Profiles
        Profiles to identify (e.g. test signatures).
    reference : Profiles
        Annotated profiles to search (same features in the same order).
    k : int, default 10
        Neighbours per query.
    metric : {"pearson", "spearman", "cosine"}, default "pearson"
        Similarity (see :func:`gpu_moa.tl.similarity`).
    exclude_same_drug : bool, default True
        Skip reference rows of the query's own drug (by ``obs["drug_id"]``), so that a drug is
        never identified by its own replicates.
    level : {"signature", "drug"}, default "signature"
        Search the reference signatures, or one consensus signature per reference drug
        (controls dropped, :func:`gpu_moa.pp.consensus` with ``consensus_method``).
    consensus_method : {"modz", "mean", "median"}, default "modz"
        How drug-level reference signatures are formed.
    block_rows : int, optional
        Query rows per block of the streamed search.
    search : callable, optional
        Replacement for :func:`~gpu_moa.tl.similarity_topk` (see :func:`neighbours`).

    Returns
    -------
    pandas.DataFrame
        One row per (query, neighbour): ``query_sig_id``, ``rank`` (1 = most similar),
        ``ref_sig_id``, ``ref_drug_id`` (its ``drug_id``, or L1000 ``pert_id``), ``score`` and ``ref_moa`` (the neighbour's scored MoA
        labels joined with ``"|"``, empty when it has none).
    """
    ref = _reference_at(reference, level, consensus_method)
    idx, scores = neighbours(
        query,
        ref,
        k=k,
        metric=metric,
        exclude_same_drug=exclude_same_drug,
        block_rows=block_rows,
        search=search,
    )
    return neighbour_table(query, ref, idx, scores)


def neighbour_table(query: Profiles, reference: Profiles, idx: Any, scores: Any) -> pd.DataFrame:
    """:func:`match`'s table from neighbours already found (e.g. by :func:`neighbours`).

    Parameters
    ----------
    query, reference : Profiles
        The searched profiles (``reference`` at the level searched).
    idx, scores : array, shape (query.n_obs, k)
        Reference row of each neighbour (-1 for none) and its similarity, best first.

    Returns
    -------
    pandas.DataFrame
        As :func:`match` returns.
    """
    idx, scores = _backend.to_numpy(idx), _backend.to_numpy(scores)
    q_pos, rank = np.nonzero(idx >= 0)
    r_pos = idx[q_pos, rank]
    column = reference.drug_column
    drug = reference.obs[column].to_numpy() if column else np.full(reference.n_obs, None)
    return pd.DataFrame(
        {
            "query_sig_id": query.sig_ids[q_pos],
            "rank": rank + 1,
            "ref_sig_id": reference.sig_ids[r_pos],
            "ref_drug_id": drug[r_pos],
            "score": scores[q_pos, rank],
            "ref_moa": _ref_moa(reference, r_pos),
        }
    )


def predict_moa(
    query: Profiles,
    reference: Profiles,
    *,
    k: int = 20,
    metric: str = "pearson",
    exclude_same_drug: bool = True,
    level: str = "signature",
    consensus_method: str = "modz",
    shrinkage: float = 0.2,
    power: float = 4.0,
    block_rows: int | None = None,
) -> Any:
    """MoA label probabilities from similarity-weighted neighbour votes, shrunk to the prior.

    For query ``i`` with neighbours ``j`` (similarity ``s_ij``), weights are
    ``w_ij = max(s_ij, 0) ** power`` and

    ``P[i, l] = (sum_j w_ij * Y[j, l] + shrinkage * prior[l]) / (sum_j w_ij + shrinkage)``

    where ``prior[l]`` is label ``l``'s frequency among the reference's treated rows (controls
    excluded). Without shrinkage a label that no neighbour carries would get probability 0 and an
    unbounded log loss; with it every prediction stays between the prior and the neighbours'
    vote. Query rows that are controls (:attr:`Profiles.is_control`) get 0, as the
    competition scores them.

    Parameters
    ----------
    query, reference : Profiles
        The reference must carry scored labels ``Y``.
    k : int, default 20
        Neighbours voting for each query.
    metric, exclude_same_drug, level, consensus_method, block_rows
        As in :func:`match`; ``exclude_same_drug=True`` gives leave-drug-out predictions when
        the query is the reference.
    shrinkage : float, default 0.2
        Pseudo-weight of the prior (in units of one perfectly similar neighbour).
    power : float, default 4.0
        Exponent sharpening the similarity weights.

    The defaults (k=20, shrinkage=0.2, power=4) minimised the leave-drug-out log loss of
    rank-Gauss profiles on the full synthetic set (0.0178 against 0.0204 for the prior).

    Returns
    -------
    array, shape (n_query, n_labels)
        float32 probabilities in the query's namespace, columns ``reference.label_names``.
    """
    if reference.Y is None:
        raise DataError(
            "predict_moa: the reference has no scored labels (Y). Fix: load the training "
            "targets with the reference profiles"
        )
    if shrinkage < 0:
        raise ValueError(f"shrinkage must be >= 0, got {shrinkage}")
    ref = _reference_at(reference, level, consensus_method)
    idx, scores = neighbours(
        query, ref, k=k, metric=metric, exclude_same_drug=exclude_same_drug, block_rows=block_rows
    )
    return vote(idx, scores, query, ref, shrinkage=shrinkage, power=power)


def vote(
    idx: Any, scores: Any, query: Profiles, reference: Profiles, *, shrinkage: float, power: float
) -> Any:
    """:func:`predict_moa`'s probabilities from precomputed neighbours ``(idx, scores)``."""
    xp = _backend.get_namespace(idx)
    Y = xp.astype(_backend.to_device(reference.Y, scores), xp.float64)
    treated = ~reference.is_control
    prior = xp.mean(_backend.take_rows(Y, treated), axis=0) if treated.any() else xp.mean(Y, axis=0)
    w = xp.where(idx >= 0, xp.clip(xp.astype(scores, xp.float64), 0.0, None) ** power, 0.0)
    safe = xp.where(idx >= 0, idx, xp.zeros_like(idx))
    denom = xp.sum(w, axis=1, keepdims=True) + shrinkage
    controls = _backend.to_device(query.is_control, w) if query.is_control.any() else None
    n, k = idx.shape
    rows = max(1, _VOTE_CELLS // max(1, Y.shape[1]))  # a block's votes stay in the cache
    blocks = []
    for lo in range(0, max(n, 1), rows):  # one empty block when there is no query
        hi = min(lo + rows, n)
        votes = xp.zeros((hi - lo, Y.shape[1]), dtype=xp.float64, device=_backend.array_device(Y))
        for t in range(k):
            votes = votes + w[lo:hi, t : t + 1] * xp.take(Y, safe[lo:hi, t], axis=0)
        d = denom[lo:hi, :]
        P = (votes + shrinkage * prior) / xp.where(d > 0, d, 1.0)
        P = xp.where(d > 0, P, prior)  # no weight at all (shrinkage 0): the prior
        if controls is not None:
            P = xp.where(controls[lo:hi, None], 0.0, P)
        blocks.append(xp.astype(P, xp.float32))
    return xp.concat(blocks, axis=0)
