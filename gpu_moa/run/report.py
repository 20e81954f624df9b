"""The HTML report of a run: one self-contained page, readable offline.

Figures are embedded as base64 PNG, tables as HTML; the page also lists the data summary, the
metrics, the backend (library and device) that served each step and the stage timings. Nothing
is fetched from the network: no scripts, fonts or style sheets from elsewhere.
"""

from __future__ import annotations

import base64
import datetime as _dt
import html
import json
import re
from pathlib import Path
from typing import Any

import pandas as pd

from gpu_moa import _backend
from gpu_moa._atomic import write_text_atomic
from gpu_moa.run._context import RunContext, Section

#: rows of a table shown in the page (the full tables are in tables/*.parquet)
MAX_TABLE_ROWS = 40

_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 0 auto;
       max-width: 1200px; padding: 1.5em; color: #222; line-height: 1.45; }
h1 { border-bottom: 3px solid #4a6fa5; padding-bottom: .3em; }
h2 { border-bottom: 1px solid #ccc; margin-top: 2em; }
nav ul { columns: 3; }
figure { margin: 1.2em 0; }
figure img { max-width: 100%; border: 1px solid #eee; }
figcaption { font-size: .9em; color: #555; }
table { border-collapse: collapse; font-size: .85em; margin: .6em 0 1.4em; }
th, td { border: 1px solid #ddd; padding: .25em .6em; text-align: right; }
th { background: #f0f3f8; }
td:first-child, th:first-child { text-align: left; }
.caption { font-weight: 600; margin-top: 1em; }
.meta { color: #555; }
"""


def _slug(text: str, used: set[str]) -> str:
    base = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "section"
    slug, i = base, 2
    while slug in used:
        slug, i = f"{base}-{i}", i + 1
    used.add(slug)
    return slug


def _figure_html(caption: str, fig: Any, figure_process: Any = None) -> str:
    from gpu_moa.pl import to_png

    png = to_png(fig) if figure_process is None else figure_process.png(fig)
    data = base64.b64encode(png).decode("ascii")
    cap = html.escape(caption)
    return (
        f'<figure><img alt="{cap}" src="data:image/png;base64,{data}">'
        f"<figcaption>{cap}</figcaption></figure>"
    )


def _table_html(
    caption: str, table: pd.DataFrame | pd.Series, max_rows: int | None = MAX_TABLE_ROWS
) -> str:
    frame = table.to_frame() if isinstance(table, pd.Series) else table
    note = ""
    if max_rows is not None and len(frame) > max_rows:
        note = f" (first {max_rows} of {len(frame):,} rows)"
        frame = frame.head(max_rows)
    body = frame.to_html(float_format=lambda v: f"{v:.4g}", border=0, na_rep="", escape=True)
    return f'<p class="caption">{html.escape(caption)}{note}</p>{body}'


def _flatten(obj: Any, prefix: str = "") -> dict[str, Any]:
    """Nested metrics as ``{"a.b.c": value}``; long lists are summarised."""
    if isinstance(obj, dict):
        out: dict[str, Any] = {}
        for key, value in obj.items():
            out.update(_flatten(value, f"{prefix}.{key}" if prefix else str(key)))
        return out
    if isinstance(obj, list | tuple) and len(obj) > 8:
        shown = ", ".join(map(str, obj[:8]))
        return {prefix: f"{shown}, ... ({len(obj)} in all)"}
    return {prefix: obj}


def _metrics_table(metrics: dict[str, Any]) -> pd.DataFrame:
    skip = {"backends", "timings_s"}
    flat = _flatten({k: v for k, v in metrics.items() if k not in skip})
    values = [json.dumps(v) if isinstance(v, list | tuple) else v for v in flat.values()]
    return pd.DataFrame({"value": [str(v) for v in values]}, index=pd.Index(flat, name="metric"))


def _backend_table(ctx: RunContext) -> pd.DataFrame:
    rows = ctx.metrics.get("backends")
    if rows is None:
        rows = [vars(r) for r in _backend.step_log()]
    frame = pd.DataFrame(rows, columns=["step", "backend", "device", "seconds", "note"])
    return frame.set_index("step")


def _section_html(section: Section, slug: str, figure_process: Any = None) -> str:
    parts = [f'<section id="{slug}"><h2>{html.escape(section.title)}</h2>']
    if section.text:
        parts.append(f"<p>{section.text}</p>")
    parts += [_figure_html(c, f, figure_process) for c, f in section.figures]
    parts += [_table_html(c, t) for c, t in section.tables]
    parts.append("</section>")
    return "\n".join(parts)


def render(ctx: RunContext) -> str:
    """The report page of a run as an HTML string (see :func:`build`)."""
    from gpu_moa import __version__

    used: set[str] = set()
    blocks: list[tuple[str, str, str]] = []  # (slug, title, html)
    for section in ctx.sections:
        slug = _slug(section.title, used)
        body = _section_html(section, slug, ctx.figure_process)
        blocks.append((slug, section.title, body))
    extra = [
        ("Metrics", _table_html("All metrics of the run", _metrics_table(ctx.metrics), None)),
        (
            "Backends",
            _table_html("Library and device behind each step", _backend_table(ctx), None),
        ),
    ]
    timings = pd.Series(ctx.timings, name="seconds", dtype=float)
    timings.index.name = "stage"
    if len(timings):
        timings["total"] = timings.sum()
    extra.append(("Timings", _table_html("Wall time per stage (s)", timings, None)))
    for title, body in extra:
        slug = _slug(title, used)
        blocks.append((slug, title, f'<section id="{slug}"><h2>{title}</h2>{body}</section>'))
    nav = "".join(f'<li><a href="#{s}">{html.escape(t)}</a></li>' for s, t, _ in blocks)
    stamp = _dt.datetime.now().strftime("%Y-%m-%d %H:%M")
    return "\n".join(
        [
            "<!DOCTYPE html>",
            '<html lang="en"><head><meta charset="utf-8">',
            '<meta name="viewport" content="width=device-width, initial-scale=1">',
            f"<title>gpu-moa report: {html.escape(ctx.source or 'run')}</title>",
            f"<style>{_CSS}</style></head><body>",
            "<h1>gpu-moa report</h1>",
            f'<p class="meta">Data: <code>{html.escape(ctx.source)}</code> &middot; device: '
            f"<b>{html.escape(ctx.device)}</b>{' (quick)' if ctx.quick else ''} &middot; seed "
            f"{ctx.random_state} &middot; gpu_moa {__version__} &middot; {stamp}</p>",
            f"<nav><ul>{nav}</ul></nav>",
            *[body for _, _, body in blocks],
            "</body></html>",
        ]
    )


def build(ctx: RunContext, path: str | Path) -> Path:
    """Write the self-contained HTML report of a run, atomically.

    Parameters
    ----------
    ctx : gpu_moa.run.RunContext
        The finished run: its sections (text, figures, tables), metrics (with ``backends`` and
        ``timings_s`` when :func:`gpu_moa.run.write_outputs` filled them), timings, source
        and device.
    path : str or Path
        Target file (its directory is created).

    Returns
    -------
    Path
        ``path``.
    """
    return write_text_atomic(path, render(ctx))
