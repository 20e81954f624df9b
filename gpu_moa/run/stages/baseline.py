"""Stage "baseline": label-frequency prior vs the multilabel logistic baseline, and a submission.

Both models are scored by drug-grouped, multilabel-stratified cross-validation with the
competition metric (controls left out of training and predicted 0). The logistic model uses
rank-Gauss features with cp_time/cp_dose one-hot and a fixed ``C = 0.01`` (``gpu-moa train --C
auto`` searches C by nested CV, which costs several times more). Five folds at full size (three
with ``--quick``): about a minute on two CPU cores for the 23,814-row set, seconds on a GPU. When
the run has test rows, a model fitted on all treated training rows writes ``submission.csv``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from gpu_moa import _backend, pl
from gpu_moa.metrics._folds import drug_grouped_folds, grouped_folds
from gpu_moa.metrics._loss import multilabel_log_loss
from gpu_moa.models._cv import CVResult, LabelPrior, cross_validate
from gpu_moa.models._logistic import MultilabelLogistic
from gpu_moa.models._trained import train_model
from gpu_moa.profiles import Profiles
from gpu_moa.run._context import RunContext, Section

#: cross-validation folds (full run / --quick)
FOLDS = {False: 5, True: 3}
#: regularisation of the stage's logistic model
C = 0.01
FEATURES = "rank_gauss"


def _folds(ctx: RunContext) -> tuple[list, str]:
    p, k = ctx.train, FOLDS[ctx.quick]
    if "drug_id" in p.obs and p.obs["drug_id"].notna().any():
        return drug_grouped_folds(p, n_splits=k, random_state=ctx.random_state), "drug-grouped"
    rows = np.arange(p.n_obs)  # no drug ids: rows are their own groups
    return grouped_folds(rows, p.Y, n_splits=k, random_state=ctx.random_state), "row-level"


def _label_table(p: Profiles, prior: CVResult, logistic: CVResult) -> pd.DataFrame:
    table = pd.DataFrame(
        {
            "positives": _backend.to_numpy(p.Y).sum(axis=0).astype(int),
            "prior_log_loss": prior.label_log_loss,
            "log_loss": logistic.label_log_loss,
            "auc": logistic.auc,
        },
        index=pd.Index(p.label_names, name="label"),
    )
    table["improvement"] = table["prior_log_loss"] - table["log_loss"]
    return table.sort_values("improvement", ascending=False)


def _submission(ctx: RunContext, test: Profiles) -> dict:
    from gpu_moa import io

    model = train_model(ctx.train, C=C, features=FEATURES)
    proba = model.predict(test)
    path = io.write_submission(
        proba.to_numpy(),
        test.sig_ids,
        model.label_names,
        ctx.out / "submission.csv",
        controls=test.is_control,
    )
    ctx.files["submission"] = path
    out = {"submission_rows": test.n_obs}
    if test.Y is not None and list(test.label_names) == model.label_names:
        out["test_log_loss"] = multilabel_log_loss(test.Y, proba.to_numpy())
    return out


def run(ctx: RunContext) -> None:
    """Cross-validate the prior and the logistic model; write the submission when possible."""
    p = ctx.train
    if p.Y is None:
        ctx.sections.append(Section("Logistic baseline", "Skipped: the data have no labels."))
        return
    folds, kind = _folds(ctx)
    prior = cross_validate(LabelPrior(), p, folds=folds, features="raw")
    logistic = cross_validate(MultilabelLogistic(C=C), p, folds=folds, features=FEATURES)
    metrics = {
        "folds": len(folds),
        "fold_kind": kind,
        "C": C,
        "features": FEATURES,
        "prior_log_loss": prior.log_loss,
        "logistic_log_loss": logistic.log_loss,
        "relative_improvement": 1.0 - logistic.log_loss / prior.log_loss,
        "mean_auc": float(np.nanmean(logistic.auc.to_numpy())),
        "seconds_per_fold": logistic.seconds,
    }
    if ctx.test is not None:
        metrics |= _submission(ctx, ctx.test)
    ctx.metrics["baseline"] = metrics
    labels = _label_table(p, prior, logistic)
    folds_table = pd.DataFrame(
        {"prior": prior.fold_log_loss, "logistic": logistic.fold_log_loss},
        index=pd.RangeIndex(len(folds), name="fold"),
    )
    ctx.tables["baseline_labels"] = labels
    ctx.tables["baseline_folds"] = folds_table
    text = (
        f"{len(folds)}-fold {kind} cross-validation (controls predicted 0). Competition metric: "
        f"label-frequency prior {prior.log_loss:.5f}, multilabel logistic (C={C}, "
        f"{FEATURES} features) {logistic.log_loss:.5f} "
        f"({100 * metrics['relative_improvement']:.1f}% lower). Mean per-label AUC "
        f"{metrics['mean_auc']:.3f} (within folds)."
    )
    if "submission_rows" in metrics:
        text += f" Submission written for {metrics['submission_rows']} test rows."
    ctx.sections.append(
        Section(
            "Logistic baseline",
            text,
            figures=[
                ("Log loss per fold", pl.cv_curve(folds_table)),
                ("Per-label ROC AUC of the logistic model", pl.auc_histogram(logistic.auc)),
            ],
            tables=[
                ("Labels that gain most over the prior", labels.head(15)),
                ("Log loss per fold", folds_table),
            ],
        )
    )
