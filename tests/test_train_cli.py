"""Features, cross-validation, model files, `gpu-moa train` / `predict` and the baseline stage."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.preprocessing import QuantileTransformer

import gpu_moa as gm
from gpu_moa import cli
from gpu_moa.models import LabelPrior, MoaFeatures, MultilabelLogistic, TrainedModel


@pytest.fixture(scope="module")
def cv_pair(small_lish_moa):
    folds = gm.metrics.drug_grouped_folds(small_lish_moa, n_splits=3, random_state=0)
    with gm.settings.override(progress=False):
        prior = gm.models.cross_validate(LabelPrior(), small_lish_moa, folds=folds, features="raw")
        logistic = gm.models.cross_validate(
            MultilabelLogistic(C=0.01), small_lish_moa, folds=folds, features="rank_gauss"
        )
    return folds, prior, logistic


def test_rank_gauss_features_use_training_quantiles_only(small_lish_moa):
    train, other = small_lish_moa[np.arange(0, 1200)], small_lish_moa[np.arange(1200, 1738)]
    feats = MoaFeatures("rank_gauss", n_quantiles=100).fit(train)
    got = gm.to_numpy(feats.transform(other))
    qt = QuantileTransformer(n_quantiles=100, output_distribution="normal", subsample=None)
    qt.fit(gm.to_numpy(train.X).astype(np.float64))
    expected = qt.transform(gm.to_numpy(other.X).astype(np.float64))
    assert got.shape == (other.n_obs, 872 + 5) and got.dtype == np.float32
    assert np.abs(got[:, :872] - expected).max() < 1e-4
    one_hot = pd.DataFrame(got[:, 872:], columns=feats.feature_names_[872:])
    assert list(one_hot.columns) == [f"cp_time={t}" for t in (24, 48, 72)] + [
        "cp_dose=D1",
        "cp_dose=D2",
    ]
    assert np.array_equal(one_hot["cp_time=48"], (other.obs["cp_time"] == 48).to_numpy())


def test_feature_kinds_shapes_and_mismatch_error(small_lish_moa):
    raw = MoaFeatures("raw").fit_transform(small_lish_moa)
    assert np.array_equal(gm.to_numpy(raw)[:, :872], gm.to_numpy(small_lish_moa.X))
    pca = MoaFeatures("rank_gauss+pca", n_pca_genes=8, n_pca_cells=3).fit(small_lish_moa)
    assert pca.transform(small_lish_moa).shape == (small_lish_moa.n_obs, 872 + 8 + 3 + 5)
    with pytest.raises(gm.DataError, match="features"):
        pca.transform(small_lish_moa.select_vars(np.arange(10)))
    with pytest.raises(ValueError, match="features must be one of"):
        MoaFeatures("bogus")


def test_oof_log_loss_beats_prior_and_controls_are_zero(small_lish_moa, cv_pair):
    folds, prior, logistic = cv_pair
    assert logistic.log_loss < 0.95 * prior.log_loss
    assert len(logistic.fold_log_loss) == 3 and logistic.C == [0.01] * 3
    controls = (small_lish_moa.obs["cp_type"] == "ctl_vehicle").to_numpy()
    oof = logistic.oof.to_numpy()
    assert np.all(oof[controls] == 0) and np.all(oof[~controls] > 0)
    Y = gm.to_numpy(small_lish_moa.Y)
    assert logistic.log_loss == pytest.approx(gm.metrics.multilabel_log_loss(Y, oof))
    assert list(logistic.auc.index) == small_lish_moa.label_names
    assert np.nanmean(logistic.auc) > 0.55
    assert logistic.folds_table().shape == (3, 3)


def test_cross_validate_passes_drug_groups_to_auto_C(small_lish_moa, monkeypatch):
    from gpu_moa.models import _logistic

    seen = []

    def spy(X, Y, grid, *, groups=None, **kw):
        seen.append(groups)
        return choose(X, Y, grid, groups=groups, **kw)

    choose = _logistic.choose_C
    monkeypatch.setattr(_logistic, "choose_C", spy)
    folds = gm.metrics.drug_grouped_folds(small_lish_moa, n_splits=2, random_state=0)
    model = MultilabelLogistic(C="auto", C_grid=(0.003, 0.03), cv=2)
    with gm.settings.override(progress=False):
        res = gm.models.cross_validate(model, small_lish_moa, folds=folds, features="raw")
    assert len(res.C) == 2 and set(res.C) <= {0.003, 0.03}
    treated = small_lish_moa.obs["cp_type"] == "trt_cp"
    train_drugs = small_lish_moa.obs["drug_id"].to_numpy()[folds[0][0]][
        treated.to_numpy()[folds[0][0]]
    ]
    # the same drugs, whether passed as ids or as drug codes
    assert np.array_equal(pd.factorize(seen[0])[0], pd.factorize(train_drugs)[0])


def test_trained_model_round_trip(small_lish_moa, tmp_path):
    with gm.settings.override(progress=False):
        model = gm.models.train_model(small_lish_moa, C=0.01, features="rank_gauss+pca")
    model.save(tmp_path / "m")
    manifest = json.loads((tmp_path / "m" / "model.json").read_text())
    assert manifest["label_names"] == small_lish_moa.label_names
    with np.load(tmp_path / "m" / "arrays.npz", allow_pickle=False) as npz:
        assert npz["coef"].shape[0] == 206
    loaded = TrainedModel.load(tmp_path / "m")
    rows = small_lish_moa[np.arange(300)]
    pd.testing.assert_frame_equal(loaded.predict(rows), model.predict(rows))
    with pytest.raises(gm.DataError, match="not a gpu_moa model directory"):
        TrainedModel.load(tmp_path)


def test_train_and_predict_commands(small_lish_moa_dir, tmp_path, capsys):
    model_dir = tmp_path / "model"
    argv = ["train", str(small_lish_moa_dir), "--out", str(model_dir), "--folds", "2", "--quiet"]
    assert cli.main([*argv, "--device", "cpu"]) == 0
    assert "CV log loss" in capsys.readouterr().out
    metrics = json.loads((model_dir / "cv_metrics.json").read_text())
    assert metrics["log_loss"] < metrics["prior_log_loss"]
    # the default model is the blend; its OOF loss is at most its best member's (same folds)
    assert isinstance(TrainedModel.load(model_dir).estimator, gm.models.MoaBlend)
    assert metrics["log_loss"] <= min(metrics["logistic_log_loss"], metrics["knn_log_loss"]) + 1e-9
    assert set(metrics["weights"]) == {"logistic", "knn"} and metrics["logistic_C"] > 0
    labels = pd.read_csv(model_dir / "cv_labels.csv", index_col="label")
    assert list(labels.index) == TrainedModel.load(model_dir).label_names
    assert {"log_loss", "gain_vs_logistic", "gain_vs_knn"} <= set(labels.columns)
    sub_path = tmp_path / "sub.csv"
    assert (
        cli.main(
            ["predict", str(model_dir), str(small_lish_moa_dir), "--out", str(sub_path), "--quiet"]
        )
        == 0
    )
    sub = pd.read_csv(sub_path)
    test = gm.io.read_lish_moa(small_lish_moa_dir, split="test", device="cpu")
    assert list(sub.columns) == ["sig_id", *TrainedModel.load(model_dir).label_names]
    assert list(sub["sig_id"]) == list(test.sig_ids)
    controls = (test.obs["cp_type"] == "ctl_vehicle").to_numpy()
    values = sub.iloc[:, 1:].to_numpy()
    assert controls.any() and np.all(values[controls] == 0)
    assert np.all((values[~controls] > 0) & (values[~controls] < 1))
    expected = TrainedModel.load(model_dir).predict(test).to_numpy()
    np.testing.assert_allclose(values, expected, atol=1e-6)


@pytest.mark.parametrize("kind", ["logistic", "knn"])
def test_train_single_models_and_predict(kind, small_lish_moa_dir, tmp_path):
    model_dir, sub_path = tmp_path / "model", tmp_path / "sub.csv"
    argv = ["train", str(small_lish_moa_dir), "--out", str(model_dir), "--model", kind]
    assert cli.main([*argv, "--folds", "0", "--C", "0.01", "--quiet"]) == 0
    manifest = json.loads((model_dir / "model.json").read_text())
    assert manifest["estimator"]["kind"] == kind
    argv = ["predict", str(model_dir), str(small_lish_moa_dir), "--out", str(sub_path), "--quiet"]
    assert cli.main(argv) == 0
    test = gm.io.read_lish_moa(small_lish_moa_dir, split="test", device="cpu")
    values = pd.read_csv(sub_path, index_col="sig_id").to_numpy()
    np.testing.assert_allclose(values, TrainedModel.load(model_dir).predict(test), atol=1e-6)


def test_blend_needs_folds(tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main(["train", "--out", str(tmp_path), "--folds", "0", "--quiet"])
    assert exc.value.code == 2  # a usage error, as argparse's own
    assert "needs --folds 2 or more" in capsys.readouterr().err


def test_commands_report_bad_input(tmp_path, capsys):
    assert cli.main(["predict", str(tmp_path), "--out", str(tmp_path / "s.csv"), "--quiet"]) == 2
    assert "not a gpu_moa model directory" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli.main(["train", "--out", str(tmp_path), "--C", "-3"])


def test_baseline_stage(small_lish_moa, tmp_path):
    from gpu_moa import run
    from gpu_moa.run.stages import baseline

    test = gm.datasets.make_lish_moa(preset="small", split="test", random_state=0, device="cpu")
    ctx = run.RunContext(
        train=small_lish_moa, test=test, out=Path(tmp_path), device="cpu", quick=True
    )
    with gm.settings.override(progress=False):
        baseline.run(ctx)
    m = ctx.metrics["baseline"]
    assert m["logistic_log_loss"] < m["prior_log_loss"] and m["folds"] == 3
    assert m["blend_log_loss"] <= min(m["logistic_log_loss"], m["knn_log_loss"]) + 1e-9
    assert sum(m["weights"].values()) == pytest.approx(1.0)
    assert m["test_log_loss"] < 0.05
    assert ctx.files["submission"].is_file()
    labels = ctx.tables["baseline_labels"]
    assert labels.shape == (206, 8) and list(labels.index) == small_lish_moa.label_names
    assert labels["log_loss"].mean() == pytest.approx(m["blend_log_loss"])
    assert ctx.tables["baseline_folds"].shape == (3, 4)
    assert ctx.sections[-1].title == "Baseline models"
