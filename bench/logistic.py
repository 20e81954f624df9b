"""Benchmark: MultilabelLogistic vs scikit-learn's one-vs-rest LogisticRegression (lbfgs).

Same data (the synthetic lish-moa training set, 23,814 rows / 206 scored labels; treated rows
fitted, controls predicted 0), same features (rank-Gauss + cp_time/cp_dose one-hot), same C and
tol. Reported in one run:

* full-data fit time of gpu_moa (CPU, and the GPU when one works) and of
  ``OneVsRestClassifier(LogisticRegression(solver="lbfgs"))`` as by default (``n_jobs=None``) and
  on all cores (``n_jobs=-1``), as ratios; each fit runs in a fresh subprocess that reports its
  wall time and peak memory (growth of the peak resident set, VmHWM, over the resident set just
  before the fit; for ``n_jobs=-1`` also the largest worker's peak; for CuPy the memory pool);
* the out-of-fold log loss (drug-grouped folds, features refitted per fold) of gpu_moa and of
  scikit-learn on all cores;
* the machine's float32 matrix-multiply rate and the fraction of it gpu_moa's fit reaches
  (flops counted from the iterations each label used).
* the fit time of ``MoaBlend`` (logistic + kNN votes, weights on out-of-fold predictions of the
  same number of drug-grouped folds, members refitted) with C fixed and ``C="auto"``, as a ratio
  to gpu_moa's logistic cross-validation above, with each member's and the blend's OOF loss.

Usage::

    python bench/logistic.py             # full run, writes bench/results/logistic_<cpu|gpu>.json
    python bench/logistic.py --quick     # smoke run on the small preset (seconds)
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
from _common import reset_peak, sgemm_gflops, status_mb

RESULTS = Path(__file__).resolve().parent / "results"
METHODS = ("gpu_moa_cpu", "gpu_moa_gpu", "sklearn_default", "sklearn_all_cores")


def _worker_peak() -> tuple[int, float]:
    """(pid, VmHWM MiB) of a joblib worker."""
    return os.getpid(), status_mb("VmHWM")


def sklearn_model(C: float, tol: float, n_jobs: int | None):
    """The peer: one lbfgs LogisticRegression per label."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.multiclass import OneVsRestClassifier

    return OneVsRestClassifier(LogisticRegression(C=C, tol=tol, solver="lbfgs"), n_jobs=n_jobs)


def run_worker(method: str, data: str, C: float, tol: float) -> dict:
    """Fit one method on the saved features (inside a fresh subprocess)."""
    import gpu_moa as gm
    from gpu_moa import _backend

    with np.load(data) as npz:
        X, Y = npz["X"], npz["Y"]
    out: dict = {"method": method}
    if method.startswith("gpu_moa"):
        xp = _backend.resolve_xp("gpu" if method == "gpu_moa_gpu" else "cpu")
        Xd, Yd = _backend.to_device(X, xp), _backend.to_device(Y, xp)
        model = gm.models.MultilabelLogistic(C=C, tol=tol)
        model.fit(Xd, Yd)  # warm-up (BLAS threads, CUDA kernels)
        if _backend.is_cupy_namespace(xp):
            import cupy

            cupy.get_default_memory_pool().free_all_blocks()
        _backend.synchronize(xp)
        before = reset_peak()
        start = time.perf_counter()
        model.fit(Xd, Yd)
        _backend.synchronize(xp)
        out["seconds"] = time.perf_counter() - start
        out["n_iter_max"] = int(model.n_iter_.max())
        out["label_iterations"] = int(model.n_iter_.sum())
        if _backend.is_cupy_namespace(xp):
            import cupy

            out["gpu_pool_mb"] = cupy.get_default_memory_pool().total_bytes() / 2**20
    else:
        n_jobs = -1 if method == "sklearn_all_cores" else None
        before = reset_peak()
        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = sklearn_model(C, tol, n_jobs).fit(X, Y)
        out["seconds"] = time.perf_counter() - start
        out["n_iter_max"] = int(
            max(e.n_iter_[0] for e in model.estimators_ if hasattr(e, "n_iter_"))
        )
        if n_jobs == -1:
            from joblib import Parallel, delayed

            peaks = dict(Parallel(n_jobs=-1)(delayed(_worker_peak)() for _ in range(64)))
            out["workers"] = len(peaks)
            out["worker_peak_rss_mb"] = max(peaks.values())
    out["peak_rss_growth_mb"] = status_mb("VmHWM") - before
    return out


def in_subprocess(method: str, data: Path, C: float, tol: float) -> dict:
    cmd = [sys.executable, __file__, "--worker", method, "--data", str(data)]
    cmd += ["--C", str(C), "--tol", str(tol)]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        return {"method": method, "error": done.stderr.strip().splitlines()[-1:]}
    return json.loads(done.stdout.strip().splitlines()[-1])


def oof_scores(p, folds, C: float, tol: float) -> dict:
    """Out-of-fold log loss of gpu_moa and of scikit-learn (all cores), same folds and features.

    scikit-learn's one-vs-rest predicts exactly 0 for a label without a training positive (a
    constant estimator); ``sklearn_log_loss_prior_fix`` replaces those columns by the smoothed
    prior gpu_moa uses, to compare the fitted models alone.
    """
    import gpu_moa as gm
    from gpu_moa.models._cv import predict_on

    ours = gm.models.cross_validate(
        gm.models.MultilabelLogistic(C=C, tol=tol), p, folds=folds, features="rank_gauss"
    )
    Y = gm.to_numpy(p.Y).astype(np.float64)
    raw, fixed, seconds = np.zeros_like(Y), np.zeros_like(Y), 0.0
    for train_idx, valid_idx in folds:
        start = time.perf_counter()
        train = p[train_idx]
        train = train[~train.is_control]
        feats = gm.models.MoaFeatures("rank_gauss").fit(train)
        Ytr = gm.to_numpy(train.Y)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = sklearn_model(C, tol, -1).fit(gm.to_numpy(feats.transform(train)), Ytr)
        raw[valid_idx] = predict_on(model, feats, p[valid_idx])
        seconds += time.perf_counter() - start
        constant = (Ytr.sum(axis=0) == 0) | (Ytr.sum(axis=0) == len(Ytr))
        prior = (Ytr.sum(axis=0) + 0.5) / (len(Ytr) + 1)
        block = raw[valid_idx]
        block[:, constant] = prior[constant]
        block[p[valid_idx].is_control] = 0.0
        fixed[valid_idx] = block
    return {
        "folds": len(folds),
        "gpu_moa_log_loss": ours.log_loss,
        "sklearn_log_loss": gm.metrics.multilabel_log_loss(Y, raw),
        "sklearn_log_loss_prior_fix": gm.metrics.multilabel_log_loss(Y, fixed),
        "gpu_moa_seconds": sum(ours.seconds),
        "sklearn_seconds": seconds,
    }


def blend_fit(p, n_folds: int, C: float, tol: float, logistic_cv_seconds: float) -> dict:
    """Fit time of ``MoaBlend`` (logistic + kNN votes, OOF weights on ``n_folds`` drug-grouped
    folds, members refitted on all treated rows) with C fixed and with ``C="auto"`` (chosen once
    by inner CV), as ratios to the logistic model's cross-validation (same folds count, C fixed;
    ``logistic_cv_seconds``), with the OOF log loss of each member and of the blend."""
    import gpu_moa as gm

    treated = p[~p.is_control]
    X = gm.models.MoaFeatures("rank_gauss").fit_transform(treated)
    groups = treated.obs["drug_id"].to_numpy()
    out: dict = {"folds": n_folds, "logistic_cv_seconds": logistic_cv_seconds}
    for name, c in (("fixed_C", C), ("auto_C", "auto")):
        members = (gm.models.MultilabelLogistic(C=c, tol=tol), gm.models.KnnVotes())
        blend = gm.models.MoaBlend(members, cv=n_folds)
        start = time.perf_counter()
        blend.fit(X, treated.Y, groups=groups)
        seconds = time.perf_counter() - start
        out[name] = {
            "seconds": seconds,
            "ratio_to_logistic_cv": seconds / logistic_cv_seconds,
            "C": blend.members_[0].C_,
            "weights": dict(zip(blend.names_, blend.weights_.tolist(), strict=True)),
            "clip": list(blend.clip_),
            "oof_log_loss_treated_rows": blend.oof_log_loss_,
        }
        print("blend", name, out[name], flush=True)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small preset, 2 folds")
    parser.add_argument("--folds", type=int, default=5, help="CV folds for the OOF log loss")
    parser.add_argument("--C", type=float, default=0.01)
    parser.add_argument("--tol", type=float, default=1e-4)
    parser.add_argument("--worker", choices=METHODS, help=argparse.SUPPRESS)
    parser.add_argument("--data", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(run_worker(args.worker, args.data, args.C, args.tol)))
        return

    import gpu_moa as gm

    gm.settings.progress = False
    preset = "small" if args.quick else "full"
    p = gm.datasets.make_lish_moa(preset=preset, random_state=0, device="cpu")
    if args.quick:  # the 20 most frequent labels keep the smoke run to seconds
        top = np.sort(np.argsort(-gm.to_numpy(p.Y).sum(axis=0))[:20])
        p = p.replace(Y=p.Y[:, top], label_names=[p.label_names[i] for i in top])  # host arrays
    treated = p[(p.obs["cp_type"] == "trt_cp").to_numpy()]
    X = gm.to_numpy(gm.models.MoaFeatures("rank_gauss").fit_transform(treated))
    Y = gm.to_numpy(treated.Y)
    methods = [m for m in METHODS if m != "gpu_moa_gpu" or gm.has_gpu()]
    result: dict = {
        "preset": preset,
        "rows": p.n_obs,
        "treated_rows": treated.n_obs,
        "features": X.shape[1],
        "labels": Y.shape[1],
        "C": args.C,
        "tol": args.tol,
        "sgemm_gflops": sgemm_gflops(X.shape[0], X.shape[1], Y.shape[1]),
        "load_average_start": os.getloadavg(),
        "fits": {},
    }
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data.npz"
        np.savez(data, X=X, Y=Y)
        for method in methods:
            result["fits"][method] = fit = in_subprocess(method, data, args.C, args.tol)
            print(method, fit, flush=True)
    fits = result["fits"]
    ours = fits["gpu_moa_cpu"]
    for peer in ("sklearn_default", "sklearn_all_cores"):
        if "seconds" in fits[peer]:
            result[f"speedup_vs_{peer}"] = fits[peer]["seconds"] / ours["seconds"]
    # flops of the fit: whitening (2 n p^2 + 2 n p^2) and 2 products of 2 n p flops per label-iteration
    n, d = X.shape
    flops = 4 * n * d * d + 4 * n * d * (ours["label_iterations"] + Y.shape[1])
    result["gpu_moa_cpu_gflops"] = flops / ours["seconds"] / 1e9
    result["fraction_of_sgemm"] = result["gpu_moa_cpu_gflops"] / result["sgemm_gflops"]
    folds = gm.metrics.drug_grouped_folds(p, n_splits=2 if args.quick else args.folds)
    result["oof"] = oof = oof_scores(p, folds, args.C, args.tol)
    oof["relative_gap"] = oof["gpu_moa_log_loss"] / oof["sklearn_log_loss"] - 1
    oof["relative_gap_prior_fix"] = oof["gpu_moa_log_loss"] / oof["sklearn_log_loss_prior_fix"] - 1
    result["blend"] = blend_fit(p, len(folds), args.C, args.tol, oof["gpu_moa_seconds"])
    result["load_average_end"] = os.getloadavg()
    RESULTS.mkdir(exist_ok=True)
    device = "gpu" if gm.has_gpu() else "cpu"
    out = RESULTS / f"logistic{'_quick' if args.quick else ''}_{device}.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: v for k, v in result.items() if k != "fits"}, indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
