"""Stage "eda": the original exploratory analysis, with statistics, as tables, figures and metrics.

Label frequencies, the most variable genes and cell lines, cell lines ranked by variance, drug
ranks in the two most extreme cell lines, the MoAs enriched among the drugs that kill them,
controls against treatments, and the reproducibility of each drug's replicates against a
shuffled null.
"""

from __future__ import annotations

import html
from typing import Any

import numpy as np
import pandas as pd

from gpu_moa import eda, pl
from gpu_moa.profiles import Profiles
from gpu_moa.run._context import RunContext, Section

#: mean viability at or below which a drug counts as effective on a cell line (-2, as in the original analysis)
THRESHOLD = -2.0


def _labels_section(ctx: RunContext, p: Profiles) -> Section:
    freq = eda.label_frequencies(p, which="all" if p.Y_extra is not None else "scored")
    scored = freq[freq["set"] == "scored"]
    ctx.tables["label_frequencies"] = freq
    ctx.metrics["eda"]["labels_without_samples"] = {
        s: int(freq.loc[freq["set"] == s, "empty"].sum()) for s in freq["set"].unique()
    }
    top = scored.head(3)
    text = (
        "Most frequent scored MoAs: "
        + ", ".join(
            f"{html.escape(n)} ({r.positives:,} rows, {100 * r.fraction:.1f}%)"
            for n, r in top.iterrows()
        )
        + f". {int(scored['empty'].sum())} scored and "
        f"{int(freq.loc[freq['set'] == 'nonscored', 'empty'].sum())} non-scored labels have no "
        "sample: nothing can be learnt about them."
    )
    return Section(
        "MoA labels",
        text,
        figures=[("Positive rows per scored MoA", pl.moa_frequencies(scored))],
    )


def _features_section(ctx: RunContext, p: Profiles) -> tuple[Section, pd.DataFrame]:
    variance = eda.feature_variance(p)
    ctx.tables["feature_variance"] = variance
    ranking = variance[variance["kind"] == "cell"]
    genes = variance[variance["kind"] == "gene"].head(3)
    ctx.metrics["eda"]["top_variance_genes"] = genes["name"].tolist()
    ctx.metrics["eda"]["top_variance_cells"] = ranking["name"].head(3).tolist()
    ctx.metrics["eda"]["least_variable_cell"] = ranking["name"].iloc[-1]
    text = (
        f"The most variable genes are {', '.join(genes['name'])}; the cell lines whose viability "
        f"varies most are {', '.join(ranking['name'].head(3))} (the most sensitive to the "
        f"compounds), the least variable is {ranking['name'].iloc[-1]}."
    )
    section = Section(
        "Genes and cell lines",
        text,
        figures=[
            ("Densities of the three most variable genes", pl.top_variance(p, kind="gene")),
            ("Densities of the three most variable cell lines", pl.top_variance(p, kind="cell")),
            ("Cell lines sorted by viability variance", pl.cell_variance(ranking)),
        ],
        tables=[("Most variable features", variance.head(10))],
    )
    return section, ranking


def _drugs_section(ctx: RunContext, p: Profiles, ranking: pd.DataFrame) -> Section:
    extremes = [ranking.index[0], ranking.index[-1]]
    ranks = pd.concat([eda.drug_ranks(p, cell=c) for c in extremes], ignore_index=True)
    ctx.tables["drug_ranks"] = ranks
    figures = [
        ("Drug ranks in the most and least variable cell lines", pl.drug_ranks(p, cells=extremes))
    ]
    tables, effective, enrichment, summary = [], [], [], {}
    for cell in extremes:
        eff = eda.effective_drugs(p, cell=cell, threshold=THRESHOLD)
        enr = eda.moa_enrichment(p, cell=cell, threshold=THRESHOLD)
        name = enr.attrs["cell"]
        effective.append(eff)
        enrichment.append(enr.assign(cell=name).reset_index())
        significant = enr[enr["q_value"] < 0.05]
        summary[name] = {
            "effective_drugs": int(enr.attrs["n_effective"]),
            "enriched_moas_q05": significant.index.tolist(),
        }
        if enr.attrs["n_effective"]:
            figures.append((f"MoAs of the drugs that kill {name}", pl.effective_moas(enr)))
        tables.append((f"MoA enrichment among effective drugs, {name}", enr.head(10)))
    ctx.tables["effective_drugs"] = pd.concat(effective, ignore_index=True)
    ctx.tables["moa_enrichment"] = pd.concat(enrichment, ignore_index=True)
    ctx.metrics["eda"]["effective_drugs"] = summary
    text = "; ".join(
        f"{html.escape(c)}: {s['effective_drugs']} drugs with mean viability <= {THRESHOLD:g}, "
        f"enriched MoAs (q < 0.05): {', '.join(s['enriched_moas_q05']) or 'none'}"
        for c, s in summary.items()
    )
    return Section("Drug effects on cell lines", text + ".", figures=figures, tables=tables)


def _replicates(p: Profiles, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    treated = p[~p.is_control]
    real = eda.replicate_reproducibility(treated)
    shuffled = np.random.default_rng(seed).permutation(treated.obs["drug_id"].to_numpy())
    null = eda.replicate_reproducibility(treated.replace(obs=treated.obs.assign(drug_id=shuffled)))
    return real, null


def _controls_section(ctx: RunContext, p: Profiles) -> Section:
    summary = eda.control_vs_treatment(p)
    ctx.tables["control_vs_treatment"] = summary
    real, null = _replicates(p, ctx.random_state)
    ctx.tables["replicate_reproducibility"] = real
    cut = float(np.nanquantile(null["mean_corr"], 0.95))
    stats: dict[str, Any] = {
        "median_corr": float(real["mean_corr"].median()),
        "median_corr_shuffled": float(null["mean_corr"].median()),
        "fraction_above_null_95": float((real["mean_corr"].dropna() > cut).mean()),
    }
    ctx.metrics["eda"]["replicates"] = stats
    ctx.metrics["eda"]["control_vs_treatment"] = {
        f"{g}/{k}": round(float(v), 4) for (g, k), v in summary["row_std"].items()
    }
    text = (
        f"Replicates of a drug correlate with median {stats['median_corr']:.3f} against "
        f"{stats['median_corr_shuffled']:.3f} for shuffled drug labels; "
        f"{100 * stats['fraction_above_null_95']:.0f}% of the drugs beat the null's 95th "
        "percentile. Controls vary least (signature strength below)."
    )
    return Section(
        "Controls, treatments and replicates",
        text,
        figures=[
            ("Signature strength of controls and treatments", pl.control_vs_treatment(p)),
            ("Replicate reproducibility per drug", pl.replicate_reproducibility(real, null=null)),
        ],
        tables=[("Values of controls and treatments", summary)],
    )


def run(ctx: RunContext) -> None:
    """Add the exploratory analysis of ``ctx.train`` to the run."""
    p = ctx.train
    ctx.metrics["eda"] = {}
    if p.Y is not None:
        ctx.sections.append(_labels_section(ctx, p))
    section, ranking = _features_section(ctx, p)
    ctx.sections.append(section)
    if "drug_id" in p.obs and len(ranking) > 1 and p.Y is not None:
        ctx.sections.append(_drugs_section(ctx, p, ranking))
    if "drug_id" in p.obs and p.is_control.any():
        ctx.sections.append(_controls_section(ctx, p))
