"""Feature annotation from the package data: Kaggle ``g-N``/``c-N`` ids, symbols, Entrez ids, CCLE names.

The competition's anonymized columns map to real identifiers (``gpu_moa/data/genes.csv``,
``cells.csv``). The annotated single-file layout names columns ``g-<SYMBOL>_<ENTREZ>`` and
``c-<N>-<CCLE_NAME>``; :func:`kaggle_name` maps those back to the Kaggle ids.
"""

from __future__ import annotations

import functools
import io
from collections.abc import Sequence
from importlib import resources

import numpy as np
import pandas as pd

from gpu_moa.profiles import Profiles


def _package_csv(name: str) -> pd.DataFrame:
    text = (resources.files("gpu_moa") / "data" / name).read_text(encoding="utf-8")
    return pd.read_csv(io.StringIO(text))


@functools.cache
def _reference() -> pd.DataFrame:
    """One row per Kaggle feature id: kind, symbol, entrez_id, ccle_name, annotated name."""
    genes = _package_csv("genes.csv").set_index("feature")
    cells = _package_csv("cells.csv").set_index("feature")
    gene_names = "g-" + genes["symbol"] + "_" + genes["entrez_id"].astype(str)
    cell_names = cells.index + "-" + cells["ccle_name"]
    ref = pd.concat(
        [
            pd.DataFrame(
                {
                    "kind": "gene",
                    "symbol": genes["symbol"],
                    "entrez_id": genes["entrez_id"].astype("Int64"),
                    "annotated": gene_names,
                }
            ),
            pd.DataFrame(
                {"kind": "cell", "ccle_name": cells["ccle_name"], "annotated": cell_names}
            ),
        ]
    )
    ref["entrez_id"] = ref["entrez_id"].astype("Int64")
    return ref


@functools.cache
def label_sets() -> dict[str, str]:
    """Map each lish-moa MoA label name to ``"scored"`` or ``"nonscored"`` (package data)."""
    labels = _package_csv("moa_labels.csv")
    return dict(zip(labels["label"], labels["set"], strict=True))


def annotated_name(feature: str) -> str:
    """The annotated-layout column name of a Kaggle feature id (unknown names are returned as is)."""
    ref = _reference()
    return str(ref.at[feature, "annotated"]) if feature in ref.index else feature


@functools.cache
def _kaggle_by_annotated() -> dict[str, str]:
    ref = _reference()
    return dict(zip(ref["annotated"], ref.index, strict=True))


def kaggle_name(feature: str) -> str:
    """The Kaggle id (``g-N``/``c-N``) of an annotated column name (unknown names returned as is)."""
    return _kaggle_by_annotated().get(feature, feature)


def feature_kind(names: Sequence[str]) -> np.ndarray:
    """``"cell"`` for names starting with ``c-``, else ``"gene"``."""
    return np.array(["cell" if str(n).startswith("c-") else "gene" for n in names], dtype=object)


def feature_var(names: Sequence[str]) -> pd.DataFrame:
    """The ``var`` table for feature names: kind, symbol, entrez_id, ccle_name from package data.

    Kaggle ids and annotated names are both recognised; other names get their kind from the
    ``g-``/``c-`` prefix and missing identifiers.
    """
    names = [str(n) for n in names]
    ref = _reference()
    keys = [kaggle_name(n) for n in names]
    found = ref.reindex(keys)
    var = pd.DataFrame(
        {
            "kind": np.where(found["kind"].isna(), feature_kind(names), found["kind"]),
            "symbol": found["symbol"].to_numpy(dtype=object),
            "entrez_id": found["entrez_id"].to_numpy(),
            "ccle_name": found["ccle_name"].to_numpy(dtype=object),
        },
        index=pd.Index(names, name="feature"),
    )
    var["kind"] = var["kind"].astype("str")
    var["symbol"] = var["symbol"].astype("str")
    var["ccle_name"] = var["ccle_name"].astype("str")
    var["entrez_id"] = pd.array(var["entrez_id"], dtype="Int64")
    return var


def annotate(p: Profiles) -> Profiles:
    """Fill ``symbol``, ``entrez_id`` and ``ccle_name`` of ``p.var`` from the package data.

    Parameters
    ----------
    p : Profiles
        Profiles whose features are Kaggle ids (``g-0``, ``c-0``) or annotated names
        (``g-AARS1_16``, ``c-0-HEYA8_OVARY``).

    Returns
    -------
    Profiles
        A new Profiles; features the package data knows get its identifiers, the others keep
        their existing values (or the kind implied by a ``g-``/``c-`` prefix); other ``var``
        columns are kept.
    """
    fresh = feature_var(p.var_names)
    known = np.isin([kaggle_name(n) for n in p.var_names], _reference().index)
    var = p.var.copy()
    for col in ("kind", "symbol", "entrez_id", "ccle_name"):
        keep = col in var and not known.all()
        var[col] = fresh[col].where(known, var[col]) if keep else fresh[col]
    var["entrez_id"] = pd.array(var["entrez_id"], dtype="Int64")
    for col in ("kind", "symbol", "ccle_name"):
        var[col] = var[col].astype("str")
    var.index.name = "feature"
    return p.replace(var=var)
