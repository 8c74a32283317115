"""The package's names are imported lazily: every one listed must resolve to its module's."""

from __future__ import annotations

import importlib

import expctl.analysis as analysis


def test_every_exported_name_resolves_to_the_submodule_object() -> None:
    for name in analysis.__all__:
        value = getattr(analysis, name)
        module = importlib.import_module(value.__module__) if hasattr(value, "__module__") \
            else None
        assert module is None or getattr(module, name, value) is value, name
