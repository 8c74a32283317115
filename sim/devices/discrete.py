"""Devices with discrete values: shutters, amplifier gains, attenuator foils.

A change takes ``transit`` seconds (profile option) and takes effect at its
end; the device's :attr:`~SimDiscrete.command` (a :class:`~sim.devices.step.Step` of
choice indices) answers for any shot time since the last command, which is what
the vectorised shot model and the facility's state time line need.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from expctl.devices.access import AccessLevel
from expctl.devices.profile import DeviceSpec
from expctl.devices.protocols import SignalInfo
from expctl.devices.status import Status
from expctl.errors import BackendError, DeviceTimeoutError
from sim.devices.step import Step
from sim.physics.attenuation import Attenuation, foil_sums

if TYPE_CHECKING:
    from sim.world import SimWorld

__all__ = ["SimAttenuator", "SimDiscrete", "SimSwitch"]


class SimDiscrete:
    """A device that takes one of ``limits.choices`` after a transit time."""

    def __init__(self, spec: DeviceSpec, world: SimWorld) -> None:
        if spec.limits.choices is None:
            raise BackendError(f"device {spec.name!r} ({spec.kind}) needs 'choices'")
        self.name = spec.name
        self.units = spec.units
        self.limits = spec.limits
        self.access: AccessLevel = spec.access
        self.safe_value = spec.safe
        self.equipment = spec.equipment
        self.choices: tuple[Any, ...] = tuple(spec.limits.choices)
        self.transit = float(spec.options.get("transit", 0.0))
        self._world = world
        table = dict(spec.options.get("sync_values", {}) or {})
        self._recorded = np.asarray([float(table.get(c, i)) for i, c in enumerate(self.choices)])
        initial = spec.options.get("initial", self.choices[0])
        index = self.choices.index(initial)
        self._step = Step(index, index, 0.0)

    @property
    def command(self) -> Step:
        """The last change of choice index (what the shot model and the time line sample)."""
        return self._step

    @property
    def recorded_table(self) -> np.ndarray:
        """What the sync DB records for each choice index."""
        return self._recorded

    @property
    def value(self) -> Any:
        return self.choices[int(self._step.value(self._world.clock.now()))]

    def check_value(self, value: float | str) -> None:
        self.limits.check(self.name, value)

    def set(self, value: float | str) -> Status:
        self.check_value(value)
        world = self._world
        now = world.clock.now()
        world.before_change(self.name)
        if (fault := world.faults.take("timeout", self.name)) is not None:
            after = float(fault.get("after", 10.0))
            return Status(self.name, now, now + after, error=DeviceTimeoutError(
                f"{self.name} did not respond within {after:g} s", device=self.name))
        current = int(self._step.value(now))
        new = self.choices.index(value)
        self._step = Step(current, new, now + (self.transit if new != current else 0.0))
        return Status(self.name, now, self._step.t)

    def read(self) -> dict[str, float | str]:
        return {self.name: self.value}

    def describe(self) -> dict[str, SignalInfo]:
        return {self.name: SignalInfo(self.units, self.equipment,
                                      "float" if isinstance(self.choices[0], int | float)
                                      else "str")}

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r}, {self.value!r})"


class SimSwitch(SimDiscrete):
    """A switchable device with named states (shutter open/closed, PD gain low/mid/high)."""

    def __init__(self, spec: DeviceSpec, world: SimWorld) -> None:
        super().__init__(spec, world)
        self.states: tuple[str, ...] = tuple(str(c) for c in self.choices)

    @property
    def state(self) -> str:
        return str(self.value)


class SimAttenuator(SimDiscrete):
    """Foil attenuator; its choices must be exactly the sums of its foil set.

    Reads ``{name: thickness_um, name.transmission: T}`` at the current probe energy.
    """

    def __init__(self, spec: DeviceSpec, world: SimWorld) -> None:
        super().__init__(spec, world)
        foils = [float(f) for f in spec.options.get("foils", ())]
        if foils and [float(c) for c in self.choices] != foil_sums(foils):
            raise BackendError(f"{self.name}: choices are not the sums of the foils {foils}")
        self._recorded = np.asarray(self.choices, dtype=np.float64)
        self.foils = tuple(foils)
        self.model: Attenuation = world.attenuation

    @property
    def position(self) -> float:
        return float(self.value)

    def read(self) -> dict[str, float | str]:
        t = float(self.value)
        return {self.name: t,
                f"{self.name}.transmission": float(self.model.transmission(
                    t, self._world.probe_energy_kev()))}

    def describe(self) -> dict[str, SignalInfo]:
        return {self.name: SignalInfo(self.units, self.equipment),
                f"{self.name}.transmission": SignalInfo("")}
