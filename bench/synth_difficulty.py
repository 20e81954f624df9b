"""Difficulty of the synthetic lish-moa set on held-out drugs (calibration check of issue 2).

Scores two reference predictors with the competition metric (mean over the 206 scored labels of
the binary log loss, natural log, predictions clipped to [1e-15, 1 - 1e-15]) on rows of drugs the
models never saw:

- ``prior``: every label's frequency in the training rows (controls included);
- ``logistic_C<C>``: scikit-learn ``LogisticRegression`` (L2, lbfgs) per label on standardised
  features, fitted on the treated training rows; controls are predicted 0.

Two held-out sets: ``holdout``, the competition's honest CV scheme within the training split
(20% of the drugs with <= 18 rows held out whole, the rows of the few larger drugs split at
random, 20% of the control rows), and ``test``, the generated test split (other drugs) scored
with models fitted on the whole training split. Each score is given over all held-out rows
(``all``, controls included, as in the competition) and over the treated rows only (``trt``).
Targets (real data): prior ~0.020, a well-regularised linear model ~0.016-0.017.

Usage::

    python bench/synth_difficulty.py            # full size, writes bench/results/synth_difficulty_cpu.json
    python bench/synth_difficulty.py --quick    # small preset, 20 labels (smoke run)
"""

from __future__ import annotations

import argparse
import json
import platform
import time
import warnings
from pathlib import Path

import numpy as np
from joblib import Parallel, delayed
from sklearn.linear_model import LogisticRegression

import gpu_moa as gm

RESULTS = Path(__file__).resolve().parent / "results"


def log_loss(Y: np.ndarray, P: np.ndarray) -> float:
    """Mean column-wise binary log loss (the competition metric)."""
    P = np.clip(P, 1e-15, 1 - 1e-15)
    return float(np.mean(-np.mean(Y * np.log(P) + (1 - Y) * np.log(1 - P), axis=0)))


def holdout_mask(obs, rng: np.random.Generator, frac: float = 0.2) -> np.ndarray:
    """Drug-aware hold-out rows: small drugs whole, large drugs' rows and controls at random."""
    ctl = (obs["cp_type"] == "ctl_vehicle").to_numpy()
    size = obs["drug_id"].map(obs["drug_id"].value_counts()).to_numpy()
    drugs = obs["drug_id"][~ctl & (size <= 18)].unique()
    held = rng.choice(drugs, size=int(frac * len(drugs)), replace=False)
    by_row = rng.random(len(obs)) < frac
    return obs["drug_id"].isin(held).to_numpy() | ((ctl | (size > 18)) & by_row)


def _fit_one(X: np.ndarray, y: np.ndarray, C: float) -> tuple[np.ndarray, float]:
    if y.min() == y.max():  # no positive (or no negative) in training: constant prediction
        return np.zeros(X.shape[1]), (-40.0 if y.max() == 0 else 40.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = LogisticRegression(C=C, max_iter=500).fit(X, y)
    return model.coef_[0], float(model.intercept_[0])


def score(X, Y, ctl, fit, held, C_values, n_jobs) -> dict[str, float]:
    """Prior and per-label logistic regression scores on ``held`` rows."""
    out: dict[str, float] = {}
    train_rows = ~held if fit is None else fit
    prior = Y[train_rows].mean(axis=0)
    trt = held & ~ctl
    for name, rows in (("all", held), ("trt", trt)):
        out[f"prior_{name}"] = log_loss(Y[rows], np.broadcast_to(prior, Y[rows].shape))
    fit_rows = train_rows & ~ctl
    mu, sd = X[fit_rows].mean(axis=0), X[fit_rows].std(axis=0) + 1e-6
    Xs = ((X - mu) / sd).astype(np.float32)
    Xf, Yf = Xs[fit_rows], Y[fit_rows]
    for C in C_values:
        start = time.perf_counter()
        coefs = Parallel(n_jobs=n_jobs)(
            delayed(_fit_one)(Xf, Yf[:, j], C) for j in range(Y.shape[1])
        )
        W = np.stack([c for c, _ in coefs], axis=1)
        b = np.array([i for _, i in coefs])
        P = 1 / (1 + np.exp(-(Xs @ W + b)))
        P[ctl] = 0.0
        for name, rows in (("all", held), ("trt", trt)):
            out[f"logistic_C{C}_{name}"] = log_loss(Y[rows], P[rows])
        out[f"logistic_C{C}_seconds"] = round(time.perf_counter() - start, 1)
    return out


def main() -> None:
    """Run the calibration check and write the JSON result."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="small preset, 20 labels")
    ap.add_argument("--C", type=float, nargs="+", default=[0.003, 0.01, 0.03])
    ap.add_argument("--seed", type=int, default=0, help="data seed")
    ap.add_argument("--n-jobs", type=int, default=-1)
    args = ap.parse_args()
    preset = "small" if args.quick else "full"
    start = time.perf_counter()
    p = gm.datasets.make_lish_moa(preset=preset, split="all", random_state=args.seed, device="cpu")
    gen_s = time.perf_counter() - start
    X, Y = gm.to_numpy(p.X), gm.to_numpy(p.Y)
    if args.quick:
        Y = Y[:, np.argsort(-Y.sum(axis=0))[:20]]
    obs = p.obs
    ctl = (obs["cp_type"] == "ctl_vehicle").to_numpy()
    is_train = (obs["split"] == "train").to_numpy()
    rng = np.random.default_rng(0)
    held = np.zeros(len(obs), bool)
    held[is_train] = holdout_mask(obs[is_train], rng)
    result = {
        "preset": preset,
        "seed": args.seed,
        "n_labels": int(Y.shape[1]),
        "generation_seconds": round(gen_s, 2),
        "machine": platform.processor() or platform.machine(),
        "holdout": score(
            X[is_train], Y[is_train], ctl[is_train], None, held[is_train], args.C, args.n_jobs
        ),
        "test": score(X, Y, ctl, is_train, ~is_train, args.C, args.n_jobs),
    }
    RESULTS.mkdir(exist_ok=True)
    tag = ("_quick" if args.quick else "") + (f"_seed{args.seed}" if args.seed else "")
    name = f"synth_difficulty{tag}_cpu.json"
    (RESULTS / name).write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
