"""Report figures rendered in a helper process: the same PNG bytes, and a fallback that works."""

from __future__ import annotations

import logging
import os
import signal
import threading
import types

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

import gpu_moa as gm
from gpu_moa import _backend
from gpu_moa.pl import to_png
from gpu_moa.run import FigureProcess, RunContext, Section, _figure_process, _pipeline

#: this process's Ctrl-C handler before any helper started
SIGINT_HANDLER = signal.getsignal(signal.SIGINT)
#: the tests start the helper wherever it may run at all (the default wants 3 cores)
CORES = 2
pytestmark = pytest.mark.skipif(
    _backend.usable_cores() < CORES, reason=f"the tests' helper starts with {CORES}+ cores"
)


def _figure(seed: int) -> Figure:
    """A figure with points, text and a layout engine (built the same way for every seed)."""
    rng = np.random.default_rng(seed)
    fig = Figure(figsize=(4, 3), layout="constrained")
    ax = fig.subplots()
    ax.scatter(*rng.standard_normal((2, 500)), s=4, c=rng.random(500), cmap="viridis")
    ax.set_title(f"figure {seed}")
    ax.set_xlabel("PC1")
    return fig


class _ExitOnLoad:
    """Pickles fine; unpickling it ends the process that loads it (a helper that dies)."""

    def __reduce__(self):
        return os._exit, (3,)


@pytest.fixture(scope="module")
def helper():
    with FigureProcess(min_cores=CORES) as fp:
        yield fp


def test_helper_renders_the_bytes_the_figure_renders_to_here(helper):
    figures = [_figure(seed) for seed in range(3)]
    helper.submit(figures)
    # rendered over there, without an error
    assert all(helper._pending[id(fig)][1].exception(timeout=120) is None for fig in figures)
    got = [helper.png(fig) for fig in figures]
    # oracle: identical figures built and rendered in this process (a first render each)
    assert got == [to_png(_figure(seed)) for seed in range(3)]
    assert all(png.startswith(b"\x89PNG") for png in got)


def test_helper_leaves_ctrl_c_to_the_caller(helper):
    # the helper ignores SIGINT from its start (no traceback of its imports on Ctrl-C) ...
    disposition = helper._pool.submit(signal.getsignal, signal.SIGINT).result(timeout=120)
    assert disposition == signal.SIG_IGN
    # ... and this process has its own handler back
    assert signal.getsignal(signal.SIGINT) is SIGINT_HANDLER


def test_unpicklable_figure_renders_here(helper):
    fig = _figure(7)
    fig.lock = threading.Lock()  # a lock does not pickle
    helper.submit([fig])
    assert helper.png(fig) == to_png(_figure(7))


def test_figure_never_submitted_renders_here(helper):
    assert helper.png(_figure(8)) == to_png(_figure(8))


def test_helper_that_dies_leaves_the_figures_to_this_process(caplog):
    caplog.set_level(logging.INFO, logger="gpu_moa.run._figure_process")
    with FigureProcess(min_cores=CORES) as fp:
        bomb, after = _figure(4), _figure(5)
        bomb.exit_on_load = _ExitOnLoad()
        fp.submit([bomb])
        assert fp.png(bomb) == to_png(_figure(4))
        assert "after the helper failed" in caplog.text
        fp.submit([after])  # the pool is broken now: submitting renders nothing there
        assert fp.png(after) == to_png(_figure(5))


def test_fewer_cores_than_asked_start_no_helper(monkeypatch):
    monkeypatch.setattr(_backend, "usable_cores", lambda: 2)
    with FigureProcess() as fp:  # (the default asks for 3)
        fig = _figure(6)
        fp.submit([fig])
        assert fp._pool is None
        assert fp.png(fig) == to_png(_figure(6))


def test_no_processes_here_means_figures_render_here(monkeypatch):
    def unavailable(*args, **kwargs):
        raise ImportError("this platform lacks a functioning sem_open implementation")

    monkeypatch.setattr(_figure_process, "ProcessPoolExecutor", unavailable)
    with FigureProcess(min_cores=CORES) as fp:
        fig = _figure(9)
        fp.submit([fig])
        assert fp._pool is None
        assert fp.png(fig) == to_png(_figure(9))


def test_run_stages_submits_each_stage_figures_as_it_ends(monkeypatch, tmp_path):
    events = []

    def stage(name, n_figures):
        def run(ctx):
            events.append(("run", name))
            figs = [(f"{name} {i}", _figure(i)) for i in range(n_figures)]
            ctx.sections.append(Section(name, figures=figs))

        return types.SimpleNamespace(run=run)

    class Recorder:
        def submit(self, figures):
            events.append(("submit", [fig.axes[0].get_title() for fig in figures]))

    monkeypatch.setattr(_pipeline, "STAGES", {"a": stage("a", 2), "b": stage("b", 0)})
    obs = pd.DataFrame({"cp_type": ["trt_cp"] * 2}, index=pd.Index(["x", "y"], name="sig_id"))
    train = gm.make_profiles(np.zeros((2, 1)), obs, ["g-0"], device="cpu")
    ctx = RunContext(train=train, test=None, out=tmp_path, device="cpu", figure_process=Recorder())
    with gm.settings.override(progress=False):
        _pipeline.run_stages(ctx, ["a", "b"])
    assert events == [
        ("run", "a"),
        ("submit", ["figure 0", "figure 1"]),
        ("run", "b"),
        ("submit", []),
    ]
