"""Backends by name: how expctl reaches a beamline without importing it.

Backends are discovered from the ``expctl.backends`` entry-point group (the
simulator registers ``sim``) or handed in explicitly; the registry is an object
owned by the session, never a module-level table filled at import time.

The backends this distribution ships (``sim``, ``epics``) are reached by the names
its pyproject declares for them, without scanning every installed distribution's
metadata (importlib.metadata costs ~30 ms of start-up, and most of it is importing
email and csv); entry points are scanned only for a name that is not built in, or
to list every backend.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Protocol, runtime_checkable

from expctl.clock import Clock
from expctl.devices.profile import Profile, load_profile
from expctl.devices.protocols import Beamline
from expctl.errors import BackendError, ExpctlError, UserError, storage_error

__all__ = ["Backend", "BackendRegistry"]

ENTRY_POINT_GROUP = "expctl.backends"
#: the entry points this distribution declares (pyproject.toml; a test keeps them equal)
BUILTIN_BACKENDS = {"epics": "expctl.epics:EpicsBackend", "sim": "sim.backend:SimBackend"}


def _entry_points() -> list[tuple[str, str]]:
    """``(name, "module:attr")`` of every installed ``expctl.backends`` entry point."""
    from importlib.metadata import entry_points

    return [(ep.name, ep.value) for ep in entry_points(group=ENTRY_POINT_GROUP)]


def _load(target: str) -> Backend:
    """The backend an entry point's ``module:attr`` names, constructed."""
    module, _, attr = target.partition(":")
    factory = importlib.import_module(module)
    for part in attr.split("."):
        factory = getattr(factory, part)
    return factory()  # type: ignore[operator, no-any-return]


@runtime_checkable
class Backend(Protocol):
    """Builds connected beamlines from profiles."""

    name: str

    def profile_dirs(self) -> list[Path]:
        """Folders holding this backend's bundled profiles (``<name>.yaml``)."""
        ...

    def connect(self, profile: Profile, clock: Clock, *, data_dir: Path | None,
                seed: int | None = None) -> Beamline:
        """A beamline built from ``profile``; ``data_dir=None`` persists nothing."""
        ...


class BackendRegistry:
    """Finds backends and profiles.

    Args:
        backends: explicit backends by name; when omitted, entry points are used.
    """

    def __init__(self, backends: Mapping[str, Backend] | None = None) -> None:
        self._backends: dict[str, Backend] = dict(backends or {})
        self._discover = backends is None

    def names(self) -> list[str]:
        """Names of the known backends (scans the installed entry points)."""
        found = set(self._backends)
        if self._discover:
            found |= set(BUILTIN_BACKENDS) | {name for name, _ in _entry_points()}
        return sorted(found)

    def get(self, name: str) -> Backend:
        """The backend called ``name``, loading it on first use (a built-in one without
        scanning entry points)."""
        if name not in self._backends and self._discover:
            target = BUILTIN_BACKENDS.get(name) or dict(_entry_points()).get(name)
            if target is not None:
                self._backends[name] = _load(target)
        try:
            return self._backends[name]
        except KeyError:
            raise UserError(
                f"no backend called {name!r}", allowed=", ".join(self.names()) or "none installed"
            ) from None

    def find_profile(self, name_or_path: str | Path) -> Profile:
        """A profile by file path, or by name among the backends' bundled profiles.

        A profile naming a ``twin:`` is completed from it (found the same way), so an
        epics profile declares only its PVs (:func:`~expctl.devices.profile.inherit`).
        """
        return self._find(name_or_path, ())

    def _find(self, name_or_path: str | Path, chain: tuple[str, ...]) -> Profile:
        def twin(name: str) -> Profile:
            if name in chain or name == Path(name_or_path).stem:
                raise BackendError(f"beamline profiles name each other as twins: "
                                   f"{' -> '.join([*chain, str(name_or_path), name])}")
            return self._find(name, (*chain, str(name_or_path)))
        return load_profile(self._locate(name_or_path), twins=twin)

    def _locate(self, name_or_path: str | Path) -> Path:
        path = Path(name_or_path)
        if path.suffix in {".yaml", ".yml"} or path.exists():
            return path
        known: list[str] = []
        for names in self._search_order():
            for backend_name in names:
                for folder in self.get(backend_name).profile_dirs():
                    candidate = folder / f"{name_or_path}.yaml"
                    if candidate.is_file():
                        return candidate
                    known += [p.stem for p in sorted(folder.glob("*.yaml"))]
        raise UserError(f"no beamline profile called {name_or_path!r}",
                        allowed=", ".join(known) or "none")

    def _search_order(self) -> Iterator[list[str]]:
        """Backends whose profiles are searched: given and built-in ones first, the
        installed plugins (an entry-point scan) only if those lack the profile."""
        first = sorted({*self._backends, *(BUILTIN_BACKENDS if self._discover else ())})
        yield first
        yield [name for name in self.names() if name not in first]

    def connect(self, profile: Profile, clock: Clock, *, data_dir: Path | None,
                seed: int | None = None) -> Beamline:
        """Connect the backend the profile names.

        An OS error on the way (a read-only data directory, a full disk) is a
        :class:`~expctl.errors.StorageError` naming the file, not a bug.
        """
        backend = self.get(profile.backend)
        try:
            return backend.connect(profile, clock, data_dir=data_dir, seed=seed)
        except OSError as exc:
            if isinstance(exc, ExpctlError):
                raise
            raise storage_error(exc, f"connect {profile.name} (its facility archive)") from None
