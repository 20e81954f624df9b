"""Profile similarity (Pearson, Spearman, cosine) and streamed top-k neighbour search.

Every metric is a dot product of prepared rows: Pearson centres each row and scales it to unit
length, Spearman does the same to the row's ranks, cosine only scales. A row with zero length after
that (a constant profile for Pearson/Spearman, an all-zero one for cosine) becomes the zero vector:
its similarity to every profile, itself included, is defined as 0 instead of NaN.

:func:`similarity_topk` multiplies one block of query rows at a time against the whole reference
and keeps only the k best per row, so it never holds more than a block x n_reference slice (the
block height is sized from the free device memory). Within a block the k best are found exactly
without sorting the row: the row is cut into groups of g columns, the k groups with the best
maxima are the only ones that can hold the k best entries, and only those k x g candidates are
sorted. Ties go to the lower reference index, so the result equals a stable sort of the full
similarity matrix. An all-vs-all search (no reference) computes each pair of square blocks once,
on and above the diagonal, and reads the transposed block for the lower triangle (see
:mod:`gpu_moa.tl._symmetric`): half the products, the same result.

Each block is copied before the product, so an all-vs-all search never multiplies a buffer by its
own transpose (OpenBLAS 0.3.31's symmetric rank-k path crashes there on large inputs).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterator
from types import ModuleType
from typing import Any

from gpu_moa import _backend
from gpu_moa._validation import DataError, check_no_nan_array
from gpu_moa.pp._rank import rank_rows
from gpu_moa.tl._symmetric import cross_topk, symmetric_topk
from gpu_moa.tl._symmetric import merge_sorted as _merge  # _merge: also tl._connectivity's

METRICS = ("pearson", "spearman", "cosine")
PRECISIONS = ("float32", "tf32", "float16")
#: float64 working set of one block of prepared rows: NumPy's blocks run side by side on the
#: cores (cache-sized); a device takes few large ones (fewer kernel launches)
_PREP_BLOCK_BYTES = {True: 16 << 20, False: 64 << 20}
_MIN_CPU_BLOCK = 128
_CPU_BLOCK_BYTES = 192 << 20
_CPU_CHUNK_COLS = 1 << 15
_CPU_SQUARE_BLOCK = 2048


def _as_matrix(X: Any, name: str) -> Any:
    X = getattr(X, "X", X)  # accept Profiles
    if getattr(X, "ndim", 0) != 2:
        raise DataError(
            f"{name}: expected a 2-D matrix (profiles x features), got shape "
            f"{getattr(X, 'shape', None)}. Fix: pass Profiles or a 2-D array"
        )
    return X


def prepare(X: Any, metric: str, *, rows: int | None = None) -> Any:
    """Rows transformed so that a dot product gives the similarity (float32, unit or zero rows).

    Parameters
    ----------
    X : array, shape (n, p)
        Profiles without NaN/inf.
    metric : {"pearson", "spearman", "cosine"}
        The similarity the rows are prepared for.
    rows : int, optional
        Rows of the result (>= n); the extra rows are zeros (padding for the top-k search).

    Returns
    -------
    array, shape (rows or n, p)
        float32 rows of unit length, or zero rows for constant (Pearson/Spearman) or all-zero
        (cosine) input rows; computed in float64 in row blocks written into one buffer.
    """
    if metric not in METRICS:
        raise ValueError(f"metric must be one of {METRICS}, got {metric!r}")
    xp = _backend.get_namespace(X)
    check_no_nan_array(X, f"{metric} similarity input")
    n, p = X.shape
    block_bytes = _PREP_BLOCK_BYTES[_backend.is_numpy_namespace(xp)]
    step = max(1, block_bytes // max(1, p * 8 * 4))
    out = xp.zeros(
        (n if rows is None else max(rows, n), p),
        dtype=xp.float32,
        device=_backend.array_device(X),
    )

    def fill(lo: int) -> None:  # rows are independent: blocks run side by side on the CPU
        hi = min(lo + step, n)
        Z = rank_rows(X[lo:hi, :]) if metric == "spearman" else xp.astype(X[lo:hi, :], xp.float64)
        if metric != "cosine":
            Z -= xp.mean(Z, axis=1, keepdims=True)
        norm = xp.sqrt(xp.sum(Z * Z, axis=1, keepdims=True))
        Z /= xp.where(norm > 0, norm, xp.ones_like(norm))
        out[lo:hi, :] = xp.astype(Z, xp.float32)

    for _ in _backend.ordered_map(fill, range(0, n, step), xp):
        pass
    return out


def deprecated_reference(reference: Any, B_: Any, where: str) -> Any:
    """``reference``, or the deprecated ``B_`` keyword it replaces (with a DeprecationWarning).

    ``B_`` was the reference's name up to gpu_moa 0.1; it keeps working for one release.
    """
    if B_ is None:
        return reference
    if reference is not None:
        raise TypeError(f"{where}: pass the reference once, as reference= (B_ is deprecated)")
    warnings.warn(
        f"{where}: B_= is deprecated and will be removed in the next release; use reference=",
        DeprecationWarning,
        stacklevel=3,
    )
    return B_


def similarity(A: Any, reference: Any = None, *, metric: str = "pearson", B_: Any = None) -> Any:
    """The full similarity matrix between the rows of ``A`` and of ``B`` (or ``A`` itself).

    For inputs whose n_A x n_B float32 matrix fits in memory; use :func:`similarity_topk` to
    stream large searches.

    Parameters
    ----------
    A : array or Profiles, shape (n_A, p)
    reference : array or Profiles, shape (n_B, p), optional
        Reference rows; ``None`` compares ``A`` with itself.
    metric : {"pearson", "spearman", "cosine"}, default "pearson"
    B_ : array or Profiles, optional
        Deprecated name of ``reference`` (removed in the next release).

    Returns
    -------
    array, shape (n_A, n_B)
        float32 similarities in [-1, 1] in ``A``'s namespace; a constant (Pearson/Spearman) or
        all-zero (cosine) row has similarity 0 with everything, itself included.

    Raises
    ------
    DataError
        On NaN/inf input, mismatched feature counts, or a matrix too large for memory.
    """
    reference = deprecated_reference(reference, B_, "similarity")
    An, Bn = _prepared_pair(A, reference, metric)
    xp = _backend.get_namespace(An)
    n, m = An.shape[0], Bn.shape[0]
    if n * m * 4 > _backend.free_memory_bytes(xp) // 2:
        raise DataError(
            f"similarity: a {n} x {m} float32 matrix does not fit in free memory. "
            "Fix: use gm.tl.similarity_topk, which streams row blocks and keeps the k best"
        )
    # the copy keeps an all-vs-all product off the crashing A @ A.T path
    return xp.matmul(xp.asarray(An, copy=True), xp.permute_dims(Bn, (1, 0)))


def _checked_pair(A: Any, reference: Any) -> tuple[Any, Any]:
    A = _as_matrix(A, "similarity query")
    if reference is None:
        return A, None
    reference = _as_matrix(reference, "similarity reference")
    if reference.shape[1] != A.shape[1]:
        raise DataError(
            f"similarity: the query has {A.shape[1]} features but the reference has "
            f"{reference.shape[1]}. Fix: select the same features (same order) in both"
        )
    return A, reference


def _prepared_pair(
    A: Any, reference: Any, metric: str, ref_rows: int | None = None
) -> tuple[Any, Any]:
    """Prepared query and reference (the reference zero-padded to ``ref_rows``); one buffer
    serves both in an all-vs-all search."""
    A, reference = _checked_pair(A, reference)
    if reference is None:
        Ref = prepare(A, metric, rows=ref_rows)
        return Ref, Ref
    return prepare(A, metric), prepare(reference, metric, rows=ref_rows)


def _block_rows(n: int, m: int, extra_per_row: int, xp: ModuleType) -> int:
    """Query rows per block: the block's scores (and temporaries) within a share of free memory.

    On the CPU a block and its temporaries take about 192 MB (96 MB of float32 scores: about
    1,000 rows against 23,814, where the GEMM runs near its peak rate), but at least 128 rows
    when free memory allows (short blocks against a long reference waste the GEMM's packing of
    the reference).
    """
    free = _backend.free_memory_bytes(xp)
    per_row = m * 4 * 2 + extra_per_row
    if _backend.is_cupy_namespace(xp):
        budget = min(free // 4, 8 << 30)
    else:
        budget = min(free // 8, max(_CPU_BLOCK_BYTES, _MIN_CPU_BLOCK * per_row))
    return int(max(1, min(n, budget // per_row)))


def _rescore(An_blk: Any, Ref: Any, cand: Any, low: Any, xp: ModuleType) -> tuple[Any, Any]:
    """Exact float32 scores of low-precision candidates, re-ranked (ties to the lower index)."""
    b, c = cand.shape
    perm = xp.argsort(cand, axis=1)
    cand, low = xp.take_along_axis(cand, perm, axis=1), xp.take_along_axis(low, perm, axis=1)
    rows = xp.reshape(xp.take(Ref, xp.reshape(cand, (-1,)), axis=0), (b, c, Ref.shape[1]))
    exact = xp.sum(rows * An_blk[:, None, :], axis=2)
    exact = xp.where(low == -xp.inf, -xp.inf, exact)
    order = xp.argsort(-exact, axis=1, stable=True)
    return xp.take_along_axis(cand, order, axis=1), xp.take_along_axis(exact, order, axis=1)


def _low_precision(precision: str, xp: ModuleType) -> str:
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    if precision != "float32" and not _backend.is_cupy_namespace(xp):
        _backend.log_backend(
            "tl.similarity_topk",
            _backend.backend_name(xp),
            note=f"precision={precision!r} is a GPU option; float32 used on this backend",
        )
        return "float32"
    return precision


def similarity_topk(
    A: Any,
    reference: Any = None,
    *,
    k: int = 10,
    metric: str = "pearson",
    exclude_self: bool = True,
    block_rows: int | None = None,
    exclude_groups: tuple[Any, Any] | None = None,
    precision: str = "float32",
    B_: Any = None,
) -> tuple[Any, Any]:
    """The ``k`` most similar reference rows of every query row, streamed in row blocks.

    Parameters
    ----------
    A : array or Profiles, shape (n, p)
        Query profiles.
    reference : array or Profiles, shape (m, p), optional
        Reference profiles; ``None`` searches ``A`` against itself (all-vs-all).
    k : int, default 10
        Neighbours per query; more than the reference holds gives every valid one.
    metric : {"pearson", "spearman", "cosine"}, default "pearson"
        See :func:`similarity`; constant rows score 0 against everything.
    exclude_self : bool, default True
        In an all-vs-all search, never return a row as its own neighbour.
    block_rows : int, optional
        Query rows per block; by default sized so that the block's float32 scores use about
        96 MB on the CPU (or 128 rows, whichever is more, within 1/8 of the free RAM) or 1/4 of
        the free GPU memory. Besides the block, the search holds one prepared float32 copy of
        the reference (and of the queries when they differ). In an all-vs-all float32 search
        the side of the square blocks (default 2,048 rows on the CPU, 1/4 of the free GPU
        memory), plus the running top-k of every row.
    exclude_groups : (array, array), optional
        Integer group codes of the query rows and of the reference rows; pairs with equal codes
        are skipped (e.g. profiles of the same drug).
    precision : {"float32", "tf32", "float16"}, default "float32"
        GPU opt-in: run the large product in TF32 or float16, then re-score the best ``2k``
        candidates of each row exactly in float32 and keep the ``k`` best. Other backends
        always use float32 (and log that).
    B_ : array or Profiles, optional
        Deprecated name of ``reference`` (removed in the next release).

    Returns
    -------
    indices : int64 array, shape (n, min(k, m - exclude_self))
        Reference row positions, best first; equal scores in increasing index order. Slots
        beyond the valid neighbours of a row (possible with ``exclude_groups``) hold -1.
    scores : float32 array, same shape
        The similarities, descending; -inf in the slots holding -1.

    Raises
    ------
    DataError
        On NaN/inf input or mismatched feature counts.
    """
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    reference = deprecated_reference(reference, B_, "similarity_topk")
    A, reference = _checked_pair(A, reference)
    xp = _backend.get_namespace(A)
    precision = _low_precision(precision, xp)
    n, m = A.shape[0], (A if reference is None else reference).shape[0]
    drop_self = reference is None and exclude_self
    k_out = max(0, min(k, m - int(drop_self)))
    if n == 0 or k_out == 0:
        dev = _backend.array_device(A)
        return (
            xp.zeros((n, k_out), dtype=xp.int64, device=dev),
            xp.zeros((n, k_out), dtype=xp.float32, device=dev),
        )
    kk = min(m, k_out + int(drop_self) + (k_out if precision != "float32" else 0))
    g = _backend.group_width(m, kk, xp)
    m_pad = m if m // g <= kk else g * math.ceil(m / g)
    An, Ref = _prepared_pair(A, reference, metric, ref_rows=m_pad)
    low_dtype = getattr(xp, "float16") if precision == "float16" else None  # noqa: B009 - not standard
    RefT = xp.permute_dims(Ref if low_dtype is None else xp.astype(Ref, low_dtype), (1, 0))
    if exclude_groups is not None:
        q_groups, r_groups = _check_groups(exclude_groups, n, m, A)
        pad = xp.full((m_pad - m,), -1, dtype=xp.int64, device=_backend.array_device(r_groups))
        r_groups = xp.concat([r_groups, pad])
    if reference is None and precision == "float32":  # each block pair computed once
        rows = _square_block(m_pad, g, xp) if block_rows is None else max(1, int(block_rows))
        groups = r_groups if exclude_groups is not None else None
        blocks = symmetric_topk(Ref, m, kk, g, rows, groups)
        note = f"{metric}, k={k_out}, symmetric blocks of {rows} x {rows}"
    else:
        chunk = _chunk_cols(m_pad, g, xp)
        extra = kk * An.shape[1] * 4 * 2 if precision != "float32" else 0
        rows = block_rows if block_rows is not None else _block_rows(n, chunk, extra, xp)
        rows = max(1, int(rows))
        groups = (q_groups, r_groups) if exclude_groups is not None else None
        blocks = _row_blocks(An, RefT, m, kk, g, rows, chunk, groups, low_dtype)
        note = f"{metric}, k={k_out}, blocks of {rows} x {chunk}, {precision}"
    out_idx, out_val = [], []
    with (
        _backend.timed_step("tl.similarity_topk", xp, note),
        _backend.tf32_matmul(xp, precision == "tf32"),
    ):
        for lo, hi, idx, val in blocks:
            if precision != "float32":
                idx, val = _rescore(An[lo:hi, :], Ref, idx, val, xp)
            if drop_self:
                idx, val = _drop_own(idx, val, lo, hi, xp)
            idx, val = idx[:, :k_out], val[:, :k_out]
            out_idx.append(xp.where(val == -xp.inf, -1, idx))
            out_val.append(val)
    return xp.concat(out_idx, axis=0), xp.concat(out_val, axis=0)


def pair_topk(
    A: Any,
    B: Any,
    *,
    k: int,
    metric: str = "pearson",
    block_rows: int | None = None,
    exclude_groups: tuple[Any, Any] | None = None,
) -> tuple[tuple[Any, Any], tuple[Any, Any]]:
    """Both directions of one search, each block product computed once (float32).

    Equals ``(similarity_topk(A, B, k=k), similarity_topk(B, A, k=k))`` with the group codes
    swapped for the second: the off-diagonal pairs of partitions of an all-vs-all search
    (:func:`gpu_moa.dist.similarity_topk`) need both and compute their product once.
    ``block_rows`` is the side of the square blocks; slots without a valid neighbour hold -1
    and -inf.
    """
    A, B = _checked_pair(A, B)
    xp = _backend.get_namespace(A)
    na, nb = A.shape[0], B.shape[0]
    g = _backend.group_width(max(na, nb), k, xp)

    def padded(n: int) -> int:
        return n if n // g <= k else g * math.ceil(n / g)

    ma, mb = padded(na), padded(nb)
    ga = gb = None
    if exclude_groups is not None:
        ga, gb = _check_groups(exclude_groups, na, nb, A)
        dev = _backend.array_device(ga)
        ga = xp.concat([ga, xp.full((ma - na,), -1, dtype=xp.int64, device=dev)])
        gb = xp.concat([gb, xp.full((mb - nb,), -1, dtype=xp.int64, device=dev)])
    block = _square_block(max(ma, mb), g, xp) if block_rows is None else max(1, int(block_rows))
    Pa, Pb = prepare(A, metric, rows=ma), prepare(B, metric, rows=mb)
    parts = cross_topk(Pa, Pb, na, nb, k, g, block, ga, gb)
    return tuple((xp.where(val == -xp.inf, -1, idx), val) for idx, val in parts)  # type: ignore[return-value]


def _row_blocks(
    An: Any,
    RefT: Any,
    m: int,
    kk: int,
    g: int,
    rows: int,
    chunk: int,
    groups: tuple[Any, Any] | None,
    low_dtype: Any,
) -> Iterator[tuple[int, int, Any, Any]]:
    """The top-``kk`` of each block of query rows against the reference (in column chunks)."""
    xp = _backend.get_namespace(An)
    n, m_pad = An.shape[0], RefT.shape[1]
    buf = _backend.product_buffer(xp, min(rows, n) * chunk) if low_dtype is None else None
    for lo in range(0, n, rows):
        hi = min(lo + rows, n)
        # a copy of the query block: never one buffer times its own transpose
        Q = xp.astype(An[lo:hi, :], An.dtype if low_dtype is None else low_dtype, copy=True)
        idx, val = None, None
        for c0 in range(0, m_pad, chunk):
            c1 = min(c0 + chunk, m_pad)
            S = xp.astype(_backend.matmul_into(Q, RefT[:, c0:c1], buf), xp.float32, copy=False)
            if c1 > m:
                S[:, max(m - c0, 0) :] = -xp.inf
            if groups is not None:
                S = xp.where(groups[0][lo:hi, None] == groups[1][None, c0:c1], -xp.inf, S)
            part = _backend.topk_rows(S, min(kk, c1 - c0), g)
            idx, val = _merge(idx, val, part[0] + c0, part[1], kk, xp)
        yield lo, hi, idx, val


def _square_block(m_pad: int, g: int, xp: ModuleType) -> int:
    """Rows (and columns) of the square blocks of an all-vs-all search, a multiple of ``g``.

    On the CPU about 2,048 (16 MB of float32 scores: the GEMM near its peak rate, the top-k
    state of every row merged a dozen times at 23,814 rows); on a GPU the largest square whose
    scores and temporaries take 1/4 of the free memory (at most 8 GB).
    """
    if _backend.is_cupy_namespace(xp):
        budget = min(_backend.free_memory_bytes(xp) // 4, 8 << 30)
        side = int(math.isqrt(budget // 12))
    else:
        side = _CPU_SQUARE_BLOCK
    return max(g, min(m_pad, side - side % g))


def _chunk_cols(m_pad: int, g: int, xp: ModuleType) -> int:
    """Reference columns per product: all of them, except long references on the CPU.

    On the CPU a reference much longer than ``_CPU_CHUNK_COLS`` is cut into chunks of that many
    columns (a multiple of ``g``), so that query blocks stay about 1,000 rows high (the GEMM
    repacks the reference operand on every call; tall blocks amortise that).
    """
    if _backend.is_cupy_namespace(xp) or m_pad <= _CPU_CHUNK_COLS * 3 // 2:
        return m_pad
    return _CPU_CHUNK_COLS - _CPU_CHUNK_COLS % g


def _drop_own(idx: Any, val: Any, lo: int, hi: int, xp: ModuleType) -> tuple[Any, Any]:
    """Move each query's own index (rows lo..hi of an all-vs-all search) to the end."""
    own = idx == xp.arange(lo, hi, dtype=xp.int64, device=_backend.array_device(idx))[:, None]
    keep = xp.argsort(xp.astype(own, xp.int8), axis=1, stable=True)
    return xp.take_along_axis(idx, keep, axis=1), xp.take_along_axis(val, keep, axis=1)


def _check_groups(groups: tuple[Any, Any], n: int, m: int, like: Any) -> tuple[Any, Any]:
    xp = _backend.get_namespace(like)
    q, r = (xp.astype(_backend.to_device(g, like), xp.int64) for g in groups)
    if q.shape != (n,) or r.shape != (m,):
        raise ValueError(
            f"exclude_groups must hold {n} query and {m} reference codes, got shapes "
            f"{tuple(q.shape)} and {tuple(r.shape)}"
        )
    return q, r
