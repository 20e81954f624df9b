"""Reliability: cross-validation without drug ids is refused unless opted in, then labelled."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

import gpu_moa as gm
from gpu_moa import cli
from gpu_moa.models import LabelPrior

TRAIN_FILES = ("train_features.csv", "train_targets_scored.csv", "train_drug.csv")


@pytest.fixture
def no_drug_dir(tmp_path, small_lish_moa_dir):
    """The small preset's training files without train_drug.csv."""
    data = tmp_path / "data"
    data.mkdir()
    for name in TRAIN_FILES[:2]:
        shutil.copy(small_lish_moa_dir / name, data / name)
    return data


def test_folds_and_cv_refuse_missing_or_empty_drug_ids(small_lish_moa):
    no_column = small_lish_moa.replace(obs=small_lish_moa.obs.drop(columns="drug_id"))
    treated = np.flatnonzero(~small_lish_moa.is_control)
    control = np.flatnonzero(small_lish_moa.is_control)[0]
    empty = small_lish_moa.obs.copy()
    empty.iloc[[*treated[[3, 7]], control], empty.columns.get_loc("drug_id")] = ""
    some_empty = small_lish_moa.replace(obs=empty)  # the control's empty id does not count
    cases = ((no_column, "no drug id column"), (some_empty, f"2 of {treated.size} treated rows"))
    for p, what in cases:
        with pytest.raises(gm.DataError, match="train_drug.csv") as err:
            gm.metrics.drug_grouped_folds(p, n_splits=2)
        assert what in str(err.value) and "cv_groups='rows'" in str(err.value)
        with pytest.raises(gm.DataError, match="cross_validate.*train_drug.csv"):
            gm.models.cross_validate(LabelPrior(), p, folds=[], features="raw")


def test_rows_opt_in_groups_known_drugs_and_isolates_unknown_rows(small_lish_moa):
    obs = small_lish_moa.obs.copy()
    obs.iloc[:5, obs.columns.get_loc("drug_id")] = ""
    p = small_lish_moa.replace(obs=obs)
    folds = gm.metrics.drug_grouped_folds(p, n_splits=3, cv_groups="rows")
    fold_of = np.empty(p.n_obs, dtype=int)
    for k, (_, valid) in enumerate(folds):
        fold_of[valid] = k
    # independent check: rows of a known small drug share one fold
    drugs = obs["drug_id"].to_numpy()
    sizes = obs["drug_id"].value_counts()
    for drug in sizes[(sizes <= 18) & (sizes.index != "")].index[:20]:
        assert len(set(fold_of[drugs == drug])) == 1
    with gm.settings.override(progress=False):
        res = gm.models.cross_validate(
            LabelPrior(), p, folds=folds, features="raw", cv_groups="rows"
        )
    assert np.isfinite(res.log_loss)
    with pytest.raises(gm.DataError, match="cv_groups='bogus'"):
        gm.metrics.drug_grouped_folds(p, cv_groups="bogus")


TRAIN = ["train", "--quiet", "--model", "logistic", "--C", "0.01", "--features", "raw"]


def test_train_cli_refuses_without_train_drug_then_labels_opt_in(no_drug_dir, tmp_path, capsys):
    out = tmp_path / "model"
    assert cli.main([*TRAIN, str(no_drug_dir), "--out", str(out), "--folds", "2"]) == 2
    err = capsys.readouterr().err
    assert "train_drug.csv" in err and "--cv-groups rows" in err and str(no_drug_dir) in err
    assert "Traceback" not in err and not out.exists()
    rc = cli.main(
        [*TRAIN, str(no_drug_dir), "--out", str(out), "--folds", "2", "--cv-groups", "rows"]
    )
    assert rc == 0
    printed = capsys.readouterr().out
    assert "row-grouped (optimistic" in printed and "drug-grouped" not in printed
    metrics = json.loads((out / "cv_metrics.json").read_text())
    assert metrics["cv_groups"] == "rows" and "optimistic" in metrics["fold_kind"]


def test_run_cli_refuses_without_train_drug(no_drug_dir, tmp_path, capsys):
    out = tmp_path / "run"
    assert cli.main(["run", "--quiet", str(no_drug_dir), "--out", str(out), "--quick"]) == 2
    err = capsys.readouterr().err
    assert "gpu-moa run" in err and "train_drug.csv" in err and "--cv-groups rows" in err
    assert "Traceback" not in err and not out.exists()


def test_max_splits_counts_whole_drugs_and_rows_of_large_ones():
    from gpu_moa.metrics._folds import max_splits

    assert max_splits(["a"] * 6 + ["b"] * 6 + ["c"] * 6) == 3
    assert max_splits(["a"] * 6 + ["big"] * 19) == 1  # one whole drug must fill every fold
    assert max_splits(["big"] * 19 + [None, None]) == 2  # unknown ids: groups of their own
    assert max_splits([]) == 0


def test_baseline_stage_adapts_its_folds_to_small_data(tiny_lish_moa, tmp_path):
    from gpu_moa.run.stages import baseline

    train = tiny_lish_moa[0]
    ctx = gm.run.RunContext(train=train, test=None, out=tmp_path, device="cpu")
    with gm.settings.override(progress=False):
        baseline.run(ctx)
    assert ctx.metrics["baseline"]["folds"] == 3  # 3 drugs: 3 folds, not the preset's
    obs = train.obs.assign(drug_id=["ctl0"] * 3 + ["drug0"] * 18)
    ctx = gm.run.RunContext(
        train=train.replace(obs=obs), test=None, out=tmp_path, device="cpu", quick=True
    )
    baseline.run(ctx)
    assert "baseline" not in ctx.metrics
    assert "1 drug group(s), too few for cross-validation" in ctx.sections[-1].text


@pytest.mark.parametrize("command", ["train", "run"])
def test_all_controls_is_refused_in_words(tiny_lish_moa, tmp_path, capsys, command):
    train, test = tiny_lish_moa
    controls = train[np.arange(3)]  # the 3 vehicle controls only
    gm.io.write_lish_moa(controls, tmp_path / "data", test=test)
    out = tmp_path / "out"
    assert cli.main([command, "--quiet", str(tmp_path / "data"), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "all 3 training rows are vehicle controls" in err and "shape" not in err
    assert "Traceback" not in err and not out.exists()


def test_run_adapts_to_data_too_small_for_its_defaults(tiny_lish_moa, tmp_path, capsys):
    # one control and two treated rows of two drugs: 2 folds, C fixed (no inner CV possible),
    # no replicates to compare and no MoA shared between drugs to find
    train, _ = tiny_lish_moa
    tiny = train[np.array([0, 3, 9])]
    gm.io.write_lish_moa(tiny, tmp_path / "data")
    out = tmp_path / "out"
    assert cli.main(["run", "--quiet", str(tmp_path / "data"), "--out", str(out)]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["baseline"]["folds"] == 2 and metrics["baseline"]["C"] == 0.01
    assert "Traceback" not in capsys.readouterr().err
