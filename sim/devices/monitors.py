"""Beam monitors: the I0 photodiode behind its gain-switched amplifier, and beam status.

Both report values of shots, not of an instant: after a trigger, the mean over
the shots of that acquisition (so ``mpccd.roi0 / pd_i0`` normalises the same
shots); without one, the latest shot.  Like the detectors' readings, those
values are computed when first looked at.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from expctl.devices.access import AccessLevel
from expctl.devices.deferred import DeferredReading
from expctl.devices.profile import DeviceSpec
from expctl.devices.protocols import SignalInfo
from expctl.devices.status import Status

if TYPE_CHECKING:
    from sim.world import BeamShot, SimWorld, Window

__all__ = ["SimBeamMonitor", "SimPhotodiode", "SimTimingTool"]

#: bound once (a classmethod looked up on its class makes a new bound method per read)
_deferred = DeferredReading.of


class SimPhotodiode:
    """I0 monitor (pC).  Reads ``{name: mean charge, name.saturated: fraction at full scale}``."""

    def __init__(self, spec: DeviceSpec, world: SimWorld) -> None:
        self.name = spec.name
        self.units = spec.units or "pC"
        self.access: AccessLevel = spec.access
        self.equipment = spec.equipment
        self._world = world
        self._keys = (self.name, f"{self.name}.saturated")
        self._compute = self._reading_of  # one bound method, not one per read

    def trigger(self, shots: int = 1) -> Status:
        return self._world.trigger(self.name, shots)

    def read(self) -> Mapping[str, Any]:
        return _deferred(self._keys, self._compute, self._world.latest_window())

    def _reading_of(self, window: Window) -> dict[str, Any]:
        shots = self._world.shots_of(window)
        return {self.name: shots.mean("pd_i0"),
                f"{self.name}.saturated": shots.mean("_pd_saturated")}

    def describe(self) -> dict[str, SignalInfo]:
        return {self.name: SignalInfo(self.units, self.equipment),
                f"{self.name}.saturated": SignalInfo("")}


class SimBeamMonitor:
    """Accelerator beam status: ``{name: 1.0 or 0.0 now, name.pulse_energy: uJ}``.

    The status is known at once (a beam suspender polls it at every checkpoint);
    the pulse energy, the mean over the shots, is computed when looked at.
    """

    def __init__(self, spec: DeviceSpec, world: SimWorld) -> None:
        self.name = spec.name
        self.units = spec.units
        self.access: AccessLevel = spec.access
        self.equipment = spec.equipment
        self.pulse_energy_equipment = spec.options.get("pulse_energy_equipment")
        self._world = world
        self._energy_key = f"{self.name}.pulse_energy"
        self._keys = (self.name, self._energy_key)
        self._compute = self._energy_of  # one bound method, not one per read

    def read(self) -> Mapping[str, Any]:
        world = self._world
        return _deferred(self._keys, self._compute, world.latest_beam(),
                         {self.name: 1.0 if world.beam_on_now() else 0.0})

    def _energy_of(self, source: Window | BeamShot) -> dict[str, Any]:
        return {self._energy_key: self._world.pulse_energy(source)}

    def describe(self) -> dict[str, SignalInfo]:
        return {self.name: SignalInfo("", self.equipment),
                f"{self.name}.pulse_energy": SignalInfo("uJ", self.pulse_energy_equipment)}


class SimTimingTool:
    """Spectrally encoded timing tool: ``{name: mean correction (ps), name.amplitude,
    name.found: fraction of shots with an edge}`` over the shots of the last trigger
    (or the latest shot).  Per shot it is logged under ``tt/`` by the DAQ."""

    def __init__(self, spec: DeviceSpec, world: SimWorld) -> None:
        self.name = spec.name
        self.units = spec.units or "ps"
        self.access: AccessLevel = spec.access
        self.equipment = spec.equipment
        self._world = world

    def trigger(self, shots: int = 1) -> Status:
        return self._world.trigger(self.name, shots)

    def read(self) -> dict[str, float | str]:
        shots = self._world.latest_shots()
        corr = shots["tt/ttCorr"]
        found = ~np.isnan(corr)
        return {self.name: float(corr[found].mean()) if found.any() else float("nan"),
                f"{self.name}.amplitude": shots.mean("tt/AMPL"),
                f"{self.name}.found": float(found.mean())}

    def describe(self) -> dict[str, SignalInfo]:
        return {self.name: SignalInfo("ps", self.equipment),
                f"{self.name}.amplitude": SignalInfo(""),
                f"{self.name}.found": SignalInfo("")}
