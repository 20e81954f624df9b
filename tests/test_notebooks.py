"""Every notebook in notebooks/ runs top to bottom on the small preset (nbclient, python3 kernel)."""

from __future__ import annotations

from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

NOTEBOOKS = sorted((Path(__file__).parents[1] / "notebooks").glob("*.ipynb"))


def test_notebooks_exist():
    assert any(nb.name.startswith("01_") for nb in NOTEBOOKS)


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[nb.stem for nb in NOTEBOOKS])
def test_notebook_runs(path, tmp_path, monkeypatch):
    nb = nbformat.read(path, as_version=4)
    assert not any(c.get("outputs") for c in nb.cells if c.cell_type == "code"), (
        f"{path.name} is committed with outputs; clear them"
    )
    monkeypatch.setenv("GPU_MOA_NOTEBOOK_PRESET", "small")
    # the "python3" kernel spec resolves to the interpreter running the tests (the venv)
    client = nbclient.NotebookClient(
        nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    )
    client.execute()
    errors = [
        out
        for cell in nb.cells
        if cell.cell_type == "code"
        for out in cell.outputs
        if out.output_type == "error"
    ]
    assert not errors
    # a cell ending in a gm.pl call shows its figure
    for cell in nb.cells:
        lines = [ln for ln in cell.source.strip().splitlines() if ln.strip()]
        if cell.cell_type == "code" and lines and lines[-1].startswith("gm.pl."):
            assert any("image/png" in out.get("data", {}) for out in cell.outputs), cell.source
