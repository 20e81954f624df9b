"""Reliability: readers fed mutated lish-moa, GCT and Parquet files either load correctly or raise
a DataError; never another exception."""

from __future__ import annotations

import shutil
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import gpu_moa as gm

LATIN1_GCT = (
    b"#1.3\n2\t3\t1\t1\nid\tpr_gene_symbol\tS1\tS2\tS3\n"
    b"pert_idose\tna\t10 \xb5M\t5 \xb5M\t1 \xb5M\ng1\tA\xb5\t1\t2\t3\ng2\tB\t4\t5\t6\n"
)

#: fragments a hostile or damaged file may hold
TOKENS = [
    b"",
    b"\x00",
    b"\r",
    b"\r\n",
    b",",
    b"\t",
    b"nan",
    b"inf",
    b"1e39",
    b"-",
    b'"',
    b"\xff\xfe",
    b"\xb5",
    b"#1.3",
    b"PAR1",
]

MUTATION = st.one_of(
    st.tuples(st.just("truncate"), st.floats(0, 1)),
    st.tuples(st.just("replace"), st.floats(0, 1), st.sampled_from(TOKENS)),
    st.tuples(st.just("insert"), st.floats(0, 1), st.sampled_from(TOKENS)),
    st.tuples(st.just("delete"), st.floats(0, 1), st.integers(1, 64)),
    st.tuples(st.just("flip"), st.floats(0, 1), st.integers(1, 255)),
)


def mutate(data: bytes, mutations) -> bytes:
    for op, where, *arg in mutations:
        i = int(where * len(data))
        if op == "truncate":
            data = data[:i]
        elif op == "replace":
            data = data[:i] + arg[0] + data[i + len(arg[0]) :]
        elif op == "insert":
            data = data[:i] + arg[0] + data[i:]
        elif op == "delete":
            data = data[:i] + data[i + arg[0] :]
        elif data:
            i = min(i, len(data) - 1)
            data = data[:i] + bytes([data[i] ^ arg[0]]) + data[i + 1 :]
    return data


def check_loaded(p) -> None:
    """What a correct load guarantees."""
    X = gm.to_numpy(p.X)
    assert X.shape == (p.n_obs, p.n_vars) and X.dtype == np.float32
    assert np.isfinite(X).all()
    assert len(p.obs) == p.n_obs and len(p.var) == p.n_vars


def load_or_data_error(read) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            p = read()
        except gm.DataError:
            return
    check_loaded(p)


FUZZ = settings(
    max_examples=30,
    deadline=None,
    derandomize=True,  # the same examples on every run
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@pytest.fixture
def originals(tmp_path, tiny_lish_moa):
    """The intact files (read-only; shared by a test's examples): a tiny Kaggle directory, a
    Latin-1 GCT and a Parquet file."""
    train, test = tiny_lish_moa
    gm.io.write_lish_moa(train, tmp_path / "kaggle", test=test)
    (tmp_path / "latin1.gct").write_bytes(LATIN1_GCT)
    gm.io.write_parquet(train, tmp_path / "train.parquet")
    return tmp_path


def test_latin1_gct_metadata_reads_as_text(originals):
    p = gm.io.read(originals / "latin1.gct", device="cpu")
    assert p.obs["pert_idose"].tolist() == ["10 \u00b5M", "5 \u00b5M", "1 \u00b5M"]
    assert np.array_equal(gm.to_numpy(p.X), np.array([[1, 4], [2, 5], [3, 6]], dtype=np.float32))


@FUZZ
@given(
    mutations=st.lists(MUTATION, min_size=1, max_size=3),
    which=st.sampled_from(["train_features.csv", "train_targets_scored.csv", "train_drug.csv"]),
)
def test_mutated_lish_moa_directory(originals, tmp_path_factory, mutations, which):
    folder = tmp_path_factory.mktemp("fuzz_kaggle")
    shutil.copytree(originals / "kaggle", folder, dirs_exist_ok=True)
    path = folder / which
    path.write_bytes(mutate(path.read_bytes(), mutations))
    load_or_data_error(lambda: gm.io.read_lish_moa(folder, split="train", device="cpu"))


@FUZZ
@given(mutations=st.lists(MUTATION, min_size=1, max_size=3))
def test_mutated_gct(originals, tmp_path_factory, mutations):
    path = tmp_path_factory.mktemp("fuzz_gct") / "x.gct"
    path.write_bytes(mutate(LATIN1_GCT, mutations))
    load_or_data_error(lambda: gm.io.read_gct(path, device="cpu"))


@FUZZ
@given(mutations=st.lists(MUTATION, min_size=1, max_size=3))
def test_mutated_parquet(originals, tmp_path_factory, mutations):
    path = tmp_path_factory.mktemp("fuzz_parquet") / "x.parquet"
    path.write_bytes(mutate((originals / "train.parquet").read_bytes(), mutations))
    load_or_data_error(lambda: gm.io.read(path, device="cpu"))
