"""``gpu-moa match --annotate`` and self-exclusion on a real L1000 GCTX matched against itself."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

import gpu_moa as gm
from gpu_moa import cli

GCTX = Path(__file__).resolve().parents[2] / "shared/realdata/l1000_level5_modz_n272x978.gctx"


@pytest.fixture(scope="module")
def reference():
    if not GCTX.exists():
        pytest.skip(f"{GCTX} not present")
    return gm.io.read_gctx(GCTX, device="cpu")


def _match(tmp_path, *extra):
    out = tmp_path / "hits.csv"
    argv = ["match", str(GCTX), "-r", str(GCTX), "--k", "3", "--quiet", "--device", "cpu"]
    assert cli.main([*argv, *extra, "--out", str(out)]) == 0
    return pd.read_csv(out)


def test_self_match_excludes_own_signature_and_annotates(tmp_path, reference):
    hits = _match(tmp_path, "--keep-same-drug", "--annotate", "pert_iname,cell_id")
    assert (hits["query_sig_id"] != hits["ref_sig_id"]).all()  # never its own hit
    assert hits.groupby("query_sig_id")["rank"].apply(list).map([1, 2, 3].__eq__).all()
    assert len(hits) == 3 * reference.n_obs
    obs = reference.obs
    for col in ("pert_iname", "cell_id"):
        expect = obs.loc[hits["ref_sig_id"].astype(str), col].to_numpy()
        assert (hits[f"ref_{col}"].to_numpy() == expect).all()
    # the nearest other signatures are mostly the same compound in other cell lines
    same = hits["ref_pert_iname"] == obs.loc[hits["query_sig_id"], "pert_iname"].to_numpy()
    assert same[hits["rank"] == 1].mean() > 0.5


def test_default_leaves_the_whole_drug_out(tmp_path, reference):
    hits = _match(tmp_path, "--annotate", "pert_iname")
    own = reference.obs.loc[hits["query_sig_id"], "pert_id"].to_numpy()
    assert hits["ref_drug_id"].notna().all() and (hits["ref_drug_id"].to_numpy() != own).all()
    drug = _match(tmp_path, "--level", "drug", "--annotate", "pert_iname")
    names = reference.obs.groupby("pert_id")["pert_iname"].first()
    assert (drug["ref_pert_iname"].to_numpy() == names[drug["ref_drug_id"]].to_numpy()).all()


def test_annotate_unknown_column(tmp_path, reference, capsys):
    argv = ["match", str(GCTX), "-r", str(GCTX), "--quiet", "--device", "cpu"]
    assert cli.main([*argv, "--annotate", "moa", "--out", str(tmp_path / "h.csv")]) == 2
    assert "no column(s) ['moa']" in capsys.readouterr().err
