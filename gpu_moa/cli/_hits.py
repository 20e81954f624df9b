"""Post-processing of ``gpu-moa match`` hit tables: self-hits dropped, reference annotations added."""

from __future__ import annotations

import pandas as pd

from gpu_moa._validation import data_error
from gpu_moa.profiles import Profiles


def drop_self(hits: pd.DataFrame, k: int) -> pd.DataFrame:
    """Remove each query's hit on its own signature and keep the ``k`` best of the rest.

    Parameters
    ----------
    hits : pandas.DataFrame
        A hit table (``query_sig_id``, ``rank``, ``ref_sig_id``, ...) searched with k + 1
        neighbours, in rank order within each query.
    k : int
        Neighbours to keep per query.

    Returns
    -------
    pandas.DataFrame
        The table without self-hits, ranks renumbered from 1.
    """
    kept = hits[hits["query_sig_id"].astype(str) != hits["ref_sig_id"].astype(str)].copy()
    kept["rank"] = kept.groupby("query_sig_id", sort=False).cumcount() + 1
    return kept[kept["rank"] <= k].reset_index(drop=True)


def annotate_hits(
    hits: pd.DataFrame, reference: Profiles, columns: str, level: str
) -> pd.DataFrame:
    """Add the reference's obs ``columns`` (comma-separated) to each hit as ``ref_<column>``.

    Parameters
    ----------
    hits : pandas.DataFrame
        A hit table with ``ref_sig_id`` (signature level) or ``ref_drug_id`` (drug level).
    reference : Profiles
        The reference as read (before any consensus).
    columns : str
        Comma-separated obs column names, e.g. ``"pert_iname,cell_id"``.
    level : {"signature", "drug"}
        Signature hits are annotated by their row; drug hits by the first row of their drug.

    Returns
    -------
    pandas.DataFrame
        ``hits`` with one ``ref_<column>`` per named column (missing where unknown).

    Raises
    ------
    DataError
        When a named column is not in the reference's metadata.
    """
    names = [c.strip() for c in columns.split(",") if c.strip()]
    missing = [c for c in names if c not in reference.obs]
    if missing:
        raise data_error(
            "--annotate",
            f"the reference has no column(s) {missing}",
            f"choose among {list(reference.obs.columns)}",
        )
    if level == "drug" and reference.drug_column is not None:
        table = reference.obs.groupby(reference.drug_column, sort=False)[names].first()
        key = "ref_drug_id"
    else:
        table, key = reference.obs[names], "ref_sig_id"
    table = table.set_axis(table.index.astype(str)).add_prefix("ref_")
    values = table.reindex(hits[key].astype(str).to_numpy()).set_axis(hits.index)
    return pd.concat([hits, values], axis=1)
