"""Simulated MPCCD detectors (single sensor and octal)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from expctl.devices.access import AccessLevel
from expctl.devices.deferred import DeferredReading
from expctl.devices.profile import DeviceSpec
from expctl.devices.protocols import SignalInfo
from expctl.devices.status import Status
from sim.physics.detector import DetectorModel

if TYPE_CHECKING:
    from sim.world import SimWorld, Window

__all__ = ["SimMPCCD"]

#: bound once (a classmethod looked up on its class makes a new bound method per read)
_deferred = DeferredReading.of


class SimMPCCD:
    """An MPCCD that integrates ``shots`` shots on trigger.

    Reads ``{name.roi0, name.roi1, name.nphot}``: means per shot (ROI sums in
    pedestal-subtracted ADU, photon counts) over the shots of the last trigger,
    computed when first looked at (:class:`~expctl.devices.deferred.DeferredReading`).
    """

    def __init__(self, spec: DeviceSpec, world: SimWorld, model: DetectorModel) -> None:
        self.name = spec.name
        self.units = spec.units or "ADU"
        self.access: AccessLevel = spec.access
        self.model = model
        self._world = world
        n = self.name
        self._signals = ((f"{n}.roi0", f"{n}/ROI_0_sum"), (f"{n}.roi1", f"{n}/ROI_1_sum"),
                         (f"{n}.nphot", f"{n}/photon_nPhot"))
        self._keys = tuple(signal for signal, _ in self._signals)
        self._compute = self._reading_of  # one bound method, not one per read

    def trigger(self, shots: int = 1) -> Status:
        return self._world.trigger(self.name, shots)

    def read(self) -> Mapping[str, Any]:
        return _deferred(self._keys, self._compute, self._world.latest_window())

    def _reading_of(self, window: Window) -> dict[str, Any]:
        mean = self._world.shots_of(window).mean
        return {signal: mean(column) for signal, column in self._signals}

    def describe(self) -> dict[str, SignalInfo]:
        n = self.name
        return {f"{n}.roi0": SignalInfo("ADU"), f"{n}.roi1": SignalInfo("ADU"),
                f"{n}.nphot": SignalInfo("counts")}
