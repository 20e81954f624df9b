"""Preprocessing: drop controls, z-score, rank-Gauss, normalize to controls, consensus signatures.

Every function takes :class:`~gpu_moa.Profiles` first, options keyword-only, computes in the
profiles' array namespace (NumPy, CuPy) and returns new Profiles. The array-level building blocks
:func:`rank_gauss_fit` / :func:`rank_gauss_apply` let a model fit the transform on a training fold
and apply it to a test fold.
"""

from gpu_moa.pp._consensus import consensus
from gpu_moa.pp._feature_select import feature_select
from gpu_moa.pp._normalize import drop_controls, normalize, rank_gauss, scale
from gpu_moa.pp._rankgauss import rank_gauss_apply, rank_gauss_fit
from gpu_moa.pp._spherize import spherize

__all__ = [
    "consensus",
    "drop_controls",
    "feature_select",
    "normalize",
    "rank_gauss",
    "rank_gauss_apply",
    "rank_gauss_fit",
    "scale",
    "spherize",
]
