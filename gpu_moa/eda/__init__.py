"""Exploratory data analysis: device-side numerics, pandas results (the analysis that started the project).

======================================  ====================================================
``label_frequencies(p, which=)``        positives and fraction per MoA, labels without samples
``feature_variance(p, kind=)``          variance of every gene / cell feature, ranked
``top_variance(p, kind=, n=3)``         the most variable genes or cell lines
``cell_variance_ranking(p)``            cell lines ranked by viability variance
``control_vs_treatment(p, by=)``        value distributions per cp_type (or time, dose)
``drug_ranks(p, cell=)``                per-drug mean viability in a cell line and its rank
``effective_drugs(p, cell=, ...)``      drugs with mean viability <= threshold, with MoAs
``drug_moas(p, which=)``                MoA labels carried by each drug
``moa_enrichment(p, cell=, ...)``       MoAs enriched among effective drugs (hypergeometric, BH)
``replicate_reproducibility(p, by=)``   mean pairwise correlation of each drug's replicates
``display_names(var)``                  gene symbols / CCLE names for the features
======================================  ====================================================
"""

from gpu_moa.eda._drugs import (
    drug_moas,
    drug_ranks,
    effective_drugs,
    moa_enrichment,
    replicate_reproducibility,
)
from gpu_moa.eda._features import (
    cell_variance_ranking,
    control_vs_treatment,
    feature_variance,
    label_frequencies,
    top_variance,
)
from gpu_moa.eda._names import display_names, feature_position

__all__ = [
    "cell_variance_ranking",
    "control_vs_treatment",
    "display_names",
    "drug_moas",
    "drug_ranks",
    "effective_drugs",
    "feature_position",
    "feature_variance",
    "label_frequencies",
    "moa_enrichment",
    "replicate_reproducibility",
    "top_variance",
]
