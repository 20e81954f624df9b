"""What the stages of one ``gpu-moa run`` share: the :class:`RunContext` and report sections."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from gpu_moa.profiles import Profiles


@dataclass
class Section:
    """One part of the report: a title, prose (HTML allowed), figures and tables."""

    title: str
    text: str = ""
    figures: list[tuple[str, Any]] = field(default_factory=list)
    tables: list[tuple[str, pd.DataFrame]] = field(default_factory=list)


@dataclass
class RunContext:
    """State shared by the stages of one run."""

    train: Profiles
    test: Profiles | None
    out: Path
    device: str
    quick: bool = False
    random_state: int = 0
    #: "drugs" (honest drug-grouped CV) or "rows" (opted in: rows without a drug id are their
    #: own groups, and the baseline labels its CV as row-grouped and optimistic)
    cv_groups: str = "drugs"
    source: str = ""
    metrics: dict[str, Any] = field(default_factory=dict)
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    sections: list[Section] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    files: dict[str, Path] = field(default_factory=dict)
    #: similarity search replacing gm.tl.similarity_topk (the Dask one under --cluster), or None
    search: Any = None
    #: renders each stage's figures while the next stage runs
    #: (:class:`~gpu_moa.run._figure_process.FigureProcess`), or None: rendered at the end
    figure_process: Any = None
