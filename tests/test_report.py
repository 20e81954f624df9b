"""The HTML report: self-contained, and rendered by a real headless Chromium."""

from __future__ import annotations

import re
import shutil
import subprocess

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

import gpu_moa as gm
from gpu_moa import _backend
from gpu_moa.run import RunContext, Section, report

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
#: the test's own probe: counts the images that decoded once the page has loaded
PROBE = (
    "<script>window.addEventListener('load', () => { const imgs = [...document.images];"
    " document.body.setAttribute('data-probe', imgs.length + ':' +"
    " imgs.filter(i => i.complete && i.naturalWidth > 0).length); });</script>"
)


def _figure(title, seed):
    fig = Figure(figsize=(4, 3))
    ax = fig.subplots()
    ax.plot(np.random.default_rng(seed).standard_normal(50).cumsum(), color="tab:red")
    ax.set_title(title)
    return fig


def _context(tmp_path):
    obs = pd.DataFrame({"cp_type": ["trt_cp"] * 4}, index=pd.Index(list("abcd"), name="sig_id"))
    train = gm.make_profiles(np.zeros((4, 2)), obs, ["g-0", "c-0"], device="cpu")
    ctx = RunContext(train=train, test=None, out=tmp_path, device="cpu", source="synthetic small")
    ctx.sections = [
        Section(
            "Data",
            "Loaded <b>4</b> rows.",
            tables=[("Overview", pd.DataFrame({"rows": [4]}, index=["train"]))],
        ),
        Section(
            "Exploratory analysis",
            figures=[("Walk one", _figure("one", 0)), ("Walk two", _figure("two", 1))],
            tables=[("Long table", pd.DataFrame({"x": np.arange(100)}))],
        ),
        Section("Embeddings", figures=[("Walk three", _figure("three", 2))]),
    ]
    ctx.metrics = {"data": {"train": {"rows": 4}}, "eda": {"top_gene": "CCNA2"}}
    ctx.timings = {"summary": 0.5, "eda": 1.25}
    _backend.clear_step_log()
    _backend.log_backend(
        "pca[covariance_eigh]", "numpy", note="data on the CPU: exact covariance-eigh"
    )
    return ctx


def test_report_is_self_contained(tmp_path):
    ctx = _context(tmp_path)
    path = report.build(ctx, tmp_path / "out" / "report.html")
    assert path == tmp_path / "out" / "report.html"
    text = path.read_text(encoding="utf-8")
    assert len(re.findall(r'<img [^>]*src="data:image/png;base64,', text)) == 3
    assert not re.search(r'(src|href)="(https?:)?//', text)
    assert "<link" not in text and "<script" not in text
    for title in ("Data", "Exploratory analysis", "Embeddings", "Metrics", "Backends", "Timings"):
        assert f"<h2>{title}</h2>" in text
    assert "first 40 of 100 rows" in text
    assert "eda.top_gene" in text and "CCNA2" in text
    assert "pca[covariance_eigh]" in text and "exact covariance-eigh" in text
    assert "1.75" in text  # the total of the timings
    assert [p.name for p in path.parent.iterdir()] == ["report.html"]


def test_failed_build_leaves_previous_report(tmp_path):
    ctx = _context(tmp_path)
    path = report.build(ctx, tmp_path / "report.html")
    before = path.read_bytes()
    ctx.sections.append(Section("Broken", figures=[("not a figure", object())]))
    with pytest.raises(AttributeError):
        report.build(ctx, path)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.html"]


def _chromium(args, tmp_path):
    cmd = [CHROMIUM, *CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'profile'}", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120)


@pytest.mark.browser
@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed")
def test_report_renders_in_chromium(tmp_path):
    ctx = _context(tmp_path)
    path = report.build(ctx, tmp_path / "report.html")
    probed = tmp_path / "probed.html"
    probed.write_text(path.read_text().replace("</body>", PROBE + "</body>"), encoding="utf-8")
    res = _chromium(["--virtual-time-budget=5000", "--dump-dom", probed.as_uri()], tmp_path)
    assert res.returncode == 0, res.stderr[-2000:]
    dom = res.stdout
    assert 'data-probe="3:3"' in dom, dom[:500]
    for title in ("Exploratory analysis", "Embeddings", "Backends", "Timings"):
        assert f"<h2>{title}</h2>" in dom

    shot = tmp_path / "shot.png"
    res = _chromium(["--window-size=1200,1600", f"--screenshot={shot}", path.as_uri()], tmp_path)
    assert res.returncode == 0 and shot.exists(), res.stderr[-2000:]
    from matplotlib.image import imread

    pixels = imread(shot)[..., :3]
    assert pixels.shape[:2] == (1600, 1200)
    ink = (pixels < 0.9).any(axis=2).mean()  # share of non-white pixels
    reds = ((pixels[..., 0] > 0.7) & (pixels[..., 1] < 0.35)).sum()  # the plotted lines
    assert ink > 0.01 and reds > 50


@pytest.fixture(scope="module")
def staged_run(small_lish_moa, tmp_path_factory):
    """The eda and embedding stages on the small preset, outputs written."""
    from gpu_moa import run

    out = tmp_path_factory.mktemp("run")
    ctx = RunContext(
        train=small_lish_moa, test=None, out=out, device="cpu", quick=True, source="small preset"
    )
    _backend.clear_step_log()
    with gm.settings.override(progress=False):
        run.run_stages(ctx, ("summary", "eda", "embedding"))
    run.write_outputs(ctx)
    return ctx


def test_stages_fill_the_run(staged_run):
    ctx = staged_run
    eda_metrics, emb = ctx.metrics["eda"], ctx.metrics["embedding"]
    assert len(eda_metrics["top_variance_genes"]) == 3
    assert (
        eda_metrics["replicates"]["median_corr"] > eda_metrics["replicates"]["median_corr_shuffled"]
    )
    assert emb["pca"]["solver"] == "covariance_eigh" and emb["umap"]["backend"] == "umap-learn"
    assert ctx.train.obsm["X_pca"].shape == (ctx.train.n_obs, 20)
    for name in (
        "label_frequencies",
        "feature_variance",
        "drug_ranks",
        "moa_enrichment",
        "control_vs_treatment",
        "replicate_reproducibility",
        "pca_variance",
    ):
        assert (ctx.out / "tables" / f"{name}.parquet").is_file(), name
    titles = [s.title for s in ctx.sections]
    for title in (
        "MoA labels",
        "Genes and cell lines",
        "Drug effects on cell lines",
        "Controls, treatments and replicates",
        "PCA",
        "UMAP",
    ):
        assert title in titles
    steps = {r["step"] for r in ctx.metrics["backends"]}
    assert {"pca[covariance_eigh]", "umap"} <= steps


@pytest.mark.browser
@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed")
def test_stage_report_renders_in_chromium(staged_run, tmp_path):
    text = (staged_run.out / "report.html").read_text(encoding="utf-8")
    n_images = len(re.findall(r"<img ", text))
    assert n_images >= 10
    probed = tmp_path / "probed.html"
    probed.write_text(text.replace("</body>", PROBE + "</body>"), encoding="utf-8")
    res = _chromium(["--virtual-time-budget=10000", "--dump-dom", probed.as_uri()], tmp_path)
    assert res.returncode == 0, res.stderr[-2000:]
    assert f'data-probe="{n_images}:{n_images}"' in res.stdout
    for title in ("Drug effects on cell lines", "PCA", "UMAP", "Backends"):
        assert f"<h2>{title}</h2>" in res.stdout
