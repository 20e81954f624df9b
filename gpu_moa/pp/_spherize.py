"""Sphering (whitening) fitted on reference profiles, as pycytominer's ``Spherize``.

The reference rows (by default the controls) are centred (``-cor`` methods: also scaled to unit
standard deviation, ddof=0) and decomposed; with singular values ``s`` and right singular vectors
``V`` of that n x d matrix, the whitening matrix is ``W = V diag(sqrt(n - 1) / (s + epsilon))``
(PCA) or ``W V^T`` (ZCA). Every row is then transformed with the reference's centre and scale
and multiplied by ``W``. The decomposition is the eigendecomposition of the d x d matrix
``Xc^T Xc`` in float64 (so a PCA component's sign is arbitrary; ZCA is unique). When n <= d, the
directions beyond the rank take the smallest non-zero singular value, as pycytominer does.
"""

from __future__ import annotations

from typing import Any

import array_api_compat
import numpy as np
import pandas as pd

from gpu_moa import _backend
from gpu_moa._validation import data_error
from gpu_moa.pp._feature_select import sample_rows
from gpu_moa.profiles import Profiles

METHODS = ("ZCA", "ZCA-cor", "PCA", "PCA-cor")


def _whitening(R: Any, method: str, epsilon: float, center: bool) -> tuple[Any, Any, Any]:
    """(centre, scale, W) fitted on reference rows ``R`` (float64)."""
    xp = _backend.get_namespace(R)
    n, d = R.shape
    mean = xp.mean(R, axis=0, keepdims=True) if center else xp.zeros_like(R[:1, :])
    scale = xp.ones_like(mean)
    if method.endswith("-cor"):
        scale = xp.sqrt(xp.mean((R - mean) ** 2, axis=0, keepdims=True))
        if bool(xp.any(scale == 0)):
            raise data_error(
                "spherize",
                f"{method} needs features that vary across the reference rows",
                "drop constant features first (gm.pp.feature_select(operations=('variance',)))",
            )
    Z = (R - mean) / scale
    eigval, V = xp.linalg.eigh(xp.matmul(xp.permute_dims(Z, (1, 0)), Z))  # ascending
    eigval, V = xp.flip(eigval, axis=0), xp.flip(V, axis=1)
    s = xp.sqrt(xp.clip(eigval, 0.0, None))
    tol = float(s[0]) * max(n, d) * float(np.finfo(np.float32).eps)  # X is float32 data
    r = int(xp.sum(xp.astype(s > tol, xp.int64)))
    if not (r == d or (center and r == n - 1) or (not center and r == n)):
        raise data_error(
            "spherize",
            f"the reference is not full rank (n = {n}, d = {d}, rank {r})",
            "remove linearly dependent features (gm.pp.feature_select) or add reference rows",
        )
    if r < d:
        s = xp.where(xp.arange(d, device=array_api_compat.device(R)) < r, s, s[r - 1])
    W = V * (float(np.sqrt(n - 1)) / (s + epsilon))[None, :]
    if method.startswith("ZCA"):
        W = xp.matmul(W, xp.permute_dims(V, (1, 0)))
    return mean, scale, W


def spherize(
    p: Profiles,
    *,
    method: str = "ZCA",
    reference: Any = "controls",
    epsilon: float = 1e-6,
    center: bool = True,
) -> Profiles:
    """Whiten the profiles with a transform fitted on reference rows.

    Parameters
    ----------
    p : Profiles
        Profiles without NaN.
    method : {"ZCA", "ZCA-cor", "PCA", "PCA-cor"}, default "ZCA"
        pycytominer's sphering methods.
    reference : "controls", "all", boolean mask or str, default "controls"
        Rows the transform is fitted on (:attr:`Profiles.is_control`, every row, a mask, or an
        obs query string).
    epsilon : float, default 1e-6
        Added to the singular values.
    center : bool, default True
        Centre on the reference mean (required by the ``-cor`` methods).

    Returns
    -------
    Profiles
        Same rows; ``X`` the whitened float32 features (PCA: one column per component, named
        ``PC1..``; ZCA: the original feature names), ``uns["spherize"]`` the method and the
        number of reference rows.

    Raises
    ------
    DataError
        For an unknown method, no reference rows, a rank-deficient reference or (``-cor``) a
        constant feature.
    """
    if method not in METHODS or (method.endswith("-cor") and not center):
        raise data_error(
            "spherize", f"method {method!r} with center={center}", f"choose among {METHODS}"
        )
    xp = p.xp
    rows = sample_rows(p, "all" if reference == "all" else reference, "spherize")
    X = xp.astype(p.X, xp.float64)
    mean, scale, W = _whitening(_backend.take_rows(X, rows), method, epsilon, center)
    out = xp.astype(xp.matmul((X - mean) / scale, W), xp.float32)
    var = p.var
    if method.startswith("PCA"):
        names = pd.Index([f"PC{i + 1}" for i in range(p.n_vars)], name=p.var.index.name)
        var = pd.DataFrame({"kind": "component"}, index=names)
    info = {"method": method, "n_reference": int(rows.size)}
    return p.replace(X=out, var=var, uns={**p.uns, "spherize": info})
