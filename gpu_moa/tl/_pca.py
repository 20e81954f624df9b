"""Principal component analysis: exact covariance-eigh in the array namespace, cuML, scikit-learn.

The default solver forms the p x p scatter matrix with one matrix product, ``X^T X`` centred in
float64 with the float64 mean (a centred copy of ``X`` only when the mean is large against the
spread), then takes its top eigenpairs (:func:`gpu_moa._backend.eigh_top`: a float32 start
refined in float64, or the float64 decomposition). For the tall matrices of this domain
(23,814 x 872 lish-moa, 1.2M x 978 L1000) that is the cheapest exact PCA, and the scatter is a sum
over row blocks, so partitioned data merge by adding the blocks' scatters
(:func:`pca_fit_from_scatter`). Scores are one product ``X @ components.T`` less the projected
mean. Components follow scikit-learn's sign convention (the largest absolute loading of each
component is positive), so results equal ``sklearn.decomposition.PCA`` up to floating-point
error.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import ModuleType
from typing import Any

from gpu_moa import _backend
from gpu_moa._validation import check_no_nan_array
from gpu_moa.profiles import Profiles

SOLVERS = ("auto", "covariance_eigh", "cuml", "sklearn")


@dataclass(frozen=True)
class PCAFit:
    """A fitted PCA; every array lives in the namespace of the data it was fitted on.

    Attributes
    ----------
    mean_ : array, shape (p,)
        Feature means subtracted before projecting.
    components_ : array, shape (k, p)
        Principal axes (rows), the largest absolute loading of each one positive.
    explained_variance_ : array, shape (k,)
        Variance of the data along each axis (``n - 1`` denominator).
    explained_variance_ratio_ : array, shape (k,)
        Fraction of the total variance explained by each axis.
    singular_values_ : array, shape (k,)
        Singular values of the centred data matrix.
    n_samples_ : int
        Number of rows the fit saw.
    solver : str
        The solver that ran: "covariance_eigh", "cuml" or "sklearn".
    """

    mean_: Any
    components_: Any
    explained_variance_: Any
    explained_variance_ratio_: Any
    singular_values_: Any
    n_samples_: int
    solver: str


def _check_n_comps(n_comps: int, n: int, p: int) -> None:
    if n < 2:
        raise ValueError(f"PCA needs at least 2 rows, got {n}")
    if not isinstance(n_comps, int) or not 1 <= n_comps <= min(n, p):
        raise ValueError(
            f"n_comps={n_comps!r} must be an integer between 1 and min(n_obs, n_vars)="
            f"{min(n, p)}; pass a smaller n_comps"
        )


def _flip_signs(components: Any, xp: ModuleType) -> Any:
    """scikit-learn's ``svd_flip(u_based_decision=False)``: largest |loading| of each row > 0."""
    k, p = components.shape
    dev = _backend.array_device(components)
    flat_idx = xp.argmax(xp.abs(components), axis=1) + xp.arange(k, device=dev) * p
    signs = xp.sign(xp.take(xp.reshape(components, (-1,)), flat_idx, axis=0))
    signs = xp.where(signs == 0, xp.ones_like(signs), signs)
    return components * signs[:, None]


def pca_fit_from_scatter(
    scatter: Any, mean: Any, n_samples: int, *, n_comps: int, dtype: Any = None
) -> PCAFit:
    """Finish a covariance-eigh PCA from the centred scatter matrix ``Xc^T Xc``.

    Partitioned data (Dask blocks, several GPUs) reduce to ``(n, mean, scatter)`` per block and
    merge with the parallel-variance formula before calling this.

    Parameters
    ----------
    scatter : array, shape (p, p)
        Sum over rows of the outer products of the centred rows.
    mean : array, shape (p,)
        Feature means.
    n_samples : int
        Number of rows behind ``scatter``.
    n_comps : int
        Number of components to keep.
    dtype : dtype, optional
        Floating dtype of the returned arrays (default: that of ``mean``).

    Returns
    -------
    PCAFit
    """
    xp = _backend.get_namespace(scatter, mean)
    p = scatter.shape[0]
    _check_n_comps(n_comps, n_samples, p)
    dtype = mean.dtype if dtype is None else dtype
    s64 = xp.astype(scatter, xp.float64, copy=False)
    s64 = (s64 + s64.T) / 2.0
    vals, vecs = _backend.eigh_top(s64, n_comps)
    vals = xp.clip(vals, 0.0, None)
    total = xp.sum(xp.clip(xp.linalg.diagonal(s64), 0.0, None))
    components = _flip_signs(vecs.T, xp)
    return PCAFit(
        mean_=xp.astype(mean, dtype),
        components_=xp.astype(components, dtype),
        explained_variance_=xp.astype(vals / (n_samples - 1), dtype),
        explained_variance_ratio_=xp.astype(vals / total, dtype),
        singular_values_=xp.astype(xp.sqrt(vals), dtype),
        n_samples_=int(n_samples),
        solver="covariance_eigh",
    )


#: the scatter comes from the uncentred product ``X^T X - n mean mean^T`` while the mean carries at
#: most this share of the spread (``n |mean|^2 <= share * |X - mean|_F^2``), else from centred rows
_MEAN_SHARE_MAX = 0.25
#: rows sampled (spread over the matrix) to estimate the spread for that choice
_SAMPLE_ROWS = 512


def _scatter(X: Any) -> tuple[Any, Any, Any]:
    """Centred scatter matrix and feature means of ``X`` (float64), and the centred rows when it
    made them (None when fused).

    Fused: one product of the uncentred rows, centred afterwards in float64 with the float64 mean
    (a float32 mean's rounding, multiplied by n, would dominate the error). The uncentred float32
    product sums same-sign terms, so its rounding grows with the mean. While the mean carries at
    most 1/4 of the sum of squares (every feature's mean half its standard deviation, say), the
    components stay within 3x the rounding of the centred product (angles ~1e-6 at 23,814 x 872,
    measured against a float64 oracle); beyond, the scatter comes from a centred copy of ``X``.
    """
    xp = _backend.get_namespace(X)
    n = X.shape[0]
    mean = xp.sum(X, axis=0, dtype=xp.float64) / n
    if not bool(xp.all(xp.isfinite(mean))):  # float64 sums of finite float32 values stay finite
        check_no_nan_array(X, "pca input X")
    sample = X[:: max(1, n // _SAMPLE_ROWS), :]
    spread = float(n) * xp.sum(xp.astype(xp.var(sample, axis=0), xp.float64))
    if bool(float(n) * xp.sum(mean * mean) <= _MEAN_SHARE_MAX * spread):
        scatter = xp.astype(xp.matmul(X.T, X), xp.float64)
        scatter -= float(n) * (mean[:, None] * mean[None, :])
        return scatter, mean, None
    Xc = X - xp.astype(mean, X.dtype)
    return xp.astype(xp.matmul(Xc.T, Xc), xp.float64), mean, Xc


def _from_estimator(model: Any, X: Any, n: int, solver: str) -> PCAFit:
    """Wrap the fitted attributes of a scikit-learn-like PCA estimator into a :class:`PCAFit`
    on ``X``'s device and in its dtype."""
    xp = _backend.get_namespace(X)

    def arr(a: Any) -> Any:
        return xp.astype(_backend.to_device(a, X), X.dtype)

    return PCAFit(
        mean_=arr(model.mean_),
        components_=_flip_signs(arr(model.components_), xp),
        explained_variance_=arr(model.explained_variance_),
        explained_variance_ratio_=arr(model.explained_variance_ratio_),
        singular_values_=arr(model.singular_values_),
        n_samples_=n,
        solver=solver,
    )


def _resolve_solver(X: Any, solver: str) -> tuple[str, str]:
    """(solver, note for the log) for a request."""
    if solver not in SOLVERS:
        raise ValueError(f"solver must be one of {SOLVERS}, got {solver!r}")
    if solver != "auto":
        return solver, f"solver={solver!r} requested"
    if _backend.device_of(X) == "gpu":
        if _backend.has_cuml():
            return "cuml", "cuML is installed and the data are on the GPU"
        return "covariance_eigh", "cuML is not installed: exact covariance-eigh on the GPU"
    return "covariance_eigh", "data on the CPU: exact covariance-eigh"


def _fit(X: Any, n_comps: int, solver: str) -> tuple[PCAFit, Any, bool]:
    """Fit with a solver; also the centred rows when it made them, and whether scores may be
    projected from the uncentred rows (``X @ C.T - mean @ C.T``)."""
    xp = _backend.get_namespace(X)
    n, p = X.shape
    _check_n_comps(n_comps, n, p)
    solver, note = _resolve_solver(X, solver)
    if solver != "covariance_eigh":  # (that one finds NaN/inf in its column sums)
        check_no_nan_array(X, "pca input X")
    with _backend.timed_step(f"pca[{solver}]", xp, note):
        if solver == "covariance_eigh":
            scatter, mean, Xc = _scatter(X)
            fit = pca_fit_from_scatter(scatter, mean, n, n_comps=n_comps, dtype=X.dtype)
            return fit, Xc, Xc is None
        if solver == "sklearn":
            from sklearn.decomposition import PCA

            model = PCA(n_components=n_comps).fit(_backend.to_numpy(X))
        else:  # thin cuML adapter (GPU only)
            cuml = _backend.import_cuml()
            if _backend.device_of(X) != "gpu":
                raise ValueError("solver='cuml' needs the data on the GPU: use p.to('gpu') first")
            model = cuml.PCA(n_components=n_comps, output_type="cupy").fit(X)
        return _from_estimator(model, X, n, solver), None, False


def pca_fit(X: Any, *, n_comps: int = 50, solver: str = "auto") -> PCAFit:
    """Fit a PCA on a matrix.

    Parameters
    ----------
    X : array, shape (n, p)
        Data in any array namespace (NumPy, CuPy, array-api-strict).
    n_comps : int, default 50
        Number of components, 1 <= n_comps <= min(n, p).
    solver : {"auto", "covariance_eigh", "cuml", "sklearn"}
        "auto" is cuML's PCA for GPU data when cuML is installed, else the exact covariance-eigh
        in ``X``'s namespace; "sklearn" fits ``sklearn.decomposition.PCA`` on the host.

    Returns
    -------
    PCAFit
        Arrays in ``X``'s namespace and dtype.
    """
    return _fit(X, n_comps, solver)[0]


def pca_transform(fit: PCAFit, X: Any, *, whiten: bool = False) -> Any:
    """Project rows onto fitted principal axes.

    Parameters
    ----------
    fit : PCAFit
        Result of :func:`pca_fit` (same namespace as ``X``).
    X : array, shape (m, p)
        Rows to project.
    whiten : bool, default False
        Divide each score by the square root of its component's variance (unit variance).

    Returns
    -------
    array, shape (m, k)
        Scores in ``X``'s namespace.
    """
    if X.shape[1] != fit.components_.shape[1]:
        raise ValueError(
            f"X has {X.shape[1]} features but the PCA was fitted on {fit.components_.shape[1]}"
        )
    return _project(fit, X, whiten)


def _project(fit: PCAFit, X: Any, whiten: bool, *, Xc: Any = None, fused: bool = False) -> Any:
    """Scores of rows: ``(X - mean) @ C.T``; ``Xc @ C.T`` from given centred rows; with ``fused``
    ``X @ C.T - mean @ C.T`` (no centred copy)."""
    xp = _backend.get_namespace(X)
    C = fit.components_
    if Xc is not None:
        scores = xp.matmul(Xc, C.T)
    elif fused:
        scores = xp.matmul(X, C.T) - xp.matmul(fit.mean_, C.T)
    else:
        scores = xp.matmul(X - fit.mean_, C.T)
    if whiten:
        eps = xp.finfo(scores.dtype).eps
        scores = scores / xp.clip(xp.sqrt(fit.explained_variance_), eps, None)
    return scores


def pca(p: Profiles, *, n_comps: int = 50, whiten: bool = False, solver: str = "auto") -> Profiles:
    """Principal components of the profiles.

    Parameters
    ----------
    p : Profiles
        Signatures; select features first (``p.genes``/``p.cells``) to embed only those.
    n_comps : int, default 50
        Number of components (capped at min(n_obs, n_vars)).
    whiten : bool, default False
        Scale scores to unit variance.
    solver : {"auto", "covariance_eigh", "cuml", "sklearn"}
        See :func:`pca_fit`.

    Returns
    -------
    Profiles
        A copy with ``obsm["X_pca"]`` (n_obs x n_comps scores) and ``uns["pca"]``: components
        (loadings, n_comps x n_vars), mean, variance, variance_ratio, singular_values, solver,
        whiten and the feature names.
    """
    n_comps = min(n_comps, p.n_obs, p.n_vars)
    fit, Xc, fused = _fit(p.X, n_comps, solver)
    scores = _project(fit, p.X, whiten, Xc=Xc, fused=fused)
    return with_pca(p, fit, scores, whiten=whiten)


def with_pca(
    p: Profiles, fit: PCAFit, scores: Any, *, whiten: bool, solver: str | None = None
) -> Profiles:
    """``p`` with PCA ``scores`` in ``obsm["X_pca"]`` and the fit in ``uns["pca"]``.

    Parameters
    ----------
    p : Profiles
        The profiles the PCA was fitted on.
    fit : PCAFit
        The fit (components, mean, variances).
    scores : array
        ``n_obs x n_comps`` scores of ``p``.
    whiten : bool
        Whether the scores are whitened.
    solver : str, optional
        The solver name to record (default ``fit.solver``).

    Returns
    -------
    Profiles
        A copy of ``p``; ``uns["pca"]`` holds components, mean, variance, variance_ratio,
        singular_values, solver, whiten and the feature names.
    """
    uns = dict(p.uns)
    uns["pca"] = {
        "components": fit.components_,
        "mean": fit.mean_,
        "variance": fit.explained_variance_,
        "variance_ratio": fit.explained_variance_ratio_,
        "singular_values": fit.singular_values_,
        "solver": fit.solver if solver is None else solver,
        "whiten": whiten,
        "features": p.var_names,
    }
    return p.replace(obsm={**p.obsm, "X_pca": scores}, uns=uns)
