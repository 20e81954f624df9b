"""Reliability: damaged or unusual input files end in an exit-2 message naming the file, never a
traceback."""

from __future__ import annotations

import os
import struct
import zipfile

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import gpu_moa as gm
from gpu_moa import cli


@pytest.fixture
def kaggle(tmp_path, tiny_lish_moa):
    train, test = tiny_lish_moa
    gm.io.write_lish_moa(train, tmp_path / "data", test=test)
    return tmp_path / "data"


def validate(path, capsys) -> str:
    """Run ``gpu-moa validate PATH``, assert exit 2 and no traceback, return stderr."""
    assert cli.main(["validate", "--quiet", str(path)]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and "error:" in err
    return err


def _zip_with(path, data: bytes, *, flag: int = 0, method: int | None = None) -> None:
    """A one-member zip whose header flags (bit 0: encrypted) or method are patched."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as zf:
        zf.writestr("train_features.csv", data)
    raw = bytearray(path.read_bytes())
    for sig, off in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):  # local and central headers
        at = raw.index(sig)
        raw[at + off : at + off + 2] = struct.pack("<H", flag)
        if method is not None:
            raw[at + off + 2 : at + off + 4] = struct.pack("<H", method)
    path.write_bytes(bytes(raw))


def test_cr_only_line_endings(kaggle, capsys):
    f = kaggle / "train_features.csv"
    f.write_bytes(f.read_bytes().replace(b"\n", b"\r"))
    err = validate(kaggle, capsys)
    assert "train_features.csv" in err and "carriage return" in err


@pytest.mark.parametrize("patch", [{"flag": 1}, {"method": 99}])
def test_encrypted_or_unsupported_zip_member(kaggle, capsys, patch):
    f = kaggle / "train_features.csv"
    _zip_with(kaggle / "train_features.csv.zip", f.read_bytes(), **patch)
    f.unlink()
    err = validate(kaggle, capsys)
    assert "train_features.csv.zip" in err and "not a readable zip archive" in err


def test_directory_or_pipe_is_not_reported_missing(kaggle, capsys):
    f = kaggle / "train_features.csv"
    f.unlink()
    f.mkdir()
    assert "a directory, expected a CSV file" in validate(kaggle, capsys)
    f.rmdir()
    os.mkfifo(f)
    assert "not a regular file" in validate(kaggle, capsys)


@pytest.mark.parametrize("damage", ["truncated", "garbage"])
def test_truncated_or_garbage_parquet(tiny_lish_moa, tmp_path, capsys, damage):
    path = tmp_path / "x.parquet"
    gm.io.write_parquet(tiny_lish_moa[0], path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2] if damage == "truncated" else b"PAR1" + b"\x00" * 300)
    err = validate(path, capsys)
    assert str(path) in err


def test_foreign_parquet_with_text_in_a_feature_column(tmp_path, capsys):
    table = pd.DataFrame(
        {
            "sig_id": ["a", "b", "c"],
            "cp_type": ["trt_cp"] * 3,
            "cp_time": [24, 48, 72],
            "cp_dose": ["D1"] * 3,
            "g-0": [0.1, 0.2, 0.3],
            "g-1": ["1.0", "n/a", "2.0"],
        }
    )
    path = tmp_path / "foreign.parquet"
    pq.write_table(pa.Table.from_pandas(table, preserve_index=False), path)
    err = validate(path, capsys)
    assert "'g-1'" in err and "not numbers" in err


def test_csv_beside_its_zip_is_read_with_a_warning(kaggle):
    f = kaggle / "train_drug.csv"
    with zipfile.ZipFile(kaggle / "train_drug.csv.zip", "w") as zf:
        zf.writestr("train_drug.csv", "sig_id,drug_id\n")
    with pytest.warns(UserWarning, match="both train_drug.csv and train_drug.csv.zip exist"):
        p = gm.io.read_lish_moa(kaggle, split="train", device="cpu")
    assert p.obs["drug_id"].notna().all() and f.exists()
