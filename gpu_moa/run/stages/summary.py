"""Stage "summary": what was loaded (rows, drugs, controls, features) and label statistics."""

from __future__ import annotations

from typing import Any

import pandas as pd

from gpu_moa import _backend
from gpu_moa.profiles import Profiles
from gpu_moa.run._context import RunContext, Section


def data_summary(p: Profiles) -> dict[str, Any]:
    """Counts describing a lish-moa style :class:`Profiles` (rows, drugs, controls, features).

    Parameters
    ----------
    p : Profiles
        Signatures with ``obs`` holding cp_type / drug_id / cp_time / cp_dose where available.

    Returns
    -------
    dict
        JSON-ready counts.
    """
    obs = p.obs
    kinds = p.var["kind"].value_counts() if "kind" in p.var else pd.Series(dtype=int)
    out: dict[str, Any] = {
        "rows": p.n_obs,
        "features": p.n_vars,
        "genes": int(kinds.get("gene", 0)),
        "cells": int(kinds.get("cell", 0)),
    }
    controls = int(p.is_control.sum())
    out["controls"], out["treated"] = controls, p.n_obs - controls
    if "drug_id" in obs:
        per_drug = obs["drug_id"].value_counts()
        out["drugs"] = int(per_drug.size)
        out["rows_per_drug"] = {
            str(k): int(v) for k, v in per_drug.value_counts().sort_index().items()
        }
    for col in ("cp_time", "cp_dose"):
        if col in obs:
            out[col] = {str(k): int(v) for k, v in obs[col].value_counts().sort_index().items()}
    return out


def label_summary(p: Profiles) -> tuple[dict[str, Any], pd.DataFrame]:
    """Positives per label and labels per row for the scored labels of ``p``.

    Returns
    -------
    stats : dict
        Total positives, the fraction of positive cells, the labels-per-row distribution (fraction of
        rows with 0, 1, 2, ... labels) and the labels without any positive row.
    counts : pandas.DataFrame
        One row per label: ``positives`` and ``fraction`` of rows, most frequent first.
    """
    if p.Y is None:
        return {}, pd.DataFrame(columns=["positives", "fraction"])
    xp = p.xp
    row_sums = xp.sum(p.Y, axis=1)  # NaN for unlabelled (test) rows
    labelled = _backend.to_numpy(~xp.isnan(row_sums))
    Y = _backend.take_rows(p.Y, labelled)
    positives = _backend.to_numpy(xp.astype(xp.sum(Y, axis=0), xp.int64))  # sums on the device
    per_row = _backend.to_numpy(xp.astype(xp.sum(Y, axis=1), xp.int64))
    dist = pd.Series(per_row).value_counts(normalize=True).sort_index()
    counts = pd.DataFrame(
        {"positives": positives, "fraction": positives / max(int(labelled.sum()), 1)},
        index=pd.Index(p.label_names, name="label"),
    ).sort_values("positives", ascending=False, kind="stable")
    stats = {
        "labels": len(p.label_names),
        "positives": int(positives.sum()),
        "positive_fraction": float(positives.sum() / max(Y.size, 1)),
        "labels_per_row": {str(k): round(float(v), 4) for k, v in dist.items()},
        "labels_without_positives": [
            n for n, c in zip(p.label_names, positives, strict=True) if c == 0
        ],
    }
    return stats, counts


def run(ctx: RunContext) -> None:
    """Add the data and label summary to the run (metrics, a table and a report section)."""
    data = {"train": data_summary(ctx.train)}
    if ctx.test is not None:
        data["test"] = data_summary(ctx.test)
    labels, counts = label_summary(ctx.train)
    ctx.metrics["data"] = data
    ctx.metrics["labels"] = labels
    ctx.tables["label_counts"] = counts
    overview = pd.DataFrame(
        {
            split: {k: v for k, v in d.items() if not isinstance(v, dict)}
            for split, d in data.items()
        }
    )
    text = (
        f"Loaded <code>{ctx.source}</code> on the <b>{ctx.device}</b>. "
        f"{data['train']['rows']:,} training signatures x {data['train']['features']} features"
    )
    if labels:
        text += (
            f"; {labels['labels']} scored labels with {labels['positives']:,} positives "
            f"({100 * labels['positive_fraction']:.2f}% of cells), "
            f"{len(labels['labels_without_positives'])} labels without a positive row."
        )
    ctx.sections.append(
        Section(
            title="Data",
            text=text,
            tables=[("Overview", overview), ("Most frequent scored labels", counts.head(15))],
        )
    )
