"""The main job behind ``gpu-moa run``: a sequence of stages sharing one :class:`RunContext`.

Each stage is a module in :mod:`gpu_moa.run.stages` with a ``run(ctx)`` function that adds metrics,
tables and report sections to the context. Outputs are written atomically at the end of the run
(``metrics.json``, ``summary.md``, ``tables/*.parquet``, ``report.html``, ``submission.csv``).
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from gpu_moa import _backend
from gpu_moa._atomic import atomic_path, write_text_atomic
from gpu_moa._settings import settings
from gpu_moa.run import report
from gpu_moa.run._context import RunContext
from gpu_moa.run.stages import baseline, connectivity, eda, embedding, matching, summary

#: stage modules in the order they run
STAGES: dict[str, ModuleType] = {
    "summary": summary,
    "eda": eda,
    "embedding": embedding,
    "matching": matching,
    "connectivity": connectivity,
    "baseline": baseline,
}


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, float) and not np.isfinite(obj):
        return None
    if isinstance(obj, Path):
        return str(obj)
    return obj


def run_stages(ctx: RunContext, stages: Sequence[str] = tuple(STAGES)) -> RunContext:
    """Run the named ``stages`` (keys of :data:`STAGES`) in order with a progress bar, timing each
    one; with ``ctx.figure_process`` each stage's figures start rendering as the stage ends."""
    bar = tqdm(stages, desc="gpu-moa run", unit="stage", disable=not settings.progress)
    for name in bar:
        bar.set_postfix_str(name)
        module = STAGES[name]
        start = time.perf_counter()
        done = len(ctx.sections)
        module.run(ctx)
        if ctx.figure_process is not None:
            ctx.figure_process.submit([f for s in ctx.sections[done:] for _, f in s.figures])
        ctx.timings[name] = round(time.perf_counter() - start, 3)
    return ctx


def write_outputs(ctx: RunContext) -> dict[str, Path]:
    """Write metrics.json, summary.md, tables and (when available) report.html atomically."""
    ctx.metrics["timings_s"] = dict(ctx.timings)
    ctx.metrics["backends"] = [
        {
            "step": s.step,
            "backend": s.backend,
            "device": s.device,
            "seconds": round(s.seconds, 4),
            "note": s.note,
        }
        for s in _backend.step_log()
    ]
    files = dict(ctx.files)
    files["metrics"] = write_text_atomic(
        ctx.out / "metrics.json", json.dumps(_jsonable(ctx.metrics), indent=2) + "\n"
    )
    for name, table in ctx.tables.items():
        path = ctx.out / "tables" / f"{name}.parquet"
        with atomic_path(path) as tmp:
            table.to_parquet(tmp)
        files[f"table:{name}"] = path
    files["summary"] = write_text_atomic(ctx.out / "summary.md", _markdown_summary(ctx))
    files["report"] = report.build(ctx, ctx.out / "report.html")
    ctx.files = files
    return files


def _markdown_summary(ctx: RunContext) -> str:
    lines = ["# gpu-moa run", "", f"- data: {ctx.source}", f"- device: {ctx.device}", ""]
    for section in ctx.sections:
        lines += [f"## {section.title}", ""]
        for caption, table in section.tables:
            lines += [
                f"**{caption}**",
                "",
                table.to_markdown() if _has_tabulate() else "```\n" + table.to_string() + "\n```",
                "",
            ]
    return "\n".join(lines)


def _has_tabulate() -> bool:
    try:
        import tabulate  # noqa: F401
    except ImportError:
        return False
    return True
