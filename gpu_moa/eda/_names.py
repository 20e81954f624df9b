"""Human-readable feature names (gene symbols, CCLE cell lines) and lookup by any of them.

A lish-moa feature has up to four names: the Kaggle id (``c-63``), the annotated column name
(``c-63-SNU886_LIVER``, ``g-CCNA2_890``), and its gene symbol (``CCNA2``) or CCLE cell line
(``SNU886_LIVER``) from ``var``. Tables and figures show the symbol / CCLE name where the data are
annotated; every function taking a feature accepts any of these names.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterator

import pandas as pd

from gpu_moa._validation import data_error
from gpu_moa.profiles import Profiles

_ANNOTATED_CELL = re.compile(r"^(c-\d+)-(.+)$")
_ANNOTATED_GENE = re.compile(r"^g-(.+)_(\d+)$")


def _present(value: object) -> bool:
    return isinstance(value, str) and value not in ("", "nan", "None", "<NA>")


def _rows(var: pd.DataFrame) -> Iterator[tuple[object, dict]]:
    """``(feature name, {column: value})`` per row of ``var`` (a dict per row: ``iterrows``
    builds a Series per row, 60 ms for the 872 lish-moa features)."""
    return zip(var.index, var.to_dict("records"), strict=True)


def display_names(var: pd.DataFrame) -> list[str]:
    """One readable name per feature: the gene symbol or CCLE name when known, else the id.

    Parameters
    ----------
    var : pandas.DataFrame
        ``Profiles.var`` (index = feature names; optional ``symbol``/``ccle_name``/``kind``).

    Returns
    -------
    list of str
    """
    out = []
    for name, row in _rows(var):
        kind = row.get("kind", "")
        preferred = row.get("ccle_name") if kind == "cell" else row.get("symbol")
        out.append(str(preferred) if _present(preferred) else str(name))
    return out


def _aliases(name: str, row: dict) -> set[str]:
    """Every name a feature answers to."""
    names = {name}
    kaggle = name
    if m := _ANNOTATED_CELL.match(name):
        kaggle = m.group(1)
        names |= {kaggle, m.group(2)}
    elif m := _ANNOTATED_GENE.match(name):
        names.add(m.group(1))
    for col in ("symbol", "ccle_name"):
        if _present(row.get(col)):
            names.add(str(row[col]))
    if _present(row.get("ccle_name")):
        names.add(f"{kaggle}-{row['ccle_name']}")
    if _present(row.get("symbol")) and _present(str(row.get("entrez_id", ""))):
        names.add(f"g-{row['symbol']}_{row['entrez_id']}")
    return names


def feature_position(p: Profiles, name: str, *, kind: str | None = None) -> int:
    """Column position of a feature given by any of its names (case-insensitive).

    Parameters
    ----------
    p : Profiles
    name : str
        ``"c-63"``, ``"SNU886_LIVER"``, ``"c-63-SNU886_LIVER"``, ``"g-0"``, ``"AARS1"``...
    kind : {"gene", "cell"}, optional
        Only consider features of this kind.

    Returns
    -------
    int

    Raises
    ------
    DataError
        When no feature (or more than one) answers to ``name``; the message lists close names.
    """
    wanted = name.casefold()
    hits, known = [], []
    for pos, (feature, row) in enumerate(_rows(p.var)):
        if kind is not None and row.get("kind") != kind:
            continue
        aliases = _aliases(str(feature), row)
        known += aliases
        if wanted in {a.casefold() for a in aliases}:
            hits.append(pos)
    what = f"{kind} feature" if kind else "feature"
    if len(hits) == 1:
        return hits[0]
    if hits:
        raise data_error(
            f"{what} {name!r}", f"matches {len(hits)} columns", "use the Kaggle id (e.g. c-63)"
        )
    close = difflib.get_close_matches(name, known, n=5)
    raise data_error(
        f"{what} {name!r}",
        "no such column in var" + (f" (close: {', '.join(close)})" if close else ""),
        "give a Kaggle id (c-63, g-0), an annotated name (c-63-SNU886_LIVER), a gene symbol or "
        "a CCLE name; p.var lists them",
    )


def long_name(p: Profiles, pos: int) -> str:
    """``c-63-SNU886_LIVER`` / ``g-0 (AARS1)`` style label of the feature at ``pos``."""
    feature = p.var_names[pos]
    short = display_names(p.var.iloc[[pos]])[0]
    if short == feature or short in feature:
        return feature
    return f"{feature}-{short}" if feature.startswith("c-") else f"{feature} ({short})"
