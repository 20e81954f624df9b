"""Every documented bad input gives a DataError naming the file, the column or row, and the fix."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

import gpu_moa as gm
from gpu_moa.cli import main


@pytest.fixture
def kaggle(tmp_path, tiny_lish_moa):
    """A valid Kaggle directory of the tiny data set."""
    train, test = tiny_lish_moa
    gm.io.write_lish_moa(train, tmp_path / "data", test=test)
    return tmp_path / "data"


def edit_lines(path, change):
    """Rewrite a text file through ``change(list_of_lines) -> list_of_lines``."""
    lines = path.read_text().splitlines()
    path.write_text("\n".join(change(lines)) + "\n")


def set_field(path, line_no, column, value):
    """Replace one field (1-based line number, column name) of a CSV."""

    def change(lines):
        header = lines[0].split(",")
        fields = lines[line_no - 1].split(",")
        fields[header.index(column)] = value
        lines[line_no - 1] = ",".join(fields)
        return lines

    edit_lines(path, change)


def error_of(path, **kw) -> str:
    with pytest.raises(gm.DataError) as err:
        gm.io.read_lish_moa(path, device="cpu", **kw)
    msg = str(err.value)
    assert "Fix:" in msg
    return msg


def test_missing_file(kaggle):
    (kaggle / "train_targets_scored.csv").unlink()
    msg = error_of(kaggle)
    assert "train_targets_scored.csv" in msg and "not found" in msg
    assert "no such file" in error_of(kaggle.parent / "nowhere")


def test_missing_required_column(kaggle):
    edit_lines(
        kaggle / "train_features.csv",
        lambda ls: [",".join(x.split(",")[:3] + x.split(",")[4:]) for x in ls],
    )
    msg = error_of(kaggle)
    assert "train_features.csv" in msg and "'cp_dose'" in msg and "missing required column" in msg


def test_no_feature_columns(kaggle):
    edit_lines(
        kaggle / "train_features.csv",
        lambda ls: [ls[0].replace("g-", "x-").replace("c-", "y-"), *ls[1:]],
    )
    msg = error_of(kaggle)
    assert "train_features.csv" in msg and "no feature columns" in msg and "'g-'" in msg


def test_non_numeric_feature(kaggle):
    set_field(kaggle / "train_features.csv", 6, "g-2", "abc")
    msg = error_of(kaggle)
    assert "train_features.csv" in msg and "'g-2'" in msg and "line 6" in msg and "'abc'" in msg


@pytest.mark.parametrize("value,word", [("nan", "NaN"), ("inf", "infinite"), ("", "NaN")])
def test_nan_or_inf_feature(kaggle, value, word):
    set_field(kaggle / "train_features.csv", 4, "c-1", value)
    msg = error_of(kaggle)
    assert "train_features.csv" in msg and "'c-1'" in msg and "'id_00002'" in msg and word in msg


def test_duplicate_sig_id(kaggle):
    set_field(kaggle / "train_features.csv", 5, "sig_id", "id_00001")
    msg = error_of(kaggle)
    assert "train_features.csv" in msg and "duplicate sig_id" in msg and "'id_00001'" in msg


def test_targets_with_missing_rows(kaggle):
    edit_lines(kaggle / "train_targets_scored.csv", lambda ls: ls[:-1])
    msg = error_of(kaggle)
    assert "train_targets_scored.csv" in msg and "missing" in msg and "'id_00020'" in msg


def test_targets_with_extra_rows(kaggle):
    set_field(kaggle / "train_targets_nonscored.csv", 3, "sig_id", "id_stranger")
    msg = error_of(kaggle)
    assert "train_targets_nonscored.csv" in msg and "'id_stranger'" in msg and "not in" in msg


@pytest.mark.parametrize("value", ["2", "0.5", "", "-1"])
def test_non_binary_label(kaggle, tiny_lish_moa, value):
    train, _ = tiny_lish_moa
    label = train.label_names[1]
    set_field(kaggle / "train_targets_scored.csv", 9, label, value)
    msg = error_of(kaggle)
    assert "train_targets_scored.csv" in msg and repr(label) in msg and "'id_00007'" in msg
    assert "non-binary" in msg


@pytest.mark.parametrize(
    "column,value", [("cp_type", "trt_xx"), ("cp_time", "36"), ("cp_dose", "D3")]
)
def test_unknown_categorical_value(kaggle, column, value):
    set_field(kaggle / "train_features.csv", 7, column, value)
    msg = error_of(kaggle)
    assert "train_features.csv" in msg and repr(column) in msg and repr(value) in msg
    assert "line 7" in msg


def test_empty_file(kaggle):
    (kaggle / "train_drug.csv").write_bytes(b"")
    msg = error_of(kaggle)
    assert "train_drug.csv" in msg and "empty" in msg


def test_header_only_file(kaggle):
    edit_lines(kaggle / "test_features.csv", lambda ls: ls[:1])
    msg = error_of(kaggle, split="test")
    assert "test_features.csv" in msg and "no data rows" in msg


def test_ragged_row(kaggle):
    edit_lines(kaggle / "train_features.csv", lambda ls: [*ls[:8], ls[8] + ",1.0", *ls[9:]])
    msg = error_of(kaggle)
    assert "train_features.csv" in msg and "line 9" in msg and "ragged" in msg


def test_truncated_file(kaggle):
    text = (kaggle / "train_features.csv").read_bytes()
    (kaggle / "train_features.csv").write_bytes(text[: len(text) - 40])
    msg = error_of(kaggle)
    assert "train_features.csv" in msg and "line 22" in msg and "truncated" in msg


def test_bad_training_flag_in_annotated_csv(tmp_path, tiny_lish_moa):
    train, _ = tiny_lish_moa
    path = gm.io.write_lish_moa(train, tmp_path, layout="annotated")["lish_moa_annotated"]
    set_field(path, 3, "training", "maybe")
    msg = error_of(path)
    assert "'training'" in msg and "'maybe'" in msg


def write_gct_text(path, dims, body_rows):
    lines = ["#1.3", "\t".join(map(str, dims)), "id\tsymbol\ts1\ts2\ts3", "pert\tna\ta\tb\tc"]
    path.write_text("\n".join(lines + body_rows) + "\n")


@pytest.mark.parametrize(
    "dims,expect",
    [
        ((2, 4, 1, 1), "line 3 has 5 fields"),
        ((3, 3, 1, 1), "announces 3 data rows but the body has 2"),
    ],
)
def test_gct_header_dimensions_mismatch(tmp_path, dims, expect):
    write_gct_text(tmp_path / "a.gct", dims, ["g1\tA\t1\t2\t3", "g2\tB\t4\t5\t6"])
    with pytest.raises(gm.DataError) as err:
        gm.io.read_gct(tmp_path / "a.gct", device="cpu")
    msg = str(err.value)
    assert "a.gct" in msg and expect in msg and "header" in msg and "Fix:" in msg


def test_gct_ragged_body_row(tmp_path):
    write_gct_text(tmp_path / "a.gct", (2, 3, 1, 1), ["g1\tA\t1\t2\t3", "g2\tB\t4\t5"])
    with pytest.raises(gm.DataError, match=r"a.gct, line 6.*truncated"):
        gm.io.read_gct(tmp_path / "a.gct", device="cpu")


def test_hdf5_without_gctx_datasets(tmp_path):
    with h5py.File(tmp_path / "x.gctx", "w") as f:
        f.create_dataset("/data", data=np.zeros((2, 2)))
    with pytest.raises(gm.DataError) as err:
        gm.io.read_gctx(tmp_path / "x.gctx", device="cpu")
    msg = str(err.value)
    assert "x.gctx" in msg and "/0/DATA/0/matrix" in msg and "Fix:" in msg


def test_gctx_unknown_cid(tmp_path, tiny_lish_moa):
    train, _ = tiny_lish_moa
    gm.io.write_gctx(train, tmp_path / "t.gctx")
    with pytest.raises(gm.DataError, match="'nope'"):
        gm.io.read_gctx(tmp_path / "t.gctx", cid=["id_00001", "nope"], device="cpu")


def test_cli_validate_ok(kaggle, capsys):
    assert main(["validate", str(kaggle), "--quiet", "--device", "cpu"]) == 0
    out = capsys.readouterr().out
    assert "valid" in out and "21 train + 6 test" in out and "controls: 3" in out
    assert "drugs: 4" in out and "labels: 4 scored" in out and "9 (6 genes, 3 cells)" in out


def test_cli_validate_error_exits_2(kaggle, capsys):
    set_field(kaggle / "train_features.csv", 4, "cp_dose", "D9")
    assert main(["validate", str(kaggle), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "'D9'" in err and "train_features.csv" in err and "Traceback" not in err


def test_cli_validate_gctx(tmp_path, tiny_lish_moa, capsys):
    gm.io.write_gctx(tiny_lish_moa[0], tmp_path / "t.gctx")
    assert main(["validate", str(tmp_path / "t.gctx"), "--quiet"]) == 0
    assert "rows: 21 train" in capsys.readouterr().out


def test_single_kaggle_file_instead_of_directory(kaggle):
    msg = error_of(kaggle / "train_features.csv")
    assert "train_features.csv" in msg and "pass the directory" in msg


def test_annotated_error_names_the_file_line(tmp_path, tiny_lish_moa):
    train, test = tiny_lish_moa
    path = gm.io.write_lish_moa(train, tmp_path, test=test, layout="annotated")[
        "lish_moa_annotated"
    ]
    set_field(path, 25, "cp_time", "12")
    msg = error_of(path, split="test")
    assert "line 25" in msg and "'cp_time'" in msg and "'12'" in msg
