"""Which facility archive dbpy/stpy read, and how it is found.

The facility API consists of module-level functions (``dbpy.read_runinfo(bl,
run)``), so the archive they read has to be reachable without an argument.
This module keeps that one binding in a :class:`FacilityBinding` object: set it
explicitly with :func:`bind` (a session or a test), or let the first call open
the facility of the data directory through the backend registry — expctl never
imports the simulator itself.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from threading import Lock

from expctl.devices.protocols import FacilityArchive
from expctl.devices.registry import BackendRegistry
from expctl.errors import BackendError
from expctl.paths import default_data_dir

__all__ = [
    "DEFAULT_PROFILE",
    "FacilityBinding",
    "bind",
    "bound",
    "configure",
    "current_archive",
    "default_data_dir",
    "open_facility",
]

#: The profile whose backend serves the archive when nobody says otherwise.
DEFAULT_PROFILE = "bl3"


def open_facility(data_dir: Path | str | None = None, profile: str = DEFAULT_PROFILE,
                  registry: BackendRegistry | None = None) -> FacilityArchive:
    """Open the facility archive kept in ``data_dir`` by the backend of ``profile``.

    Args:
        data_dir: the data directory (the facility lives in its ``facility/``);
            defaults to :func:`default_data_dir`.
        profile: a profile name or path; only its backend matters here.
        registry: the backend registry; entry-point discovery when omitted.
    """
    registry = registry or BackendRegistry()
    found = registry.find_profile(profile)
    backend = registry.get(found.backend)
    opener: Callable[[Path], FacilityArchive] | None = getattr(backend, "open_archive", None)
    if opener is None:
        raise BackendError(f"backend {found.backend!r} keeps no facility archive to read",
                           hint="Use a backend that implements open_archive(data_dir).")
    return opener(Path(data_dir) if data_dir is not None else default_data_dir())


@dataclass
class _Source:
    data_dir: Path | None
    profile: str
    registry: BackendRegistry | None


class FacilityBinding:
    """The archive behind the module-level facility API, opened on first use."""

    def __init__(self) -> None:
        self._archive: FacilityArchive | None = None
        self._source = _Source(None, DEFAULT_PROFILE, None)
        self._lock = Lock()

    def configure(self, data_dir: Path | str | None = None, profile: str = DEFAULT_PROFILE,
                  registry: BackendRegistry | None = None) -> None:
        """Read the facility of ``data_dir`` from the next call on (opened lazily)."""
        with self._lock:
            self._archive = None
            self._source = _Source(Path(data_dir) if data_dir is not None else None,
                                   profile, registry)

    def bind(self, archive: FacilityArchive | None) -> FacilityArchive | None:
        """Use ``archive`` from now on (``None``: back to lazy opening); returns the old one."""
        with self._lock:
            old, self._archive = self._archive, archive
            return old

    def archive(self) -> FacilityArchive:
        """The bound archive, opening the configured facility the first time."""
        with self._lock:
            if self._archive is None:
                src = self._source
                self._archive = open_facility(src.data_dir, src.profile, src.registry)
            return self._archive


_BINDING = FacilityBinding()


def configure(data_dir: Path | str | None = None, profile: str = DEFAULT_PROFILE,
              registry: BackendRegistry | None = None) -> None:
    """Point dbpy/stpy at the facility in ``data_dir`` (opened on the next call)."""
    _BINDING.configure(data_dir, profile, registry)


def bind(archive: FacilityArchive | None) -> FacilityArchive | None:
    """Make dbpy/stpy read ``archive``; returns the previously bound one."""
    return _BINDING.bind(archive)


@contextmanager
def bound(archive: FacilityArchive) -> Iterator[FacilityArchive]:
    """Bind ``archive`` for the duration of a ``with`` block, then restore the old binding."""
    old = _BINDING.bind(archive)
    try:
        yield archive
    finally:
        _BINDING.bind(old)


def current_archive() -> FacilityArchive:
    """The archive dbpy/stpy read now."""
    return _BINDING.archive()
