"""Habits: every public function of the public modules carries a numpydoc-style docstring."""

from __future__ import annotations

import inspect

import pytest

import gpu_moa as gm

MODULES = ["io", "pp", "tl", "pl", "models", "metrics", "datasets", "eda", "report", "dist"]


def _public(module):
    names = getattr(module, "__all__", None) or [n for n in dir(module) if not n.startswith("_")]
    for name in names:
        obj = getattr(module, name)
        if (inspect.isfunction(obj) or inspect.isclass(obj)) and obj.__module__.startswith(
            "gpu_moa"
        ):
            yield name, obj


@pytest.mark.parametrize("module_name", MODULES)
def test_public_functions_have_docstrings(module_name):
    module = getattr(gm, module_name)
    missing = [name for name, obj in _public(module) if not (obj.__doc__ or "").strip()]
    assert not missing, f"gm.{module_name}: public names without a docstring: {missing}"


@pytest.mark.parametrize("module_name", ["io", "pp", "tl", "metrics", "eda", "datasets"])
def test_functions_document_their_parameters(module_name):
    module = getattr(gm, module_name)
    undocumented = []
    for name, obj in _public(module):
        if not inspect.isfunction(obj):
            continue
        params = [
            p for p in inspect.signature(obj).parameters if p not in ("self", "args", "kwargs")
        ]
        doc = obj.__doc__ or ""
        if params and "Parameters" not in doc:
            undocumented.append(name)
    assert not undocumented, f"gm.{module_name}: no Parameters section in {undocumented}"
