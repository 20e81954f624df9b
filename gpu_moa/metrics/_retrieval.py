"""Retrieval metrics with whole drugs held out: mAP, precision@k, nearest-neighbour hit rate.

A profile *retrieves* the other profiles in order of similarity. A retrieved profile is a hit
when it shares at least one scored MoA label with the query (the multilabel rule copairs uses);
profiles of the query's own drug are removed from the ranking entirely, so a drug can never be
recognised by its own replicates. Queries are the rows with at least one label; rows without labels
(controls, unannotated drugs) take part only as candidates. Drop rows beforehand (e.g.
:func:`gpu_moa.pp.drop_controls`) to change the candidate population.

Everything runs in query-row blocks in the profiles' array namespace: no n x n matrix is held.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from gpu_moa import _backend
from gpu_moa._validation import DataError
from gpu_moa.profiles import Profiles
from gpu_moa.tl._match import neighbours
from gpu_moa.tl._similarity import prepare

POSITIVES = ("moa",)


def retrieval_inputs(p: Profiles, positive: str) -> tuple[Any, np.ndarray, np.ndarray]:
    """(labels in p's namespace, drug codes, query row positions)."""
    if positive not in POSITIVES:
        raise ValueError(f"positive must be one of {POSITIVES}, got {positive!r}")
    if p.Y is None:
        raise DataError(
            "retrieval metrics: the profiles have no scored labels (Y). Fix: load the targets "
            "(train_targets_scored.csv) with the features"
        )
    Y = p.xp.astype(p.Y, p.xp.float32)
    codes = p.drug_codes()  # rows of unknown drug get codes of their own: only self excluded
    queries = np.flatnonzero(_backend.to_numpy(p.xp.sum(Y, axis=1) > 0))  # one flag per row
    return Y, codes, queries


def _subset(queries: np.ndarray, chosen: Any) -> np.ndarray:
    if chosen is None:
        return queries
    pos = np.asarray(chosen)
    pos = np.flatnonzero(pos) if pos.dtype == bool else pos.astype(np.int64)
    return np.intersect1d(queries, pos)


def _shares_label(Yq: Any, Y: Any, xp: Any) -> Any:
    """(b x n) True where query and candidate share at least one label."""
    return xp.matmul(Yq, xp.permute_dims(Y, (1, 0))) > 0


def _block_rows(n: int, bytes_per_cell: int, xp: Any, block_rows: int | None) -> int:
    if block_rows is not None:
        return max(1, int(block_rows))
    budget = min(_backend.free_memory_bytes(xp) // 8, 256 << 20)
    return int(max(1, budget // max(1, n * bytes_per_cell)))


def retrieval_map(
    p: Profiles,
    *,
    metric: str = "pearson",
    positive: str = "moa",
    queries: Any = None,
    block_rows: int | None = None,
) -> float:
    """Mean average precision of retrieving profiles that share an MoA, own drug excluded.

    Parameters
    ----------
    p : Profiles
        Profiles with scored labels ``Y`` and (ideally) ``obs["drug_id"]``; without drug ids
        only the query itself is excluded.
    metric : {"pearson", "spearman", "cosine"}, default "pearson"
        Similarity that ranks the candidates.
    positive : {"moa"}
        A candidate is a positive when it shares at least one scored label with the query.
    queries : array of int or bool, optional
        Restrict the queries to these rows (e.g. a random sample, to bound the cost); the
        candidates are always all rows.
    block_rows : int, optional
        Query rows per block (default: sized from free memory).

    Returns
    -------
    float
        The mean over queries (labelled rows with at least one positive candidate) of the
        average precision, computed as ``sklearn.metrics.average_precision_score`` would on that
        query's candidates. NaN when no query qualifies.
    """
    Y, codes, q_rows = retrieval_inputs(p, positive)
    q_rows = _subset(q_rows, queries)
    xp = p.xp
    X = prepare(p.X, metric)
    XT = xp.permute_dims(X, (1, 0))
    codes_dev = _backend.to_device(codes, X)
    rows = _block_rows(p.n_obs, 48, xp, block_rows)
    total, count = 0.0, 0
    with _backend.timed_step("metrics.retrieval_map", xp, f"{metric}, {q_rows.size} queries"):
        for lo in range(0, q_rows.size, rows):
            block = q_rows[lo : lo + rows]
            S = xp.matmul(_backend.take_rows(X, block), XT)  # take_rows copies: distinct buffers
            same = _backend.take_rows(codes_dev, block)[:, None] == codes_dev[None, :]
            S = xp.where(same, -xp.inf, S)
            pos = _shares_label(_backend.take_rows(Y, block), Y, xp) & ~same
            ap, n_pos = _backend.average_precision_rows(S, pos)  # sklearn's tie rule
            valid = n_pos > 0
            total += float(xp.sum(xp.where(valid, ap, 0.0)))
            count += int(xp.sum(xp.astype(valid, xp.int64)))
    return total / count if count else float("nan")


def precision_at_k(
    p: Profiles,
    *,
    k: int = 10,
    metric: str = "pearson",
    positive: str = "moa",
    block_rows: int | None = None,
) -> float:
    """Mean fraction of each query's k nearest profiles (own drug excluded) sharing an MoA.

    Queries are the labelled rows; a query with fewer than ``k`` candidates is scored on the
    ones it has.

    Parameters
    ----------
    p : Profiles
        Profiles with scored labels ``Y`` and (ideally) ``obs["drug_id"]``.
    k : int, default 10
        Neighbours inspected per query.
    metric : {"pearson", "spearman", "cosine"}, default "pearson"
        Similarity that ranks the candidates.
    positive : {"moa"}
        A neighbour counts when it shares at least one scored label with the query.
    block_rows : int, optional
        Query rows per block of the streamed search.

    Returns
    -------
    float
        Mean precision@k over queries; NaN when there is none.
    """
    Y, codes, q_rows = retrieval_inputs(p, positive)
    hits, valid = _neighbour_hits(p, Y, codes, q_rows, k, metric, block_rows)
    per_query = np.sum(hits, axis=1) / np.maximum(np.sum(valid, axis=1), 1)
    return float(np.mean(per_query[np.sum(valid, axis=1) > 0])) if q_rows.size else float("nan")


def _neighbour_hits(
    p: Profiles, Y: Any, codes: np.ndarray, q_rows: np.ndarray, k: int, metric: str, block_rows
) -> tuple[np.ndarray, np.ndarray]:
    """(hit, valid) host matrices (queries x k) of the k nearest other-drug profiles."""
    query = p[q_rows]
    query = query.replace(obs=query.obs.assign(drug_id=codes[q_rows]))
    ref = p.replace(obs=p.obs.assign(drug_id=codes))
    idx, _ = neighbours(query, ref, k=k, metric=metric, block_rows=block_rows)
    return hits_of(idx, Y, q_rows)


def hits_of(idx: Any, Y: Any, q_rows: np.ndarray, block: int = 1024) -> tuple[Any, Any]:
    """Which neighbours ``idx`` (queries x k, -1 = none) share a label with their query.

    Labels are compared on the device, in blocks of queries; only the (queries x k) flags come
    to the host. Returns ``(hit, valid)`` boolean host matrices of ``idx``'s shape.
    """
    xp = _backend.get_namespace(Y)
    idx = _backend.to_device(idx, Y)
    hits = []
    for lo in range(0, len(q_rows), block):
        part = idx[lo : min(lo + block, len(q_rows)), :]
        b, k = part.shape
        safe = xp.reshape(xp.where(part >= 0, part, xp.zeros_like(part)), (-1,))
        theirs = xp.reshape(xp.take(Y, safe, axis=0), (b, k, Y.shape[1]))
        own = _backend.take_rows(Y, q_rows[lo : lo + block])
        shared = xp.sum(theirs * own[:, None, :], axis=2) > 0
        hits.append(shared & (part >= 0))
    if not hits:
        return np.zeros(tuple(idx.shape), bool), np.zeros(tuple(idx.shape), bool)
    return _backend.to_numpy(xp.concat(hits, axis=0)), _backend.to_numpy(idx >= 0)


def chance_of_hit(n_pos: np.ndarray, n_cand: np.ndarray, k: int) -> np.ndarray:
    """Per query: probability that ``k`` random candidates (no replacement) include a positive."""
    miss = np.ones(n_pos.shape)
    for t in range(k):
        miss *= np.clip((n_cand - n_pos - t) / np.maximum(n_cand - t, 1), 0.0, 1.0)
    return 1.0 - miss


def knn_hit_rate(
    p: Profiles,
    *,
    k: int = 1,
    metric: str = "pearson",
    positive: str = "moa",
    block_rows: int | None = None,
) -> dict[str, float]:
    """How often a query's nearest other-drug profile(s) share an MoA, against chance.

    Parameters
    ----------
    p, metric, positive, block_rows
        As in :func:`retrieval_map`.
    k : int, default 1
        A query is a hit when any of its ``k`` nearest other-drug profiles shares a label.

    Returns
    -------
    dict
        ``hit_rate`` (fraction of queries with a hit), ``chance`` (the mean over queries of
        the probability of a hit when the k neighbours are drawn at random without
        replacement from the query's candidates), ``enrichment`` (hit_rate / chance),
        ``n_queries`` and ``k``.
    """
    Y, codes, q_rows = retrieval_inputs(p, positive)
    hits, _ = _neighbour_hits(p, Y, codes, q_rows, k, metric, block_rows)
    n_pos, n_cand = positive_counts(Y, codes, q_rows)
    hit_rate = float(np.mean(np.any(hits, axis=1))) if q_rows.size else float("nan")
    chance = float(np.mean(chance_of_hit(n_pos, n_cand, k))) if q_rows.size else float("nan")
    return {
        "hit_rate": hit_rate,
        "chance": chance,
        "enrichment": hit_rate / chance if chance > 0 else float("nan"),
        "n_queries": int(q_rows.size),
        "k": int(k),
    }


def label_sets(Y: Any) -> tuple[np.ndarray, np.ndarray]:
    """The distinct label sets of the rows of a 0/1 device matrix, and each row's set.

    Only the positive (row, label) pairs come to the host (a few bytes per row: labels are
    sparse), never the label matrix.

    Returns
    -------
    sets : numpy.ndarray of bool, shape (u, K)
        The distinct sets (the empty set included when some row has no label).
    set_of : numpy.ndarray of int64, shape (n,)
        Each row's set.
    """
    xp = _backend.get_namespace(Y)
    n, K = Y.shape
    rows, cols = (_backend.to_numpy(xp.astype(a, xp.int32)) for a in xp.nonzero(Y > 0.5))
    keys = np.full(n, "", dtype=object)
    if rows.size:
        joined = pd.Series(cols.astype(str)).groupby(rows).agg(",".join)
        keys[joined.index.to_numpy()] = joined.to_numpy()
    set_of, uniq = pd.factorize(keys)
    sets = np.zeros((len(uniq), K), dtype=bool)
    sets[set_of[rows], cols] = True
    return sets, set_of.astype(np.int64)


def positive_counts(Y: Any, codes: np.ndarray, q_rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per query: candidates sharing a label, and all candidates (rows of other drugs).

    Counted over the distinct label sets instead of row pairs: with ``u`` sets the work is a
    ``u x u`` overlap matrix plus, per drug, the overlap of its own rows, never n x n.
    """
    sets, set_of = label_sets(Y)
    overlap = (sets.astype(np.float64) @ sets.T.astype(np.float64)) > 0
    per_set = np.bincount(set_of, minlength=sets.shape[0])
    pos_all = overlap.astype(np.int64) @ per_set  # rows sharing a label, same drug included
    _, drug_of = np.unique(codes, return_inverse=True)
    pairs = pd.DataFrame({"drug": drug_of.reshape(-1), "set": set_of}).value_counts()
    pairs = pairs.rename("count").reset_index()
    both = pairs.merge(pairs, on="drug", suffixes=("", "_other"))
    both = both[overlap[both["set"].to_numpy(), both["set_other"].to_numpy()]]
    own = both.groupby(["drug", "set"])["count_other"].sum()
    key = pd.MultiIndex.from_arrays([drug_of.reshape(-1)[q_rows], set_of[q_rows]])
    own_pos = own.reindex(key, fill_value=0).to_numpy()
    drug_size = np.bincount(drug_of.reshape(-1))
    n_cand = len(set_of) - drug_size[drug_of.reshape(-1)[q_rows]]
    return (pos_all[set_of[q_rows]] - own_pos).astype(float), n_cand.astype(float)
