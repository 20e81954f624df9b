"""The thin cuDF / cuML adapters, exercised with pandas and scikit-learn standing in.

cuDF and cuML cannot be installed here (their wheels are far larger than what reaches the GPU
machine), so each adapter's own code (argument mapping, conversions, fallbacks, the log of which
backend ran) is tested against stand-ins that mirror the signatures it calls:
``cudf.read_csv(...) -> frame with .to_pandas() / .to_cupy()``, ``cuml.PCA(...).fit(X)`` with
scikit-learn's fitted attributes, and ``cuml.UMAP(...).fit_transform(X)``.
"""

from __future__ import annotations

import types

import numpy as np
import pandas as pd
import pytest
from sklearn.decomposition import PCA

import gpu_moa as gm
from gpu_moa import _backend
from gpu_moa.io._cudf import read_csv_cudf


class _FakeCudfFrame(pd.DataFrame):
    """A pandas frame with cuDF's conversion methods (CuPy replaced by NumPy)."""

    @property
    def _constructor(self):
        return _FakeCudfFrame

    def to_pandas(self) -> pd.DataFrame:
        return pd.DataFrame(self)

    def to_cupy(self, dtype=None, na_value=None) -> np.ndarray:
        return self.to_numpy(dtype=dtype, na_value=na_value)


def _fake_cudf(fail: bool = False) -> types.ModuleType:
    mod = types.ModuleType("cudf")

    def read_csv(path, *, names, header, skiprows, sep, dtype):
        if fail:
            raise RuntimeError("cuDF parser error: unsupported compression")
        assert header is None and sep in (",", "\t")
        frame = pd.read_csv(path, names=names, header=None, skiprows=skiprows, sep=sep, dtype=dtype)
        return _FakeCudfFrame(frame)

    mod.read_csv = read_csv
    return mod


@pytest.fixture
def csv(tmp_path):
    path = tmp_path / "f.csv"
    path.write_text("sig_id,cp_type,g-0,g-1\nid_a,trt_cp,0.5,-1.25\nid_b,ctl_vehicle,2.0,\n")
    return path


def test_cudf_adapter_splits_metadata_and_block(csv, monkeypatch):
    monkeypatch.setattr(_backend, "import_cudf", lambda: _fake_cudf())
    _backend.clear_step_log()
    names = ["sig_id", "cp_type", "g-0", "g-1"]
    meta, block = read_csv_cudf(csv, names, ["g-0", "g-1"], delimiter=",", skip_rows=1)
    assert list(meta.columns) == ["sig_id", "cp_type"] and isinstance(meta, pd.DataFrame)
    assert meta["sig_id"].tolist() == ["id_a", "id_b"]
    assert block.dtype == np.float32
    np.testing.assert_array_equal(block, np.array([[0.5, -1.25], [2.0, np.nan]], np.float32))
    assert [(s.step, s.backend, s.device) for s in _backend.step_log()] == [
        ("read_csv", "cudf", "gpu")
    ]


def test_cudf_adapter_failure_falls_back_and_says_why(csv, monkeypatch):
    monkeypatch.setattr(_backend, "import_cudf", lambda: _fake_cudf(fail=True))
    _backend.clear_step_log()
    assert (
        read_csv_cudf(csv, ["sig_id", "cp_type", "g-0", "g-1"], ["g-0"], delimiter=",", skip_rows=1)
        is None
    )
    (record,) = _backend.step_log()
    assert record.backend == "pyarrow" and "unsupported compression" in record.note


def _fake_cuml(calls: list) -> types.ModuleType:
    mod = types.ModuleType("cuml")

    class CumlPCA(PCA):
        def __init__(self, n_components=None, output_type=None):
            calls.append(("PCA", n_components, output_type))
            super().__init__(n_components=n_components, svd_solver="full")
            self.output_type = output_type

    class CumlUMAP:
        def __init__(self, **params):
            calls.append(("UMAP", params))
            self.n_components = params["n_components"]

        def fit_transform(self, X):
            return np.asarray(X)[:, : self.n_components] * 2.0

    mod.PCA, mod.UMAP = CumlPCA, CumlUMAP
    return mod


@pytest.fixture
def on_fake_gpu(monkeypatch):
    """Host arrays taken for GPU arrays, with the fake cuML installed."""
    calls: list = []
    monkeypatch.setattr(_backend, "import_cuml", lambda: _fake_cuml(calls))
    monkeypatch.setattr(_backend, "has_cuml", lambda: True)
    monkeypatch.setattr(_backend, "device_of", lambda x: "gpu")
    return calls


def test_cuml_pca_adapter_equals_sklearn(rng, on_fake_gpu):
    X = rng.standard_normal((120, 9)).astype(np.float32) @ rng.standard_normal((9, 9)).astype(
        np.float32
    )
    fit = gm.tl.pca_fit(X, n_comps=4)  # auto: cuML, since the data "are on the GPU"
    assert fit.solver == "cuml"
    assert on_fake_gpu == [("PCA", 4, "cupy")]
    want = PCA(n_components=4, svd_solver="full").fit(X)
    np.testing.assert_allclose(
        fit.explained_variance_ratio_, want.explained_variance_ratio_, rtol=1e-4
    )
    np.testing.assert_allclose(
        np.abs(fit.components_), np.abs(want.components_.astype(np.float32)), atol=1e-4
    )


def test_cuml_umap_adapter_passes_parameters_and_logs(rng, on_fake_gpu):
    X = rng.standard_normal((40, 5)).astype(np.float32)
    p = gm.make_profiles(X, pd.DataFrame(index=[f"s{i}" for i in range(40)]), list("abcde"))
    _backend.clear_step_log()
    out = gm.tl.umap(p.replace(obsm={"X_pca": p.X}), n_neighbors=10, random_state=3)
    (call,) = on_fake_gpu
    assert call[0] == "UMAP" and call[1]["n_neighbors"] == 10 and call[1]["random_state"] == 3
    np.testing.assert_array_equal(out.obsm["X_umap"], X[:, :2] * 2.0)
    assert out.uns["umap"]["backend"] == "cuml"
    assert [s.backend for s in _backend.step_log() if s.step == "umap"] == ["cuml"]
