"""The package's layout: namespaces as subpackages, no import cycles, the public API kept."""

from __future__ import annotations

import ast
import importlib
import pkgutil
import re
from pathlib import Path

import pytest

import gpu_moa

PACKAGE = Path(gpu_moa.__file__).parent

#: every public name of gpu_moa 0.1 (before the layout change), by namespace; the CLI-only helpers
#: add_cluster_options, cluster_from_args, chunk_rows_for and search_from_args moved from gm.dist to
#: gpu_moa.cli._cluster
PUBLIC_0_1 = {
    "gpu_moa": (
        "BackendUnavailableError",
        "DataError",
        "Profiles",
        "datasets",
        "dist",
        "eda",
        "get_namespace",
        "has_gpu",
        "io",
        "make_profiles",
        "metrics",
        "models",
        "pl",
        "pp",
        "report",
        "resolve_xp",
        "settings",
        "tl",
        "to_device",
        "to_numpy",
    ),
    "io": (
        "annotate",
        "iter_gctx_chunks",
        "iter_parquet_chunks",
        "read_gct",
        "read_gctx",
        "read_lish_moa",
        "write_gct",
        "write_gctx",
        "write_lish_moa",
        "write_parquet",
        "write_submission",
    ),
    "pp": (
        "consensus",
        "drop_controls",
        "normalize",
        "rank_gauss",
        "rank_gauss_apply",
        "rank_gauss_fit",
        "scale",
    ),
    "tl": (
        "match",
        "pca",
        "pca_fit",
        "pca_transform",
        "predict_moa",
        "similarity",
        "similarity_topk",
        "umap",
    ),
    "pl": (
        "auc_histogram",
        "cell_variance",
        "control_vs_treatment",
        "cv_curve",
        "drug_ranks",
        "effective_moas",
        "embedding",
        "hit_rate_curve",
        "moa_frequencies",
        "neighbors",
        "pca",
        "replicate_reproducibility",
        "to_png",
        "top_variance",
        "umap",
    ),
    "models": (
        "CVResult",
        "DEFAULT_C_GRID",
        "FEATURE_KINDS",
        "LabelPrior",
        "MoaFeatures",
        "MultilabelLogistic",
        "TrainedModel",
        "cross_validate",
        "train_model",
    ),
    "metrics": (
        "drug_grouped_folds",
        "knn_hit_rate",
        "multilabel_log_loss",
        "per_label_auc",
        "per_label_log_loss",
        "precision_at_k",
        "retrieval_map",
    ),
    "datasets": (
        "PRESETS",
        "VERSION",
        "default_data_dir",
        "feature_table",
        "make_lish_moa",
        "write_synthetic",
    ),
    "eda": (
        "cell_variance_ranking",
        "control_vs_treatment",
        "display_names",
        "drug_moas",
        "drug_ranks",
        "effective_drugs",
        "feature_position",
        "feature_variance",
        "label_frequencies",
        "moa_enrichment",
        "replicate_reproducibility",
        "top_variance",
    ),
    "report": ("MAX_TABLE_ROWS", "build", "render"),
    "dist": (
        "Cluster",
        "Moments",
        "MultilabelLogistic",
        "cluster",
        "compute",
        "consensus",
        "fit_logistic",
        "moments",
        "normalize",
        "pca",
        "pca_fit",
        "similarity_topk",
        "similarity_topk_stream",
        "to_dask",
    ),
}


def _modules() -> dict[str, Path]:
    """Dotted name -> file of every module of the package."""
    out = {}
    for path in PACKAGE.rglob("*.py"):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


def _imports(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """gpu_moa modules imported anywhere in a module (also inside functions).

    ``from pkg import submodule`` depends on the submodule only: a package's ``__init__`` runs
    before any of its modules, so that implicit parent import cannot close a cycle by itself.
    """
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join(anchor + ([base] if base else []))
            subs = {f"{base}.{a.name}" for a in node.names}
            found |= subs
            if not subs <= set(modules):  # names defined in the package itself, not submodules
                found.add(base)
    return {m for m in found if m in modules and m != name}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_no_import_cycles():
    modules = _modules()
    graph = {name: _imports(name, path, modules) for name, path in modules.items()}
    assert sum(len(v) for v in graph.values()) > 100  # the walker sees the imports
    assert _cycles(graph) == []


def test_cycle_finder_finds_a_cycle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


@pytest.mark.parametrize("namespace", sorted(PUBLIC_0_1))
def test_public_names_of_0_1_still_importable(namespace):
    module = gpu_moa if namespace == "gpu_moa" else getattr(gpu_moa, namespace)
    missing = [n for n in PUBLIC_0_1[namespace] if not hasattr(module, n)]
    assert missing == []


def test_one_subpackage_per_namespace():
    root = sorted(p.name for p in PACKAGE.iterdir() if p.suffix == ".py")
    assert root == [
        "__init__.py",
        "_atomic.py",
        "_settings.py",
        "_validation.py",
        "profiles.py",
    ]
    for namespace in ("io", "pp", "tl", "pl", "eda", "metrics", "models", "dist", "datasets"):
        package = importlib.import_module(f"gpu_moa.{namespace}")
        assert Path(package.__file__).name == "__init__.py"
        assert sorted(package.__all__) == sorted(set(package.__all__))
        private = [m.name for m in pkgutil.iter_modules(package.__path__)]
        assert all(m.startswith("_") for m in private), (namespace, private)
    for pkg in ("_backend", "run", "cli"):
        assert (PACKAGE / pkg / "__init__.py").is_file()


def test_control_type_spelled_once():
    hits = []
    for path in PACKAGE.rglob("*.py"):
        for i, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if re.search(r"ctl_vehicle", line):
                hits.append(f"{path.relative_to(PACKAGE)}:{i}")
    assert [h.split(":")[0] for h in hits if "profiles.py" not in h] == []
