"""Partitioned preprocessing: normalization to controls and consensus signatures."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from gpu_moa import _backend
from gpu_moa.dist._array import (
    Moments,
    block_moments,
    merge_moments,
    row_blocks,
    to_dask,
    tree_reduce,
)
from gpu_moa.dist._cluster import compute, import_dask
from gpu_moa._validation import group_columns
from gpu_moa import pp
from gpu_moa.pp._normalize import median_mad, normalize_rows, reference_groups
from gpu_moa.profiles import Profiles


def _group_moments(x: Any, codes: np.ndarray, is_ref: np.ndarray) -> dict[int, Moments]:
    """Moments of the reference rows of each group present in one block."""
    out = {}
    for g in np.unique(codes[is_ref]):
        out[int(g)] = block_moments(_backend.take_rows(x, (codes == g) & is_ref))
    return out


def _merge_group_moments(a: dict[int, Moments], b: dict[int, Moments]) -> dict[int, Moments]:
    out = dict(a)
    for g, m in b.items():
        out[g] = merge_moments(out[g], m) if g in out else m
    return out


def _apply(x: Any, codes: np.ndarray, centre: Any, spread: Any, epsilon: float) -> Any:
    """Normalize one block; ``codes`` (n_i x 1) holds each row's group."""
    return normalize_rows(x, np.reshape(codes, (-1,)), centre, spread, epsilon)


def normalize(
    p: Profiles,
    *,
    method: str = "zscore",
    reference: str = "controls",
    by: str | Sequence[str] | None = None,
    epsilon: float = 1e-6,
    chunk_rows: int | None = None,
) -> Profiles:
    """Partitioned twin of :func:`gpu_moa.pp.normalize` (same options and result).

    "zscore": the reference rows' count, mean and M2 per group are computed per partition and
    merged with Chan's formula. "robust_mad": medians do not merge, so the reference rows (the
    controls: a small share) are gathered and their statistics computed by the single-device
    code. Either way each partition is then normalized where it lies.

    Parameters
    ----------
    p : Profiles
        ``X`` in memory (NumPy/CuPy) or a dask array.
    method, reference, by, epsilon
        As in :func:`gpu_moa.pp.normalize`.
    chunk_rows : int, optional
        Rows per partition.

    Returns
    -------
    Profiles
        Normalized copy with ``X`` computed (in the chunks' namespace).
    """
    is_ref, codes = reference_groups(p, method, reference, by)
    n_groups = int(codes.max()) + 1
    da = import_dask("dask.array")
    delayed = import_dask("dask").delayed
    x = to_dask(p.X, chunk_rows=chunk_rows)
    if method == "zscore":
        blocks, offsets = row_blocks(x)
        parts = [
            delayed(_group_moments)(blk, codes[lo : lo + size], is_ref[lo : lo + size])
            for blk, lo, size in zip(blocks, offsets, x.chunks[0], strict=True)
        ]
        (stats,) = compute(tree_reduce(parts, _merge_group_moments), desc="normalize")
        xp = _backend.get_namespace(stats[0].mean)
        centre = xp.stack([stats[g].mean for g in range(n_groups)])
        spread = xp.stack([stats[g].std(ddof=0) for g in range(n_groups)])
    else:
        (R,) = compute(x[np.flatnonzero(is_ref)], desc="normalize: reference rows")
        xp = _backend.get_namespace(R)
        ref_codes = codes[is_ref]
        stats = [median_mad(_backend.take_rows(R, ref_codes == g), xp) for g in range(n_groups)]
        centre, spread = xp.stack([c for c, _ in stats]), xp.stack([s for _, s in stats])
    codes_d = da.from_array(codes, chunks=(x.chunks[0],))
    fn = functools.partial(_apply, centre=centre, spread=spread, epsilon=epsilon)
    (X,) = compute(
        da.map_blocks(fn, x, codes_d[:, None], dtype=x.dtype, meta=x._meta), desc="normalize"
    )
    return p.replace(X=X)


def _group_partitions(codes: np.ndarray, target_rows: int) -> list[np.ndarray]:
    """Row positions of partitions of whole groups, in group order, each >= target_rows rows
    (the last one possibly fewer): a partition ends at the first group end past its target."""
    order = np.argsort(codes, kind="stable")
    ends = np.cumsum(np.bincount(codes))
    parts, lo = [], 0
    while lo < len(codes):
        hi = int(ends[min(np.searchsorted(ends, lo + target_rows), len(ends) - 1)])
        parts.append(order[lo:hi])
        lo = hi
    return parts


def _concat_profiles(parts: list[Profiles]) -> Profiles:
    """Stack the consensus of consecutive group ranges; obs keeps the columns all parts kept."""
    xp = parts[0].xp
    keep = [c for c in parts[0].obs.columns if all(c in q.obs.columns for q in parts)]

    def cat(name: str) -> Any:
        arrays = [getattr(q, name) for q in parts]
        return None if arrays[0] is None else xp.concat(arrays, axis=0)

    return parts[0].replace(
        X=cat("X"),
        obs=pd.concat([q.obs[keep] for q in parts]),
        Y=cat("Y"),
        Y_extra=cat("Y_extra"),
    )


def consensus(
    p: Profiles,
    *,
    by: str | Sequence[str] = "drug_id",
    method: str = "mean",
    chunk_rows: int | None = None,
) -> Profiles:
    """Partitioned twin of :func:`gpu_moa.pp.consensus` (same options and result).

    Rows are shuffled into partitions that each hold whole groups (about ``chunk_rows`` rows;
    a larger group makes a larger partition), the single-device consensus runs on each, and the
    results are stacked in group-key order.

    Parameters
    ----------
    p : Profiles
    by, method
        As in :func:`gpu_moa.pp.consensus`.
    chunk_rows : int, optional
        Target rows per partition (default: 8 partitions).

    Returns
    -------
    Profiles
        One row per group, sorted by the group key, equal to ``gm.pp.consensus(p, ...)``.
    """
    cols = group_columns(p.obs, by, "consensus")
    delayed = import_dask("dask").delayed
    codes = p.obs.groupby(cols, sort=True, observed=True, dropna=False).ngroup().to_numpy()
    fn = functools.partial(pp.consensus, by=by, method=method)
    target = chunk_rows or max(1, -(-p.n_obs // 8))
    tasks = [delayed(fn)(p[rows]) for rows in _group_partitions(codes, target)]
    return _concat_profiles(list(compute(*tasks, desc="consensus")))
