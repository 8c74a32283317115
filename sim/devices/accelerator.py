"""Accelerator parameters the beamline may only *request* (SACLA semi-automatic control).

A request is checked against the requester's access level (``AccessError`` at
once), then answered by the accelerator: refused when outside its envelope
(the device limits) or when a refusal is injected (the status fails with
:class:`~expctl.errors.RequestRefusedError`), otherwise applied ``latency``
seconds later, when the status completes.  Until then :attr:`pending` holds
the requested value and shots still see the old one.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from expctl.devices.access import AccessLevel
from expctl.devices.profile import DeviceSpec
from expctl.devices.protocols import SignalInfo
from expctl.devices.status import Status
from expctl.errors import AccessError, DeviceTimeoutError, RequestRefusedError
from sim.devices.step import Step

if TYPE_CHECKING:
    from sim.world import SimWorld

__all__ = ["SimAcceleratorParameter"]

_BOOL_WORDS = {True: "on", False: "off"}


class SimAcceleratorParameter:
    """An accelerator-owned value (pump on/off, pump–probe delay) reached by request.

    Profile options: ``latency`` (s), ``request_access`` (lowest level allowed to
    request, default user), ``initial``.
    """

    def __init__(self, spec: DeviceSpec, world: SimWorld) -> None:
        self.name = spec.name
        self.units = spec.units
        self.limits = spec.limits
        self.access: AccessLevel = spec.access
        self.safe_value = spec.safe
        self.equipment = spec.equipment
        self.latency = float(spec.options.get("latency", 1.0))
        self.request_access = AccessLevel.parse(spec.options.get("request_access", "user"))
        self._world = world
        self._choices = spec.limits.choices
        initial = spec.options.get("initial", self._choices[0] if self._choices else 0.0)
        code = self._encode(self._normalise(initial))
        self._step = Step(code, code, 0.0)

    @property
    def command(self) -> Step:
        """The last applied request (what the shot model and the time line sample)."""
        return self._step

    def _normalise(self, value: Any) -> Any:
        if self._choices is not None and isinstance(value, bool):
            return _BOOL_WORDS[value]  # YAML 1.1 reads a bare on/off as a boolean
        return value

    def _encode(self, value: Any) -> float:
        return float(self._choices.index(value)) if self._choices is not None else float(value)

    def _decode(self, code: float) -> float | str:
        return str(self._choices[int(code)]) if self._choices is not None else float(code)

    @property
    def value(self) -> float | str:
        return self._decode(self._step.value(self._world.clock.now()))

    @property
    def pending(self) -> float | str | None:
        if self._world.clock.now() < self._step.t:
            return self._decode(self._step.new)
        return None

    def check_value(self, value: float | str) -> None:
        self.limits.check(self.name, self._normalise(value))

    def request(self, value: float | str, requester: AccessLevel = AccessLevel.USER) -> Status:
        world = self._world
        now = world.clock.now()
        if requester < self.request_access:
            raise AccessError(
                f"requesting {self.name} needs {self.request_access.label} access; "
                f"the requester has {requester.label}", device=self.name,
                hint="Ask beamline staff to place the request.")
        value = self._normalise(value)
        if not self.limits.contains(value):
            return Status.failed(self.name, now, RequestRefusedError(
                f"accelerator refused {self.name} = {value}{' ' + self.units if self.units else ''}"
                f": outside its envelope", device=self.name, allowed=self.limits.describe()))
        if (fault := world.faults.take("refuse", self.name)) is not None:
            reason = fault.get("reason", "the accelerator is not accepting requests now")
            return Status.failed(self.name, now, RequestRefusedError(
                f"accelerator refused {self.name} = {value}: {reason}", device=self.name))
        if (fault := world.faults.take("timeout", self.name)) is not None:
            after = float(fault.get("after", 10.0))
            return Status(self.name, now, now + after, error=DeviceTimeoutError(
                f"accelerator did not answer the {self.name} request within {after:g} s",
                device=self.name))
        world.before_change(self.name)
        self._step = Step(self._step.value(now), self._encode(value), now + self.latency)
        return Status(self.name, now, self._step.t)

    def read(self) -> dict[str, float | str]:
        return {self.name: self.value}

    def describe(self) -> dict[str, SignalInfo]:
        return {self.name: SignalInfo(self.units, self.equipment,
                                      "str" if self._choices is not None else "float")}

    def __repr__(self) -> str:
        return f"SimAcceleratorParameter({self.name!r}, {self.value!r})"
