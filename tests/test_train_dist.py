"""`gpu-moa train --cluster/--partitions`: the Dask-partitioned fit gives the single-device model,
saved as a plain MultilabelLogistic that loads and predicts without Dask."""

from __future__ import annotations

import argparse
import json

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

import gpu_moa as gm
from gpu_moa import cli
from gpu_moa.cli.train import logistic_for
from gpu_moa.models import MultilabelLogistic, TrainedModel

pytest.importorskip("distributed")

#: tight enough that both optimisers stop at the same optimum (the default 1e-4 leaves the
#: intercepts of labels with a handful of positives up to ~0.15 apart)
TOL = "1e-6"


@pytest.fixture(scope="module")
def models(small_lish_moa_dir, tmp_path_factory):
    """Model directories trained with 2-fold CV on one device and on a 3-partition LocalCluster."""
    out = tmp_path_factory.mktemp("train_dist")
    common = ["train", str(small_lish_moa_dir), "--folds", "2", "--tol", TOL, "--quiet"]
    common += ["--model", "logistic", "--C", "0.01"]  # the defaults are the blend and C auto
    assert cli.main([*common, "--out", str(out / "single")]) == 0
    dask_args = ["--cluster", "cpu", "--partitions", "3", "--out", str(out / "dask")]
    assert cli.main([*common, *dask_args]) == 0
    return out / "single", out / "dask"


def test_partitioned_model_equals_single_device(models, small_lish_moa_dir):
    single, dask = (TrainedModel.load(path) for path in models)
    assert type(dask.estimator) is MultilabelLogistic
    assert "chunk_rows" not in json.loads((models[1] / "model.json").read_text())["estimator"]
    np.testing.assert_allclose(dask.estimator.coef_, single.estimator.coef_, atol=1e-4)
    # the intercept of a label with a handful of positives sits in a flat valley of the loss:
    # the two optimisers stop up to a few 0.01 apart there (probabilities ~1e-4, still equal)
    np.testing.assert_allclose(dask.estimator.intercept_, single.estimator.intercept_, atol=5e-2)
    # the rows as the command read them (the CSVs hold rounded values)
    train = gm.io.read_lish_moa(small_lish_moa_dir, split="train", device="cpu")
    treated = gm.pp.drop_controls(train)
    np.testing.assert_allclose(dask.predict(treated), single.predict(treated), atol=1e-3)
    # independent oracle: scikit-learn on the model's own features, the most frequent label
    j = int(np.argmax(gm.to_numpy(treated.Y).sum(axis=0)))
    X = gm.to_numpy(dask.features.transform(treated)).astype(np.float64)
    oracle = LogisticRegression(C=0.01, tol=1e-10, max_iter=5000)
    oracle.fit(X, gm.to_numpy(treated.Y)[:, j])
    np.testing.assert_allclose(dask.estimator.coef_[j], oracle.coef_[0], atol=2e-4)
    np.testing.assert_allclose(dask.estimator.intercept_[j], oracle.intercept_[0], atol=2e-3)


def test_partitioned_cv_and_prediction(models, small_lish_moa_dir, tmp_path):
    single, dask = (json.loads((path / "cv_metrics.json").read_text()) for path in models)
    assert dask["log_loss"] == pytest.approx(single["log_loss"], rel=1e-4)
    assert dask["fold_log_loss"] == pytest.approx(single["fold_log_loss"], rel=1e-4)
    subs = []
    for path in models:
        out = tmp_path / f"{path.name}.csv"
        argv = ["predict", str(path), str(small_lish_moa_dir), "--out", str(out), "--quiet"]
        assert cli.main(argv) == 0
        subs.append(pd.read_csv(out, index_col="sig_id"))
    np.testing.assert_allclose(subs[1].to_numpy(), subs[0].to_numpy(), atol=1e-3)


def _args(**kw) -> argparse.Namespace:
    return argparse.Namespace(**({"C": 0.01, "tol": 1e-4, "seed": 0, "partitions": None} | kw))


def test_logistic_for_sizes_the_partitions():
    single = logistic_for(_args(), None, 1602)
    assert type(single) is MultilabelLogistic and single.get_params()["C"] == 0.01
    dask = logistic_for(_args(partitions=3), None, 1602)
    assert isinstance(dask, gm.dist.MultilabelLogistic) and dask.chunk_rows == 534


def test_auto_C_on_a_cluster_is_an_error(tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main(["train", "--out", str(tmp_path), "--C", "auto", "--partitions", "2"])
    assert exc.value.code == 2
    assert "--C auto runs on a single device" in capsys.readouterr().err


def test_train_model_estimator_hook(small_lish_moa):
    with pytest.raises(TypeError, match="to the estimator itself"):
        gm.models.train_model(small_lish_moa, C=0.1, estimator=MultilabelLogistic())
    with pytest.raises(TypeError, match="MultilabelLogistic"):
        gm.models.train_model(small_lish_moa, estimator=LogisticRegression())
