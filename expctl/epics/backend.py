"""The ``epics`` backend: entry point ``expctl.backends: epics = expctl.epics:EpicsBackend``.

Importing this module stays cheap (the registry imports it to find profiles);
caproto and the device classes are imported in :meth:`EpicsBackend.connect`.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from expctl.devices.registry import BackendRegistry

if TYPE_CHECKING:
    from expctl.clock import Clock
    from expctl.devices.profile import Profile
    from expctl.epics.beamline import EpicsBeamline

__all__ = ["PROFILE_DIR", "EpicsBackend"]

PROFILE_DIR = Path(__file__).resolve().parent / "profiles"


class EpicsBackend:
    """Builds beamlines whose devices are EPICS PVs, from profiles that name them.

    Args:
        registry: where the simulated twin's profile and backend are found (dry-runs,
            estimates, the simulated IOC's archive); entry points by default.
    """

    name = "epics"

    def __init__(self, registry: BackendRegistry | None = None) -> None:
        self._registry = registry

    def registry(self) -> BackendRegistry:
        if self._registry is None:
            self._registry = BackendRegistry()
        return self._registry

    def profile_dirs(self) -> list[Path]:
        return [PROFILE_DIR]

    def connect(self, profile: Profile, clock: Clock, *, data_dir: Path | None,
                seed: int | None = None) -> EpicsBeamline:
        """Connect every PV of ``profile``; ``seed`` seeds the simulated twin only."""
        from expctl.epics.beamline import EpicsBeamline
        from expctl.epics.connect import connect_channels
        from expctl.epics.wiring import read_wiring

        if seed is not None:
            profile = profile.with_seed(int(seed))
        wiring = read_wiring(profile)
        channels = connect_channels(profile, wiring)
        try:
            return EpicsBeamline(profile, clock, wiring, channels, self.registry,
                                 data_dir=data_dir)
        except BaseException:
            channels.close()
            raise
