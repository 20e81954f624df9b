"""Realistic synthetic data in the lish-moa layout, with the planted truth kept in ``uns``.

:func:`make_lish_moa` draws a data set with the real set's structure (DESIGN.md section 2): drugs
measured at two doses and three times, one vehicle-control drug, the 206 scored and 402 non-scored
real label names with positives per label drawn from the real counts, and features generated from
MoA signatures through shared latent pathways. :func:`default_data_dir` caches one such set in the
Kaggle file layout: the data every command uses when no data path is given.
"""

from gpu_moa.datasets._lish_moa import (
    PRESETS,
    VERSION,
    default_data_dir,
    feature_table,
    make_lish_moa,
    write_synthetic,
)

__all__ = [
    "PRESETS",
    "VERSION",
    "default_data_dir",
    "feature_table",
    "make_lish_moa",
    "write_synthetic",
]
