"""Connectivity queries as gene sets: from Profiles rows (top/bottom genes) or from gene lists.

A query is an up set and a down set of reference columns. Members given as text are looked up
among the reference's feature names, then its gene symbols (``var["symbol"]``), then its Entrez
ids; a Profiles query is matched to the reference column by column through whichever of those
keys matches the most features (lish-moa's ``g-0..`` columns match L1000 probes by symbol).
Members not in the reference are dropped and counted.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import array_api_compat
import numpy as np
import pandas as pd

from gpu_moa import _backend
from gpu_moa._validation import DataError, check_no_nan_array
from gpu_moa.profiles import Profiles

_KEYS = ("feature", "symbol", "entrez_id")


@dataclasses.dataclass(frozen=True)
class QuerySets:
    """Up and down sets of every query as padded reference column indices (device arrays).

    ``up``/``down`` have shape (q, L) and are padded with N (the reference's gene count);
    ``n_up``/``n_down`` (q,) count the members; ``info`` (host) has one row per query: n_up,
    n_down, missing_up, missing_down.
    """

    up: Any
    n_up: Any
    down: Any
    n_down: Any
    info: pd.DataFrame

    @property
    def n_queries(self) -> int:
        """Number of queries."""
        return len(self.info)

    def rows(self, lo: int, hi: int) -> QuerySets:
        """The queries ``lo..hi`` (a block)."""
        return QuerySets(
            self.up[lo:hi, :],
            self.n_up[lo:hi],
            self.down[lo:hi, :],
            self.n_down[lo:hi],
            self.info.iloc[lo:hi],
        )


def _key_values(var: pd.DataFrame, key: str) -> list[str | None]:
    if key == "feature":
        values = var.index.to_series()
    elif key in var:
        values = var[key]
    else:
        return [None] * len(var)
    text = values.astype("string").str.strip()
    return [None if pd.isna(v) or v in ("", "nan", "<NA>", "-666") else str(v) for v in text]


def gene_lookup(var: pd.DataFrame) -> dict[str, int]:
    """Reference column of each identifier: feature names first, then symbols, then Entrez ids."""
    lookup: dict[str, int] = {}
    for key in _KEYS:
        for pos, value in enumerate(_key_values(var, key)):
            if value is not None:
                lookup.setdefault(value, pos)
    return lookup


def match_features(query_var: pd.DataFrame, ref_var: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Positions of the query features found in the reference and of their reference columns.

    The key (feature name, symbol or Entrez id) matching the most features is used; a reference
    column matched twice keeps its first query feature.
    """
    best: tuple[np.ndarray, np.ndarray] = (np.zeros(0, np.int64), np.zeros(0, np.int64))
    for key in _KEYS:
        ref: dict[str, int] = {}
        for pos, value in enumerate(_key_values(ref_var, key)):
            if value is not None:
                ref.setdefault(value, pos)
        pairs = [
            (i, ref[v])
            for i, v in enumerate(_key_values(query_var, key))
            if v is not None and v in ref
        ]
        if len(pairs) > len(best[0]):
            q, r = (np.asarray(c, dtype=np.int64) for c in zip(*pairs, strict=True))
            _, first = np.unique(r, return_index=True)
            keep = np.sort(first)
            best = (q[keep], r[keep])
    return best


def from_profiles(query: Profiles, ref_var: pd.DataFrame, n_genes: int, like: Any) -> QuerySets:
    """Each query row's ``n_genes`` highest genes (up) and lowest genes (down), ties in feature
    order, among the genes it shares with the reference; ``like`` is a reference array."""
    xp = _backend.get_namespace(like)
    dev = array_api_compat.device(like)
    q_pos, r_pos = match_features(query.var, ref_var)
    if n_genes < 1 or 2 * n_genes > len(q_pos):
        raise DataError(
            f"connectivity: n_genes={n_genes} needs 2 x {n_genes} genes shared by the query and "
            f"the reference, but they share {len(q_pos)} (matched by feature name, symbol or "
            "Entrez id). Fix: lower n_genes or use references with the query's genes"
        )
    check_no_nan_array(query.X, "connectivity query")
    Q = _backend.to_device(_backend.take_cols(query.X, q_pos), like)
    cols = xp.asarray(r_pos, device=dev)
    up = xp.argsort(-Q, axis=1, stable=True)[:, :n_genes]
    down = xp.argsort(Q, axis=1, stable=True)[:, :n_genes]
    q = query.n_obs

    def to_ref(idx: Any) -> Any:
        return xp.reshape(xp.take(cols, xp.reshape(idx, (-1,))), (q, n_genes))

    sizes = xp.full((q,), n_genes, dtype=xp.int64, device=dev)
    missing = query.n_vars - len(q_pos)
    info = pd.DataFrame(
        {"n_up": n_genes, "n_down": n_genes, "missing_up": missing, "missing_down": missing},
        index=pd.Index([str(s) for s in query.obs.index], name="query"),
    )
    return QuerySets(to_ref(up), sizes, to_ref(down), sizes, info)


GeneSets = Mapping[str, Iterable[Any]] | Sequence[Iterable[Any]] | None


def _as_named(sets: GeneSets, prefix: str) -> dict[str, list[str]] | None:
    if sets is None:
        return None
    if isinstance(sets, Mapping):
        return {str(k): [str(g) for g in v] for k, v in sets.items()}
    if isinstance(sets, str) or (sets and isinstance(next(iter(sets)), str | int)):
        sets = [sets] if isinstance(sets, str) else [list(sets)]  # one set given as a flat list
    return {f"{prefix}{i}": [str(g) for g in v] for i, v in enumerate(sets)}


def _indices(sets: list[list[str]], lookup: dict[str, int], n: int) -> tuple[np.ndarray, ...]:
    found = [list(dict.fromkeys(lookup[g] for g in s if g in lookup)) for s in sets]
    width = max([1, *(len(f) for f in found)])
    padded = np.full((len(sets), width), n, dtype=np.int64)
    for row, members in enumerate(found):  # host bookkeeping of the (small) query lists
        padded[row, : len(members)] = members
    sizes = np.array([len(f) for f in found], dtype=np.int64)
    missing = np.array([len(set(s)) for s in sets], dtype=np.int64) - sizes
    return padded, sizes, missing


def from_gene_sets(up: GeneSets, down: GeneSets, ref_var: pd.DataFrame, like: Any) -> QuerySets:
    """Queries from lists of gene sets (or ``{name: members}``); ``up[i]`` pairs with
    ``down[i]``. Either side may be None (queries with one set)."""
    xp = _backend.get_namespace(like)
    dev = array_api_compat.device(like)
    named_up, named_down = _as_named(up, "query"), _as_named(down, "query")
    if named_up is None and named_down is None:
        raise DataError("connectivity: no query. Fix: pass query Profiles, or up= and/or down=")
    if named_up is not None and named_down is not None and len(named_up) != len(named_down):
        raise DataError(
            f"connectivity: {len(named_up)} up sets but {len(named_down)} down sets. Fix: pass "
            "one down set per up set (in the same order), or only one side"
        )
    names = list((named_up or named_down).keys())
    q, n = len(names), len(ref_var)
    lookup = gene_lookup(ref_var)
    parts = []
    for named in (named_up, named_down):
        members = list(named.values()) if named is not None else [[]] * q
        parts.append(_indices(members, lookup, n))
    (up_idx, n_up, miss_up), (down_idx, n_down, miss_down) = parts
    if not (n_up + n_down).any():
        raise DataError(
            "connectivity: no query gene is in the reference (looked up by feature name, "
            "symbol and Entrez id). Fix: use identifiers of the reference's genes"
        )
    info = pd.DataFrame(
        {"n_up": n_up, "n_down": n_down, "missing_up": miss_up, "missing_down": miss_down},
        index=pd.Index(names, name="query"),
    )

    def dev_array(a: np.ndarray) -> Any:
        return xp.asarray(a, device=dev)

    return QuerySets(
        dev_array(up_idx), dev_array(n_up), dev_array(down_idx), dev_array(n_down), info
    )


def random_sets(n_up: int, n_down: int, n_genes: int, n: int, rng: Any, like: Any) -> QuerySets:
    """``n`` random (up, down) pairs of disjoint sets of the given sizes among ``n_genes`` genes."""
    xp = _backend.get_namespace(like)
    dev = array_api_compat.device(like)
    pick = np.argsort(rng.random((n, n_genes)), axis=1)[:, : n_up + n_down]
    up = pick[:, :n_up] if n_up else np.full((n, 1), n_genes)
    down = pick[:, n_up:] if n_down else np.full((n, 1), n_genes)
    info = pd.DataFrame({"n_up": n_up, "n_down": n_down}, index=pd.RangeIndex(n))
    sizes = (np.full(n, n_up), np.full(n, n_down))
    return QuerySets(
        xp.asarray(up.astype(np.int64), device=dev),
        xp.asarray(sizes[0].astype(np.int64), device=dev),
        xp.asarray(down.astype(np.int64), device=dev),
        xp.asarray(sizes[1].astype(np.int64), device=dev),
        info,
    )
