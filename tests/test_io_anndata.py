"""AnnData round trips (skipped where the optional anndata package is not installed)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import gpu_moa as gm


def test_missing_anndata_names_the_extra(monkeypatch, labelled_profiles, planted):
    import builtins

    real_import = builtins.__import__

    def no_anndata(name, *args, **kwargs):
        if name == "anndata":
            raise ImportError("No module named 'anndata'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_anndata)
    monkeypatch.delitem(__import__("sys").modules, "anndata", raising=False)
    X, Y, drug = planted(n=6, f=3, n_labels=2)
    with pytest.raises(ImportError, match=r"gpu_moa\[anndata\]"):
        labelled_profiles(X, Y, drug).to_anndata()


def test_h5ad_round_trip(tmp_path, labelled_profiles, planted):
    anndata = pytest.importorskip("anndata")
    X, Y, drug = planted(n=12, f=5, n_labels=3)
    p = labelled_profiles(X, Y, drug, controls=2)
    p = p.replace(obsm={"X_pca": p.xp.asarray(np.arange(24, dtype=np.float32).reshape(12, 2))})
    adata = p.to_anndata()
    assert isinstance(adata, anndata.AnnData) and adata.shape == (12, 5)
    assert list(adata.obsm["labels"].columns) == p.label_names
    path = gm.io.write_h5ad(p, tmp_path / "p.h5ad")
    q = gm.io.read_h5ad(path, device="cpu")
    np.testing.assert_allclose(gm.to_numpy(q.X), gm.to_numpy(p.X))
    np.testing.assert_array_equal(gm.to_numpy(q.Y), Y)
    assert q.label_names == p.label_names and list(q.obs.index) == list(p.obs.index)
    assert q.obs["drug_id"].tolist() == p.obs["drug_id"].tolist()
    assert q.is_control.tolist() == p.is_control.tolist()
    np.testing.assert_array_equal(gm.to_numpy(q.obsm["X_pca"]), gm.to_numpy(p.obsm["X_pca"]))


def test_foreign_anndata_sparse_and_errors(tmp_path):
    anndata = pytest.importorskip("anndata")
    from scipy import sparse

    dense = np.array([[0.0, 1.5], [2.0, 0.0], [0.0, 0.0]], dtype=np.float32)
    adata = anndata.AnnData(
        X=sparse.csr_matrix(dense),
        obs=pd.DataFrame({"Metadata_cpd": ["a", "a", "b"]}, index=["w1", "w2", "w3"]),
        var=pd.DataFrame(index=["Cells_A", "Cells_B"]),
    )
    p = gm.io.from_anndata(adata, device="cpu")
    np.testing.assert_array_equal(gm.to_numpy(p.X), dense)
    assert p.Y is None and p.var_names == ["Cells_A", "Cells_B"] and p.obs.index.name == "sig_id"
    adata.X = np.array([[np.nan, 1.0], [1.0, 2.0], [0.0, 1.0]], dtype=np.float32)
    adata.write_h5ad(tmp_path / "nan.h5ad")
    with pytest.raises(gm.DataError, match="NaN"):
        gm.io.read_h5ad(tmp_path / "nan.h5ad")
    with pytest.raises(gm.DataError, match="file not found"):
        gm.io.read_h5ad(tmp_path / "missing.h5ad")
