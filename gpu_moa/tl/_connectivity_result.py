"""Connectivity results: the score matrices, their tidy top-k tables and their summaries."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import pandas as pd

from gpu_moa import _backend
from gpu_moa._backend import topk_rows
from gpu_moa._validation import DataError, group_columns
from gpu_moa.tl._connectivity_scores import enrichment, percentile_summary, reference_ranks

#: reference annotations copied into the tables when present
ANNOTATIONS = (
    "pert_iname", "pert_id", "drug_id", "moa", "cell_id", "pert_type", "pert_idose",
    "pert_itime", "cp_time", "cp_dose",
)  # fmt: skip
DIRECTIONS = ("positive", "negative")
PERTURBAGEN_COLUMNS = ("pert_iname", "pert_id", "drug_id")


def hits_frame(
    queries: pd.DataFrame,
    reference: pd.DataFrame,
    labels: tuple[Any, list[str]] | None,
    indices: Any,
    scores: dict[str, Any],
) -> pd.DataFrame:
    """Tidy table, one row per (query, hit): query, rank, reference, the scores, annotations.

    ``indices`` (q x k, -1 for no hit) and ``scores`` (name -> q x k) are device arrays; only
    these top-k blocks come to the host.
    """
    idx = _backend.to_numpy(indices)
    q, k = idx.shape
    keep = (idx >= 0).ravel()
    flat = idx.ravel()[keep]
    frame = pd.DataFrame(
        {
            "query": np.repeat(queries.index.to_numpy(), k)[keep],
            "rank": np.tile(np.arange(1, k + 1), q)[keep],
            "reference": reference.index.to_numpy()[flat],
        }
    )
    for name, values in scores.items():
        frame[name] = _backend.to_numpy(values).ravel()[keep]
    for column in ANNOTATIONS:
        if column in reference:
            frame[f"ref_{column}"] = reference[column].to_numpy()[flat]
    if labels is not None and len(flat):
        Y, names = labels
        rows = _backend.to_numpy(_backend.take_rows(Y, flat)) > 0
        frame["ref_moa_labels"] = ["|".join(np.asarray(names)[r]) for r in rows]
    return frame


def _key(scores: Any, direction: str) -> Any:
    if direction not in DIRECTIONS:
        raise ValueError(f"direction must be one of {DIRECTIONS}, got {direction!r}")
    return scores if direction == "positive" else -scores


@dataclasses.dataclass(frozen=True, eq=False)
class ConnectivityResult:
    """Connectivity of every query with every reference signature.

    Attributes
    ----------
    wtcs, ncs : arrays, shape (n_queries, n_references)
        Weighted connectivity scores and their normalised form (device arrays).
    tau : array or None
        Tau in [-100, 100] (None when not asked for).
    pvalue, qvalue : arrays or None
        Permutation p-values of |WTCS| and Benjamini-Hochberg q-values per query (with
        ``n_permutations > 0``).
    queries : pandas.DataFrame
        One row per query (index: name): n_up, n_down, missing_up, missing_down.
    reference : pandas.DataFrame
        The reference signatures' metadata (index: sig_id).
    labels : (array, list of str) or None
        The reference's MoA labels (``Y``, ``label_names``), when it has them.
    """

    wtcs: Any
    ncs: Any
    tau: Any
    pvalue: Any
    qvalue: Any
    queries: pd.DataFrame
    reference: pd.DataFrame
    labels: tuple[Any, list[str]] | None = None

    def scores(self) -> dict[str, Any]:
        """The score matrices that were computed, by name."""
        named = {"wtcs": self.wtcs, "ncs": self.ncs, "tau": self.tau}
        named.update(pvalue=self.pvalue, qvalue=self.qvalue)
        return {k: v for k, v in named.items() if v is not None}

    def to_frame(
        self, top: int = 10, *, score: str | None = None, direction: str = "positive"
    ) -> pd.DataFrame:
        """The ``top`` best-connected reference signatures of each query as a tidy table.

        Parameters
        ----------
        top : int, default 10
            Hits per query.
        score : {"tau", "ncs", "wtcs"}, optional
            The ranking score; default tau when computed, else ncs.
        direction : {"positive", "negative"}, default "positive"
            Highest scores (similar signatures) or lowest (opposing ones) first.

        Returns
        -------
        pandas.DataFrame
            query, rank, reference, wtcs, ncs, tau, pvalue, qvalue (those computed) and the
            reference's annotations (``ref_pert_iname``, ``ref_cell_id``, ... when present).
        """
        named = self.scores()
        score = score or ("tau" if "tau" in named else "ncs")
        if score not in ("tau", "ncs", "wtcs") or score not in named:
            raise ValueError(f"score must be one of {sorted(set(named) - {'pvalue', 'qvalue'})}")
        if top < 1:
            raise ValueError(f"top must be >= 1, got {top}")
        xp = _backend.get_namespace(self.wtcs)
        idx, _ = topk_rows(_key(named[score], direction), min(int(top), self.wtcs.shape[1]))
        gathered = {n: xp.take_along_axis(v, idx, axis=1) for n, v in named.items()}
        return hits_frame(self.queries, self.reference, self.labels, idx, gathered)

    def by_perturbagen(self, column: str | None = None, *, score: str = "ncs") -> pd.DataFrame:
        """CLUE's summary across cell lines: per query and perturbagen, the 67th or 33rd
        percentile of its signatures' scores, whichever is larger in magnitude.

        Parameters
        ----------
        column : str, optional
            Reference obs column naming the perturbagen (default pert_iname, pert_id or
            drug_id, the first present).
        score : {"ncs", "wtcs", "tau"}, default "ncs"

        Returns
        -------
        pandas.DataFrame
            Queries x perturbagens.
        """
        column = column or next((c for c in PERTURBAGEN_COLUMNS if c in self.reference), None)
        if column is None:
            raise DataError(
                "by_perturbagen: the reference has no perturbagen column "
                f"({', '.join(PERTURBAGEN_COLUMNS)}). Fix: pass column= naming one"
            )
        (column,) = group_columns(self.reference, column, "by_perturbagen")
        codes, names = pd.factorize(self.reference[column].astype("string"), sort=True)
        xp = _backend.get_namespace(self.wtcs)
        values = self.scores()[score]
        dev_codes = xp.asarray(codes.astype(np.int64), device=_device(values))
        summary = percentile_summary(values, dev_codes, len(names))
        return pd.DataFrame(_backend.to_numpy(summary), index=self.queries.index, columns=names)

    def by_moa(self, column: str | None = None, *, score: str = "ncs") -> pd.DataFrame:
        """Rank-based enrichment of each MoA class among each query's connections.

        The reference signatures are ranked by the query's score, highest first, and each MoA
        class's signatures get the unweighted ES of that ranking (1: all at the top).

        Parameters
        ----------
        column : str, optional
            Reference obs column of MoA names (several joined with "|"); default: the
            reference's MoA labels (``Y``), else an obs column called ``moa``.
        score : {"ncs", "wtcs", "tau"}, default "ncs"

        Returns
        -------
        pandas.DataFrame
            Queries x MoA classes.
        """
        members = self._moa_members(column)
        xp = _backend.get_namespace(self.wtcs)
        values = self.scores()[score]
        m = values.shape[1]
        width = max(len(v) for v in members.values())
        sets = np.full((len(members), width), m, dtype=np.int64)
        for row, cols in enumerate(members.values()):  # host: one short list per MoA
            sets[row, : len(cols)] = cols
        sizes = np.array([len(v) for v in members.values()], dtype=np.int64)
        ranks, weights = reference_ranks(values, weighted=False)
        es = enrichment(
            ranks,
            weights,
            xp.asarray(sets, device=_device(values)),
            xp.asarray(sizes, device=_device(values)),
        )
        return pd.DataFrame(
            _backend.to_numpy(xp.permute_dims(es, (1, 0))),
            index=self.queries.index,
            columns=list(members),
        )

    def _moa_members(self, column: str | None) -> dict[str, np.ndarray]:
        if column is None and self.labels is not None:
            Y, names = self.labels
            xp = _backend.get_namespace(Y)
            rows, cols = (_backend.to_numpy(a) for a in xp.nonzero(Y > 0))
            return {names[c]: rows[cols == c] for c in np.unique(cols)}
        column = column or "moa"
        if column not in self.reference:
            raise DataError(
                f"by_moa: the reference has no MoA labels and no obs column {column!r}. Fix: "
                "pass column= naming the reference's MoA column"
            )
        text = self.reference[column].astype("string").fillna("")
        exploded = text.str.split("|").explode().str.strip()
        exploded = exploded[exploded != ""]
        positions = pd.Series(np.arange(len(text)), index=text.index)
        pos = positions.loc[exploded.index].to_numpy()
        return {name: pos[exploded.to_numpy() == name] for name in sorted(set(exploded))}


def _device(x: Any) -> Any:
    import array_api_compat

    return array_api_compat.device(x)


@dataclasses.dataclass(frozen=True, eq=False)
class ConnectivityHits:
    """The ``k`` best-connected reference signatures of each query (from a streamed search).

    Attributes
    ----------
    indices : int64 array, shape (n_queries, k)
        Reference row positions, best first (-1 where the reference has fewer rows).
    scores : float32 array, same shape
        The ranking score (``score``) of each hit.
    score : str
        "wtcs" or "ncs".
    queries, reference : pandas.DataFrame
        Query information and the reference metadata (index: sig_id).
    labels : (array, list of str) or None
        The reference's MoA labels, when it has them.
    """

    indices: Any
    scores: Any
    score: str
    queries: pd.DataFrame
    reference: pd.DataFrame
    labels: tuple[Any, list[str]] | None = None

    def to_frame(self) -> pd.DataFrame:
        """The hits as a tidy table (query, rank, reference, the score, annotations).

        Returns
        -------
        pandas.DataFrame
        """
        return hits_frame(
            self.queries, self.reference, self.labels, self.indices, {self.score: self.scores}
        )
