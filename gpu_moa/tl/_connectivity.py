"""Connectivity Map queries: WTCS, NCS and tau of gene-set queries against reference signatures.

:func:`connectivity` gives the full query x reference matrices (with NCS, tau, permutation
p-values and BH q-values); :func:`connectivity_topk` keeps only the ``k`` best references of each
query while streaming the reference (in memory, or a GCTX/Parquet file read block by block).

Both compute in blocks of query sets x reference rows: a block's reference rows are ranked once
(int16 ranks and the absolute values in rank order), then every set's ES comes from a gather of
its genes' ranks, a sort of those few ranks and a cumulative sum (see
:mod:`gpu_moa.tl._connectivity_scores`). Block sizes keep the temporaries within about 16 MB on
the CPU (1/8 of the free memory, at most 2 GB, on a GPU); there is no Python loop over queries
or references, only over blocks.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from typing import Any

import array_api_compat
import numpy as np
import pandas as pd

from gpu_moa import _backend
from gpu_moa._backend import topk_rows
from gpu_moa._validation import DataError, check_no_nan_array, group_columns
from gpu_moa.tl import _connectivity_scores as scores
from gpu_moa.tl._connectivity_query import QuerySets, from_gene_sets, from_profiles, random_sets
from gpu_moa.tl._connectivity_result import (
    DIRECTIONS,
    ConnectivityHits,
    ConnectivityResult,
    _key,
)
from gpu_moa.tl._connectivity_source import Source, as_profiles, source_of

_SLOT_BYTES = 48  # temporaries per (set member, reference row) in the ES computation
_CPU_BUDGET = 16 << 20  # small blocks stay in the CPU caches (about 30% faster than 64 MB)
TAU_MIN_QUERIES = 500
_P_TIE = 1e-5  # relative: |null| >= |observed| * (1 - _P_TIE) counts as at least as extreme


def query_sets(
    query: Any, up: Any, down: Any, var: pd.DataFrame, n_genes: int, like: Any
) -> QuerySets:
    """The query's sets: from Profiles rows (top/bottom ``n_genes``) or from ``up``/``down``."""
    if query is not None and (up is not None or down is not None):
        raise TypeError("connectivity: pass either query Profiles or up=/down= gene sets, not both")
    if query is not None:
        return from_profiles(as_profiles(query, "query"), var, n_genes, like)
    return from_gene_sets(up, down, var, like)


def _budget_slots(xp: Any) -> int:
    if _backend.is_cupy_namespace(xp):
        return min(_backend.free_memory_bytes(xp) // 8, 2 << 30) // _SLOT_BYTES
    return _CPU_BUDGET // _SLOT_BYTES


def _chunk_budget(xp: Any) -> int:
    """Bytes of query x reference scores per streamed chunk (a few copies are alive at once)."""
    if _backend.is_cupy_namespace(xp):
        return min(_backend.free_memory_bytes(xp) // 16, 1 << 30)
    return 4 << 20


def block_shape(sets: QuerySets, n_ref: int, block_rows: int | None, xp: Any) -> tuple[int, int]:
    """(queries, reference rows) per block so that the ES temporaries stay within budget."""
    width = sets.up.shape[1] + sets.down.shape[1]
    slots = _budget_slots(xp)
    q_block = max(1, min(sets.n_queries, slots // (width * 32)))
    r_block = block_rows if block_rows is not None else slots // (width * q_block)
    return q_block, max(1, min(int(r_block), max(n_ref, 1)))


def wtcs_block(sets: QuerySets, X: Any, q_block: int) -> Any:
    """WTCS (n_queries x rows of ``X``) of all query sets against a block of reference rows."""
    xp = _backend.get_namespace(X)
    check_no_nan_array(X, "connectivity reference")  # per block: no reference-sized mask
    ranks, weights = scores.reference_ranks(X)
    parts = []
    for lo in range(0, sets.n_queries, q_block):
        s = sets.rows(lo, min(lo + q_block, sets.n_queries))
        es_up = scores.enrichment(ranks, weights, s.up, s.n_up)
        es_down = scores.enrichment(ranks, weights, s.down, s.n_down)
        parts.append(scores.wtcs(es_up, es_down, s.n_up, s.n_down))
    return xp.concat(parts, axis=0)


def _row_blocks(sets: QuerySets, X: Any, q_block: int, r_block: int) -> list[Any]:
    """WTCS of all query sets against each block of ``r_block`` rows of ``X``; the blocks are
    independent, so on the CPU they run side by side on the cores (``ordered_map``)."""

    def block(lo: int) -> Any:
        return wtcs_block(sets, X[lo : min(lo + r_block, X.shape[0]), :], q_block)

    xp = _backend.get_namespace(X)
    return list(_backend.ordered_map(block, range(0, X.shape[0], r_block), xp))


def wtcs_matrix(sets: QuerySets, X: Any, block_rows: int | None = None) -> Any:
    """The full WTCS matrix (n_queries x n_reference), built in reference row blocks."""
    xp = _backend.get_namespace(X)
    parts = _row_blocks(sets, X, *block_shape(sets, X.shape[0], block_rows, xp))
    if not parts:
        return xp.zeros((sets.n_queries, 0), dtype=xp.float32)
    return xp.concat(parts, axis=1)


def group_codes(obs: pd.DataFrame | None, by: Any, n: int, like: Any) -> tuple[Any, int]:
    """Device int64 codes of the reference groups for NCS (one group without ``by``)."""
    xp = _backend.get_namespace(like)
    if by is None:
        codes = np.zeros(n, dtype=np.int64)
    else:
        if obs is None:
            raise DataError("connectivity: by= needs reference metadata. Fix: pass Profiles")
        cols = group_columns(obs, by, "connectivity by=")
        codes = obs.groupby(cols, sort=False, dropna=False).ngroup().to_numpy(np.int64)
    return xp.asarray(codes, device=array_api_compat.device(like)), int(codes.max(initial=-1)) + 1


def _normalised(W: Any, codes: Any, n_groups: int) -> Any:
    return scores.normalise(W, codes, scores.group_means(W, codes, n_groups))


def permutation_pvalues(
    W: Any, sets: QuerySets, X: Any, n_permutations: int, random_state: Any, block_rows: Any
) -> Any:
    """p-values of |WTCS| against random sets of each query's sizes (nulls shared by queries
    with the same sizes): ``(#null >= observed + 1) / (n + 1)`` per reference signature.

    The random sets of each distinct (n_up, n_down), in increasing order, are drawn from
    ``numpy.random.default_rng(random_state)``: the first ``n_up + n_down`` genes of the argsort
    of a uniform (n_permutations x N) draw, up first.
    """
    xp = _backend.get_namespace(W)
    rng = np.random.default_rng(random_state)
    sizes = sets.info[["n_up", "n_down"]].to_numpy(np.int64)
    pairs, which = np.unique(sizes, axis=0, return_inverse=True)
    parts, order = [], []
    for i, (n_up, n_down) in enumerate(pairs):
        rows = np.flatnonzero(which.ravel() == i)
        null_sets = random_sets(int(n_up), int(n_down), X.shape[1], n_permutations, rng, X)
        null = xp.abs(wtcs_matrix(null_sets, X, block_rows))
        # a null within float32 rounding of the observed value counts as reaching it
        observed = xp.abs(_backend.take_rows(W, rows)) * (1 - _P_TIE)
        below = scores.count_below(observed, null)
        at_least = n_permutations - xp.astype(below, xp.float32)
        parts.append((at_least + 1) / (n_permutations + 1))
        order.append(rows)
    return _backend.take_rows(xp.concat(parts, axis=0), np.argsort(np.concatenate(order)))


def connectivity(
    query: Any = None,
    reference: Any = None,
    *,
    n_genes: int = 50,
    up: Any = None,
    down: Any = None,
    by: str | list[str] | None = None,
    tau_reference: Any = "reference",
    n_permutations: int = 0,
    random_state: Any = 0,
    block_rows: int | None = None,
) -> ConnectivityResult:
    """Connectivity Map scores of every query against every reference signature.

    Parameters
    ----------
    query : Profiles or array, optional
        Query signatures: each row's ``n_genes`` highest genes form its up set, its ``n_genes``
        lowest its down set (ties in feature order). Omit it to pass ``up``/``down``.
    reference : Profiles or array, shape (m, N)
        Reference signatures (genes as features, matched to the query by feature name, gene
        symbol or Entrez id).
    n_genes : int, default 50
        Genes per set of a Profiles query (and of the touchstone queries for tau).
    up, down : list of gene sets, or dict name -> members, optional
        Gene-set queries (symbols, Entrez ids or feature names; e.g. from
        :func:`gpu_moa.io.read_gmt`); ``up[i]`` pairs with ``down[i]``; either may be omitted
        (an up-only query scores ES_up, a down-only one -ES_down, so that a positive score
        always means the reference moves the genes the query's way).
    by : str or list of str, optional
        Reference obs columns whose groups normalise NCS separately (e.g. cell_id, pert_type).
    tau_reference : "reference", Profiles or None, default "reference"
        The reference queries for tau: the reference signatures themselves (touchstone), other
        Profiles, or None to skip tau. Fewer than 500 give a coarse tau (warned).
    n_permutations : int, default 0
        Random set pairs per distinct (n_up, n_down) for p-values and BH q-values (0: none).
    random_state : int or numpy Generator, default 0
        Seed of the random sets.
    block_rows : int, optional
        Reference rows per block (default: sized to about 16 MB of temporaries on the CPU).

    Returns
    -------
    ConnectivityResult
        ``wtcs``, ``ncs``, ``tau``, ``pvalue``, ``qvalue`` (n_queries x m device arrays, None
        where not computed) and ``to_frame(top=k)``, ``by_perturbagen()``, ``by_moa()``.

    Raises
    ------
    DataError
        On NaN input, no shared genes, too few genes for ``n_genes``, a missing ``by`` column.
    """
    if reference is None:
        raise TypeError("connectivity: pass the reference signatures (reference=)")
    if n_permutations < 0:
        raise ValueError(f"n_permutations must be >= 0, got {n_permutations}")
    ref = as_profiles(reference, "reference")
    sets = query_sets(query, up, down, ref.var, n_genes, ref.X)
    W = wtcs_matrix(sets, ref.X, block_rows)
    codes, n_groups = group_codes(ref.obs, by, ref.n_obs, ref.X)
    ncs = _normalised(W, codes, n_groups)
    tau = None
    if tau_reference is not None:
        if isinstance(tau_reference, str) and tau_reference != "reference":
            raise ValueError(
                f"tau_reference must be 'reference', Profiles or None, got {tau_reference!r}"
            )
        touch = (
            ref if isinstance(tau_reference, str) else as_profiles(tau_reference, "tau_reference")
        )
        if touch.n_obs < TAU_MIN_QUERIES:
            warnings.warn(
                f"connectivity: tau from {touch.n_obs} reference queries is coarse (fewer than "
                f"{TAU_MIN_QUERIES}); pass a larger tau_reference for a finer scale",
                UserWarning,
                stacklevel=2,
            )
        t_sets = from_profiles(touch, ref.var, n_genes, ref.X)
        tau = scores.tau(ncs, _normalised(wtcs_matrix(t_sets, ref.X, block_rows), codes, n_groups))
    pvalue = qvalue = None
    if n_permutations:
        pvalue = permutation_pvalues(W, sets, ref.X, n_permutations, random_state, block_rows)
        qvalue = scores.bh_qvalues(pvalue)
    labels = (ref.Y, list(ref.label_names)) if ref.Y is not None else None
    return ConnectivityResult(W, ncs, tau, pvalue, qvalue, sets.info, ref.obs, labels)


def stream_blocks(
    sets: QuerySets, source: Source, xp: Any, block_rows: Any, chunk_rows: int
) -> Iterator[tuple[int, Any]]:
    """``(offset, WTCS block)`` over the reference, one chunk of rows at a time."""
    q_block, r_block = block_shape(sets, source.n_rows, block_rows, xp)
    chunk = max(r_block, min(chunk_rows, _chunk_budget(xp) // (4 * max(sets.n_queries, 1))))
    for offset, block in source.blocks(chunk):
        X = _backend.to_device(block, source.like)
        yield offset, xp.concat(_row_blocks(sets, X, q_block, r_block), axis=1)


def _running_topk(idx: Any, val: Any, S: Any, offset: int, k: int) -> tuple[Any, Any]:
    """The ``k`` best of the running best (``idx``, ``val``; lower reference rows) and a chunk of
    scores ``S`` whose columns are reference rows ``offset..``; ties go to the lower row."""
    xp = _backend.get_namespace(S)
    kept = 0 if val is None else val.shape[1]
    both = S if val is None else xp.concat([val, S], axis=1)
    pos, top = topk_rows(both, min(k, both.shape[1]))
    rows = pos - kept + offset
    if kept:
        earlier = xp.take_along_axis(idx, xp.clip(pos, 0, kept - 1), axis=1)
        rows = xp.where(pos < kept, earlier, rows)
    return rows, top


def connectivity_topk(
    query: Any = None,
    reference: Any = None,
    *,
    k: int = 50,
    n_genes: int = 50,
    up: Any = None,
    down: Any = None,
    score: str = "wtcs",
    by: str | list[str] | None = None,
    direction: str = "positive",
    block_rows: int | None = None,
    chunk_rows: int = 50_000,
) -> ConnectivityHits:
    """The ``k`` best-connected reference signatures of each query, streaming the reference.

    Never holds the query x reference matrix: each chunk of reference rows is scored and merged
    into the running ``k`` best. ``score="ncs"`` reads the reference twice (the first pass sums
    each query's positive and negative scores per group).

    Parameters
    ----------
    query, up, down, n_genes
        The queries, as in :func:`connectivity`.
    reference : Profiles, array, or path to a GCTX (``.gctx``) or Parquet file
        Files are streamed ``chunk_rows`` signatures at a time (genes as features).
    k : int, default 50
        Hits per query.
    score : {"wtcs", "ncs"}, default "wtcs"
        The ranking score.
    by : str or list of str, optional
        NCS groups (reference obs columns), as in :func:`connectivity`.
    direction : {"positive", "negative"}, default "positive"
        Highest scores first, or lowest first.
    block_rows : int, optional
        Reference rows per ES block.
    chunk_rows : int, default 50,000
        Reference rows read (and scored) at a time.

    Returns
    -------
    ConnectivityHits
        ``indices`` and ``scores`` (n_queries x k, best first; ties to the lower reference
        row) and ``to_frame()``.
    """
    if k < 1 or chunk_rows < 1:
        raise ValueError(f"k and chunk_rows must be >= 1, got k={k}, chunk_rows={chunk_rows}")
    if score not in ("wtcs", "ncs"):
        raise ValueError(f"score must be 'wtcs' or 'ncs', got {score!r}")
    if direction not in DIRECTIONS:
        raise ValueError(f"direction must be one of {DIRECTIONS}, got {direction!r}")
    source = source_of(reference, query)
    xp = source.xp
    sets = query_sets(query, up, down, source.var, n_genes, source.like)
    if score == "ncs":
        codes, n_groups = group_codes(source.obs, by, source.n_rows, source.like)
        sums = None
        for offset, W in stream_blocks(sets, source, xp, block_rows, chunk_rows):
            part = scores.group_means(W, codes[offset : offset + W.shape[1]], n_groups)
            sums = part if sums is None else tuple(a + b for a, b in zip(sums, part, strict=True))
    idx = val = None
    kk = min(k, source.n_rows)
    for offset, W in stream_blocks(sets, source, xp, block_rows, chunk_rows):
        if score == "ncs":
            W = scores.normalise(W, codes[offset : offset + W.shape[1]], sums)
        idx, val = _running_topk(idx, val, _key(W, direction), offset, kk)
    if idx is None:
        idx, val = (
            xp.zeros((sets.n_queries, 0), dtype=xp.int64),
            xp.zeros((sets.n_queries, 0), dtype=xp.float32),
        )
    return ConnectivityHits(idx, _key(val, direction), score, sets.info, source.obs, source.labels)
