"""The ``sim`` backend: entry point ``expctl.backends: sim = sim.backend:SimBackend``.

Importing this module must stay cheap: the registry imports it just to find
the profile folder (``find_profile("bl3")``), so the simulator itself (numpy
physics, devices, facility) is imported only in :meth:`SimBackend.connect` and
:func:`open_archive`.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from expctl.clock import Clock
    from expctl.devices.profile import Profile
    from sim.beamline import SimBeamline
    from sim.facility.archive import SimArchive

__all__ = ["PROFILE_DIR", "SimBackend", "open_archive"]

PROFILE_DIR = Path(__file__).resolve().parent / "profiles"


def open_archive(data_dir: Path) -> SimArchive:
    """Read the facility kept under ``<data_dir>/facility`` (another process may be writing)."""
    from expctl.paths import DataDir
    from sim.facility.archive import SimArchive
    from sim.facility.store import FacilityStore

    return SimArchive(FacilityStore(DataDir(data_dir).facility, create=False))


class SimBackend:
    """Builds simulated beamlines from profiles."""

    name = "sim"

    def profile_dirs(self) -> list[Path]:
        return [PROFILE_DIR]

    def connect(self, profile: Profile, clock: Clock, *, data_dir: Path | None,
                seed: int | None = None) -> SimBeamline:
        from sim.beamline import SimBeamline

        return SimBeamline(profile, clock, data_dir=data_dir, seed=seed)

    def open_archive(self, data_dir: Path) -> SimArchive:
        """The facility archive of ``data_dir``, read-only."""
        return open_archive(data_dir)

    def serve_ioc(self, profile: Profile, **options: Any) -> int:
        """Serve ``profile`` as an EPICS IOC until stopped (``expctl sim-ioc``); see
        :func:`sim.ioc.serve.serve` for the options."""
        from sim.ioc.serve import serve

        return serve(profile, **options)
