"""Making plain ``import dbpy, stpy, ippy`` resolve to expctl's facility API.

:func:`install` appends a finder to the *end* of ``sys.meta_path``: it answers
only for the top-level names ``dbpy``, ``stpy`` and ``ippy`` and only when no
other finder found them first, so on a facility machine the real modules still
win and nothing else imported is ever shadowed.  Nothing happens at import
time of :mod:`expctl.compat`; installing is an explicit call.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import sys
from pathlib import Path
from types import ModuleType

from expctl.compat.facility import DEFAULT_PROFILE, configure
from expctl.devices.registry import BackendRegistry

__all__ = ["ALIASES", "install", "installed", "uninstall"]

#: Facility module name -> the expctl module that stands in for it.
ALIASES: dict[str, str] = {
    "dbpy": "expctl.compat.dbpy",
    "stpy": "expctl.compat.stpy",
    "ippy": "expctl.compat.ippy",
}


class _AliasLoader(importlib.abc.Loader):
    """Hands out the already importable expctl module under the facility's name."""

    def __init__(self, target: str) -> None:
        self.target = target
        self._spec: importlib.machinery.ModuleSpec | None = None

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType:
        module = importlib.import_module(self.target)
        self._spec = module.__spec__
        return module

    def exec_module(self, module: ModuleType) -> None:
        # importlib stamped the alias spec on the module; keep the module's own.
        module.__spec__ = self._spec


class _CompatFinder(importlib.abc.MetaPathFinder):
    """Finds ``dbpy``/``stpy``/``ippy`` when nothing earlier on meta_path did."""

    def find_spec(self, fullname: str, path: object = None,
                  target: ModuleType | None = None) -> importlib.machinery.ModuleSpec | None:
        if path is None and fullname in ALIASES:
            return importlib.util.spec_from_loader(fullname, _AliasLoader(ALIASES[fullname]))
        return None


def _finder() -> _CompatFinder | None:
    return next((f for f in sys.meta_path if isinstance(f, _CompatFinder)), None)


def installed() -> bool:
    """Whether :func:`install` is in effect."""
    return _finder() is not None


def install(data_dir: Path | str | None = None, profile: str = DEFAULT_PROFILE,
            registry: BackendRegistry | None = None) -> None:
    """Let ``import dbpy, stpy, ippy`` find expctl's versions, reading ``data_dir``.

    Args:
        data_dir: data directory of the facility; ``EXPCTL_DATA_DIR`` or
            ``./expctl-data`` when omitted.
        profile: profile whose backend keeps the facility archive.
        registry: backend registry (entry-point discovery when omitted).
    """
    configure(data_dir, profile, registry)
    if not installed():
        sys.meta_path.append(_CompatFinder())


def uninstall() -> None:
    """Undo :func:`install`: drop the finder and the aliases it created."""
    finder = _finder()
    if finder is not None:
        sys.meta_path.remove(finder)
    for alias, target in ALIASES.items():
        module = sys.modules.get(alias)
        if module is not None and module is sys.modules.get(target):
            del sys.modules[alias]
