"""``gpu-moa train``: cross-validate and fit a MoA model (logistic, kNN votes or their blend), save it."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np

from gpu_moa import _backend, dist
from gpu_moa._atomic import atomic_dir, atomic_path, write_text_atomic
from gpu_moa._validation import require_treated
from gpu_moa.cli import _cluster
from gpu_moa.cli._errors import usage_error
from gpu_moa.metrics._folds import CV_GROUPS, cv_group_ids, cv_kind


def positive_float(text: str) -> float:
    """Parse a positive number (an argparse ``type``)."""
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 < value < float("inf"):  # inf would write non-standard Infinity into model.json
        raise argparse.ArgumentTypeError(f"expected a positive finite number, got {text!r}")
    return value


def seed_value(text: str) -> int:
    """Parse a seed: an integer from 0 to 2**32 - 1 (an argparse ``type``)."""
    try:
        value = int(text)
    except ValueError:
        value = -1
    if not 0 <= value < 2**32:
        raise argparse.ArgumentTypeError(f"expected an integer from 0 to 4294967295, got {text!r}")
    return value


def c_value(text: str) -> float | str:
    """Parse ``--C``: "auto" or a positive number."""
    if text == "auto":
        return text
    try:
        return positive_float(text)
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(
            f"expected 'auto' or a positive finite number, got {text!r}"
        ) from None


def register(
    subparsers: argparse._SubParsersAction, parents: list[argparse.ArgumentParser]
) -> None:
    """Add the ``train`` sub-command."""
    from gpu_moa.models._features import FEATURE_KINDS

    p = subparsers.add_parser(
        "train",
        parents=parents,
        help="train a MoA model (default: logistic + kNN votes blend) and save it",
        description=(
            "Estimate the out-of-fold competition metric by drug-grouped cross-validation "
            "(the model and the label-frequency prior), then fit the model on all treated rows "
            "and save it (model.json + arrays.npz) with cv_metrics.json and cv_labels.csv into "
            "--out. The default blend computes its members' out-of-fold predictions on --folds "
            "drug-grouped folds, blends them with the weights that minimise the out-of-fold log "
            "loss, and reports each member's and the blend's loss. With --cluster/--partitions "
            "every logistic fit sums the loss and gradient over row partitions on Dask (same "
            "model). DATA defaults to the embedded synthetic set."
        ),
    )
    p.add_argument(
        "data", nargs="?", default=None, help="lish-moa directory, annotated CSV or Parquet"
    )
    p.add_argument("--out", required=True, help="model directory to write")
    p.add_argument(
        "--model", choices=MODELS, default="blend",
        help="logistic, knn (neighbours' votes) or blend of both on out-of-fold predictions (default)",
    )  # fmt: skip
    p.add_argument(
        "--C", dest="C", type=c_value, default=None,
        help="inverse L2 strength as in scikit-learn, or 'auto' (inner drug-grouped CV; the "
        "default, 0.01 with --cluster/--partitions)",
    )  # fmt: skip
    p.add_argument(
        "--tol", type=positive_float, default=1e-4,
        help="stop a label's L-BFGS fit when its largest gradient component is below TOL (default 1e-4)",
    )  # fmt: skip
    p.add_argument(
        "--folds", type=int, default=5,
        help="CV folds (0 skips the CV of logistic/knn; the blend needs at least 2; default 5)",
    )  # fmt: skip
    p.add_argument("--features", choices=FEATURE_KINDS, default="rank_gauss", help="feature set")
    p.add_argument("--seed", type=seed_value, default=0, help="seed of the folds")
    p.add_argument(
        "--cv-groups", choices=CV_GROUPS, default="drugs",
        help="drugs (default): refuse data without drug ids (train_drug.csv); rows: accept "
        "them with an optimistic row-grouped CV, labelled so in every output",
    )  # fmt: skip
    _cluster.add_cluster_options(p)
    p.set_defaults(func=main)


#: choices of ``--model``
MODELS = ("logistic", "knn", "blend")
#: what ``--out`` holds after a run (an existing --out with anything else is not replaced)
OUTPUT_FILES = ("model.json", "arrays.npz", "cv_metrics.json", "cv_labels.csv")


def load_split(data: str | None, split: str, device: str) -> Any:
    """Read one split of DATA (or of the embedded synthetic set when DATA is None)."""
    from gpu_moa import datasets, io

    path = Path(data) if data else datasets.default_data_dir(preset="full")
    return io.read_lish_moa(path, device=device, split=split)


def logistic_for(args: argparse.Namespace, cluster: Any, n_rows: int) -> Any:
    """The unfitted logistic model of ``args``: the Dask-partitioned one for ``--cluster`` or
    ``--partitions`` (partitions sized for ``n_rows`` rows), else the single-device one."""
    from gpu_moa.models import MultilabelLogistic

    if cluster is None and args.partitions is None:
        return MultilabelLogistic(C=args.C, tol=args.tol, random_state=args.seed)
    return dist.MultilabelLogistic(
        C=args.C, tol=args.tol, chunk_rows=_cluster.chunk_rows_for(n_rows, args, cluster)
    )


def cv_report(
    p: Any, *, model: Any, features: str, folds: int, seed: int, cv_groups: str = "drugs"
) -> tuple[dict, Any]:
    """Cross-validate ``model`` and the prior; return (metrics, per-label table)."""
    import pandas as pd

    from gpu_moa.metrics import drug_grouped_folds
    from gpu_moa.models import LabelPrior, cross_validate

    splits = drug_grouped_folds(p, n_splits=folds, random_state=seed, cv_groups=cv_groups)
    cv = cross_validate(model, p, folds=splits, features=features, cv_groups=cv_groups)
    prior = cross_validate(LabelPrior(), p, folds=splits, features="raw", cv_groups=cv_groups)
    metrics = {
        "folds": folds,
        "cv_groups": cv_groups,
        "fold_kind": cv_kind(cv_groups),
        "features": features,
        "log_loss": cv.log_loss,
        "fold_log_loss": cv.fold_log_loss,
        "prior_log_loss": prior.log_loss,
        "mean_auc": float(np.nanmean(cv.auc.to_numpy())),
        "C_per_fold": cv.C,
        "seconds_per_fold": cv.seconds,
    }
    table = pd.DataFrame(
        {"log_loss": cv.label_log_loss, "prior_log_loss": prior.label_log_loss, "auc": cv.auc}
    )
    return metrics, table


def estimator_for(args: argparse.Namespace, cluster: Any, n_rows: int) -> Any:
    """The unfitted model of ``args.model``: logistic (:func:`logistic_for`), kNN votes, or
    their blend with weights chosen on ``args.folds`` drug-grouped folds."""
    from gpu_moa.models import KnnVotes, MoaBlend

    if args.model == "knn":
        return KnnVotes()
    logistic = logistic_for(args, cluster, n_rows)
    if args.model == "logistic":
        return logistic
    return MoaBlend((logistic, KnnVotes()), cv=args.folds, random_state=args.seed)


def main(args: argparse.Namespace) -> int:
    """Run ``gpu-moa train``; returns the exit status."""
    on_cluster = args.cluster is not None or args.partitions is not None
    if args.C == "auto" and on_cluster:
        usage_error(
            "gpu-moa train: error: --C auto runs on a single device; choose C without --cluster "
            "(on a sample if need be) and pass the number with --C"
        )
    if args.model == "blend" and args.folds < 2:
        usage_error(
            "gpu-moa train: error: --model blend chooses its weights on out-of-fold predictions "
            "and needs --folds 2 or more; use --model logistic or knn to skip the CV"
        )
    if args.C is None:
        args.C = 0.01 if on_cluster else "auto"
    device = _backend.resolve_device(args.device)
    # the model directory is written whole: into a staging directory swapped in at the end
    with atomic_dir(args.out, replaceable=OUTPUT_FILES, what="--out") as args.stage:
        p = load_split(args.data, "train", device)
        where = str(p.uns.get("source", args.data))
        require_treated(p, where)
        cv_group_ids(p, args.cv_groups, where=where)
        with _cluster.cluster_from_args(args) as cluster:
            return fit_and_save(args, p, estimator_for(args, cluster, int((~p.is_control).sum())))


def fit_and_save(args: argparse.Namespace, p: Any, estimator: Any) -> int:
    """Cross-validate and fit ``estimator`` on ``p``, write the outputs; returns 0."""
    from gpu_moa.models import MoaBlend, train_model

    if isinstance(estimator, MoaBlend):
        return _fit_blend(args, p, estimator)
    out = Path(getattr(args, "stage", args.out))  # main's staging directory
    if args.folds == 1:
        print("gpu-moa train: note: 1 fold cannot cross-validate; no CV (use --folds 2 or more)")
    info: dict[str, Any] = {"data": str(p.uns.get("source", args.data)), "rows": p.n_obs}
    if args.folds > 1:
        metrics, table = cv_report(
            p,
            model=estimator,
            features=args.features,
            folds=args.folds,
            seed=args.seed,
            cv_groups=args.cv_groups,
        )
        info["cv"] = metrics
        with atomic_path(out / "cv_labels.csv") as tmp:
            table.to_csv(tmp, index_label="label")
        write_text_atomic(out / "cv_metrics.json", json.dumps(metrics, indent=2) + "\n")
        print(
            f"gpu-moa train: {args.folds}-fold {metrics['fold_kind']} CV log loss "
            f"{metrics['log_loss']:.5f} (label-frequency prior {metrics['prior_log_loss']:.5f}), mean AUC {metrics['mean_auc']:.3f}"
        )
    model = train_model(p, features=args.features, estimator=estimator)
    C = getattr(model.estimator, "C_", None)
    model.info = info | {"C": C}
    model.save(out)
    what = f"C={C:g}" if C is not None else args.model
    print(f"gpu-moa train: model ({what}, features={args.features}) saved to {args.out}/")
    return 0


def _fit_blend(args: argparse.Namespace, p: Any, estimator: Any) -> int:
    """Fit the blend (its OOF step is the CV), write the model and its OOF report; returns 0."""
    import pandas as pd

    from gpu_moa.models import train_model
    from gpu_moa.models._blend import blend_report

    out = Path(getattr(args, "stage", args.out))  # main's staging directory
    model = train_model(p, features=args.features, estimator=estimator)
    blend = model.estimator
    metrics, table = blend_report(blend, int((~p.is_control).sum()), p.n_obs)
    metrics |= {"folds": args.folds, "features": args.features}
    metrics |= {"cv_groups": args.cv_groups, "fold_kind": cv_kind(args.cv_groups)}
    metrics |= {
        f"{k}_C": m.C_
        for k, m in zip(blend.names_, blend.members_, strict=True)
        if hasattr(m, "C_")
    }
    table.index = pd.Index(p.label_names, name="label")
    model.info = {"data": str(p.uns.get("source", args.data)), "rows": p.n_obs, "cv": metrics}
    with atomic_path(out / "cv_labels.csv") as tmp:
        table.to_csv(tmp, index_label="label")
    write_text_atomic(out / "cv_metrics.json", json.dumps(metrics, indent=2) + "\n")
    model.save(out)
    members = ", ".join(f"{k} {metrics[k + '_log_loss']:.5f}" for k in blend.names_)
    weights = ", ".join(f"{k} {w:.3f}" for k, w in metrics["weights"].items())
    per_label = " (per label, shrunk towards these)" if metrics["per_label_weights"] else ""
    print(
        f"gpu-moa train: {args.folds}-fold {metrics['fold_kind']} CV log loss "
        f"{metrics['log_loss']:.5f} for the blend ({members}; label-frequency prior {metrics['prior_log_loss']:.5f}), "
        f"weights {weights}{per_label}, "
        f"clipped to [{metrics['clip'][0]:g}, {metrics['clip'][1]:.15g}]"
    )
    print(f"gpu-moa train: blend model (features={args.features}) saved to {args.out}/")
    return 0
