"""Stage "baseline": the label-frequency prior, the logistic model, the kNN votes and their blend.

One :class:`~gpu_moa.models.MoaBlend` is fitted on all treated training rows: the multilabel
logistic model (rank-Gauss features with cp_time/cp_dose one-hot, C chosen once by inner
drug-grouped CV; 0.01 with ``--quick``) and the kNN MoA votes (own drug excluded). Its out-of-fold step scores the
prior, both members and the blend on the same drug-grouped, multilabel-stratified folds with the
competition metric (controls left out of training and predicted 0; losses over all rows), and
chooses the blend weights and the clipping range. The rank-Gauss quantiles are fitted once on
all treated rows (unsupervised). Five folds at full size (three with ``--quick``). When the run
has test rows, the blend (members refitted on all treated rows) writes ``submission.csv``.
"""

from __future__ import annotations

import pandas as pd

from gpu_moa import _backend, pl
from gpu_moa.metrics._folds import cv_group_ids, cv_kind, max_splits
from gpu_moa.metrics._loss import multilabel_log_loss
from gpu_moa.models._blend import MoaBlend, blend_report
from gpu_moa.models._knn_votes import KnnVotes
from gpu_moa.models._logistic import MultilabelLogistic
from gpu_moa.models._trained import TrainedModel, train_model
from gpu_moa.profiles import Profiles
from gpu_moa.run._context import RunContext, Section

#: cross-validation folds (full run / --quick)
FOLDS = {False: 5, True: 3}
#: regularisation of the stage's logistic model: chosen by inner drug-grouped CV (full run),
#: fixed with --quick
C = {False: "auto", True: 0.01}
FEATURES = "rank_gauss"


def _submission(ctx: RunContext, model: TrainedModel, test: Profiles) -> dict:
    from gpu_moa import io

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
    """Fit and score the blend and its members; write the submission when possible."""
    p = ctx.train
    if p.Y is None:
        ctx.sections.append(Section("Baseline models", "Skipped: the data have no labels."))
        return
    kind = cv_kind(ctx.cv_groups)  # the CLI refused data without drug ids unless opted in
    cv_group_ids(p, ctx.cv_groups, where="baseline")
    possible = max_splits(p[~p.is_control].drug_codes())  # small data: fewer folds
    k = min(FOLDS[ctx.quick], possible)
    if k < 2:
        ctx.sections.append(
            Section(
                "Baseline models",
                f"Skipped: the treated rows hold {possible} drug group(s), too few for "
                "cross-validation (2 or more needed).",
            )
        )
        return
    # C="auto" needs 3 drug groups for its inner folds inside every training fold
    c_setting = C[ctx.quick] if possible * (k - 1) // k >= 3 else 0.01
    blend = MoaBlend(
        (MultilabelLogistic(C=c_setting), KnnVotes()), cv=k, random_state=ctx.random_state
    )
    model = train_model(p, features=FEATURES, estimator=blend)
    fitted = model.estimator
    n_treated = int((~p.is_control).sum())
    summary, labels = blend_report(fitted, n_treated, p.n_obs)
    labels.index = pd.Index(p.label_names, name="label")
    xp = _backend.get_namespace(p.Y)  # counted where the labels are: K numbers cross over
    labels.insert(0, "positives", _backend.to_numpy(xp.sum(p.Y, axis=0)).astype(int))
    metrics = {
        "folds": k,
        "fold_kind": kind,
        "cv_groups": ctx.cv_groups,
        "C": fitted.members_[0].C_,
        "features": FEATURES,
        **{key: summary[key] for key in ("prior_log_loss", "logistic_log_loss", "knn_log_loss")},
        "blend_log_loss": summary["log_loss"],
        "weights": summary["weights"],
        "clip": summary["clip"],
        "relative_improvement": 1.0 - summary["log_loss"] / summary["prior_log_loss"],
    }
    if ctx.test is not None:
        metrics |= _submission(ctx, model, ctx.test)
    ctx.metrics["baseline"] = metrics
    folds_table = fitted.fold_log_loss_ * (n_treated / p.n_obs)
    weights = pd.DataFrame({"weight": pd.Series(summary["weights"])}).rename_axis("member")
    ctx.tables["baseline_labels"] = labels
    ctx.tables["baseline_folds"] = folds_table
    ctx.tables["baseline_weights"] = weights
    w = ", ".join(f"{name} {value:.2f}" for name, value in summary["weights"].items())
    text = (
        f"{k}-fold {kind} out-of-fold predictions (controls predicted 0). Competition metric: "
        f"label-frequency prior {metrics['prior_log_loss']:.5f}, multilabel logistic "
        f"(C={metrics['C']:g}{' chosen by inner CV' if c_setting == 'auto' else ''}, "
        f"{FEATURES} features) "
        f"{metrics['logistic_log_loss']:.5f}, kNN votes {metrics['knn_log_loss']:.5f}, "
        f"blend {metrics['blend_log_loss']:.5f} ({100 * metrics['relative_improvement']:.1f}% "
        f"below the prior). Blend weights chosen on the out-of-fold predictions: {w}; "
        f"predictions clipped to [{summary['clip'][0]:g}, {summary['clip'][1]:.15g}]."
    )
    if "submission_rows" in metrics:
        text += f" Submission (the blend) written for {metrics['submission_rows']} test rows."
    gain = labels.sort_values("gain_vs_logistic", ascending=False)
    ctx.sections.append(
        Section(
            "Baseline models",
            text,
            figures=[("Log loss per fold", pl.cv_curve(folds_table))],
            tables=[
                ("Blend weights", weights),
                ("Labels the blend improves most over the logistic model", gain.head(15)),
                (
                    "Labels that gain most over the prior",
                    labels.sort_values("gain_vs_prior", ascending=False).head(15),
                ),
                ("Log loss per fold", folds_table),
            ],
        )
    )
