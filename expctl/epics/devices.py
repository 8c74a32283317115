"""Devices over Channel Access, implementing the expctl.devices protocols.

Readings come from monitors (no polling); actions are :class:`PutAction` s, so
every put is verified by its readback and every failure ends within a bounded
time.  Limits, units, access and safe values come from the profile, exactly as
for the simulator, so validation and dry-runs need no connection.
"""

from __future__ import annotations

import math
import time
from typing import Any

from expctl.devices.access import AccessLevel
from expctl.devices.profile import DeviceSpec
from expctl.devices.protocols import SignalInfo
from expctl.devices.status import Status
from expctl.epics.actions import PutAction, explainer
from expctl.epics.ca import Channel
from expctl.epics.link import Link
from expctl.epics.wiring import DeviceWiring
from expctl.errors import AccessError, DeviceError, RequestRefusedError

__all__ = ["EpicsMotor", "EpicsMonitor", "EpicsRequest", "EpicsSwitch", "motor_fields"]

_BOOL_WORDS = {True: "on", False: "off"}


def motor_fields(record: str) -> dict[str, str]:
    """The motor-record fields the backend uses, by role."""
    return {role: f"{record}.{field}" for role, field in (
        ("setpoint", "VAL"), ("readback", "RBV"), ("done", "DMOV"), ("stop", "STOP"),
        ("deadband", "RDBD"), ("lvio", "LVIO"), ("spmg", "SPMG"), ("disp", "DISP"),
        ("hlm", "HLM"), ("llm", "LLM"))}


class _EpicsDevice:
    """Name, access, limits, units and safe value from the profile; ``read`` from monitors."""

    def __init__(self, spec: DeviceSpec, wiring: DeviceWiring, link: Link) -> None:
        self.name = spec.name
        self.units = spec.units
        self.limits = spec.limits
        self.access: AccessLevel = spec.access
        self.safe_value = spec.safe
        self.equipment = spec.equipment
        self.spec = spec
        self._link = link
        self._signals = {signal: link.channels[pv] for signal, pv in wiring.signals.items()}
        roles = wiring.roles
        self._message = link.channel(roles.get("message"))
        self._error = link.channel(roles.get("error"))

    def _explain(self, default: type[DeviceError], details: Any = None,
                 extra: tuple[Channel, ...] = ()) -> Any:
        return explainer(self._link, self.name, self._message, self._error, default,
                         details, extra)

    def _extra_readings(self) -> dict[str, float | str]:
        return {signal: _plain(ch.value) for signal, ch in self._signals.items()}

    def _extra_info(self) -> dict[str, SignalInfo]:
        return {signal: SignalInfo("") for signal in self._signals}

    def check_value(self, value: float | str) -> None:
        self.limits.check(self.name, value)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r})"


def _plain(value: Any) -> float | str:
    return value if isinstance(value, str) else float(value)


class EpicsMotor(_EpicsDevice):
    """An axis behind a motor record (``VAL``/``RBV``/``DMOV``/``STOP`` …)."""

    def __init__(self, spec: DeviceSpec, wiring: DeviceWiring, link: Link) -> None:
        super().__init__(spec, wiring, link)
        fields = {role: link.channels[pv] for role, pv in motor_fields(wiring.roles["pv"]).items()}
        self._f = fields
        self.velocity = float(spec.velocity or 0.0)
        self.acceleration = float(spec.acceleration or 0.0)
        tolerance = wiring.tolerance
        if tolerance is None:  # the record's own retry deadband
            tolerance = float(fields["deadband"].get(link.settings.ack_timeout))
        self.tolerance = tolerance

    @property
    def position(self) -> float:
        return float(self._f["readback"].value)

    def set(self, value: float | str) -> Status:
        self.check_value(value)
        target = float(value)
        return PutAction(self._link, self.name, self._f["setpoint"], target,
                         timeout=self._timeout(target), readback=self._f["readback"],
                         tolerance=self.tolerance, trailing=False,
                         explain=self._explain(DeviceError, self._why,
                                               tuple(self._f[k] for k in
                                                     ("lvio", "spmg", "disp", "hlm", "llm"))),
                         ).status

    def _timeout(self, target: float) -> float:
        """Bound on a move: the profile's ``timeout``, else from the trapezoid's duration."""
        if "timeout" in self.spec.options:
            return float(self.spec.options["timeout"])
        v, a = self.velocity, self.acceleration
        if v <= 0:
            return 600.0
        ramp = v / a if a > 0 else 0.0
        return self._link.bound(abs(target - self.position) / v + ramp)

    def _why(self, values: dict[str, Any]) -> str:
        """What a motor record shows when it did not move (no IOC message)."""
        f = self._f
        said = []
        if values.get(f["lvio"].name):
            said.append(f"limit violation (LVIO): soft limits {values.get(f['llm'].name)} .. "
                        f"{values.get(f['hlm'].name)} {self.units}")
        if values.get(f["spmg"].name) in ("Stop", "Pause"):
            said.append(f"motion disabled (SPMG = {values[f['spmg'].name]})")
        if values.get(f["disp"].name):
            said.append("record disabled (DISP = 1)")
        return "; ".join(said)

    def stop(self) -> None:
        self._f["stop"].put(1, None, timeout=None)

    def read(self) -> dict[str, float | str]:
        return {self.name: self.position, **self._extra_readings()}

    def describe(self) -> dict[str, SignalInfo]:
        return {self.name: SignalInfo(self.units, self.equipment), **self._extra_info()}


class EpicsSwitch(_EpicsDevice):
    """Shutter, gain switch or attenuator: a setpoint and a readback of discrete values."""

    def __init__(self, spec: DeviceSpec, wiring: DeviceWiring, link: Link) -> None:
        super().__init__(spec, wiring, link)
        self.choices: tuple[Any, ...] = tuple(spec.limits.choices or ())
        self.numeric = all(isinstance(c, int | float) and not isinstance(c, bool)
                           for c in self.choices)
        self.states: tuple[str, ...] = tuple(str(c) for c in self.choices)
        self._setpoint = link.channels[wiring.roles["setpoint"]]
        self._readback = link.channels[wiring.roles["readback"]]
        self.transit = float(spec.options.get("transit", 0.0))

    @property
    def value(self) -> float | str:
        value = self._readback.value
        return float(value) if self.numeric else str(value)

    @property
    def state(self) -> str:
        return str(self.value)

    def set(self, value: float | str) -> Status:
        self.check_value(value)
        target: Any = float(value) if self.numeric else str(value)
        timeout = float(self.spec.options.get("timeout", self._link.bound(self.transit)))
        return PutAction(self._link, self.name, self._setpoint, target, timeout=timeout,
                         readback=self._readback, trailing=True,
                         explain=self._explain(DeviceError)).status

    def read(self) -> dict[str, float | str]:
        return {self.name: self.value, **self._extra_readings()}

    def describe(self) -> dict[str, SignalInfo]:
        return {self.name: SignalInfo(self.units, self.equipment,
                                      "float" if self.numeric else "str"),
                **self._extra_info()}


class EpicsRequest(_EpicsDevice):
    """An accelerator parameter: a request PV (completes when applied) and its readback."""

    def __init__(self, spec: DeviceSpec, wiring: DeviceWiring, link: Link) -> None:
        super().__init__(spec, wiring, link)
        self._request = link.channels[wiring.roles["request"]]
        self._readback = link.channels[wiring.roles["readback"]]
        self._busy = link.channel(wiring.roles.get("busy"))
        self._choices = spec.limits.choices
        self.request_access = AccessLevel.parse(spec.options.get("request_access", "user"))
        self.latency = float(spec.options.get("latency", 1.0))
        self._asked: tuple[Any, Status] | None = None  # this client's last request
        self._answered_at = -math.inf  # Unix time it completed

    def _normalise(self, value: Any) -> Any:
        if self._choices is not None and isinstance(value, bool):
            return _BOOL_WORDS[value]  # YAML 1.1 reads a bare on/off as a boolean
        return value if self._choices is not None else float(value)

    @property
    def value(self) -> float | str:
        return _plain(self._readback.value)

    @property
    def pending(self) -> float | str | None:
        """The value requested and not applied yet: this client's own request while it is
        open, else what the IOC's busy flag says (if it was posted after that request
        completed: a monitor can trail the completion)."""
        asked = self._asked
        if asked is not None and asked[1].pending:
            return asked[0]
        if self._busy is not None and self._busy.stamp <= self._answered_at:
            return None
        if self._busy is not None:
            busy = self._busy.value
            return _plain(self._request.value) if busy not in ("idle", 0) else None
        asked, now = self._request.value, self._readback.value
        return None if str(asked) == str(now) else _plain(asked)

    def check_value(self, value: float | str) -> None:
        self.limits.check(self.name, self._normalise(value))

    def request(self, value: float | str, requester: AccessLevel = AccessLevel.USER) -> Status:
        if requester < self.request_access:
            raise AccessError(
                f"requesting {self.name} needs {self.request_access.label} access; "
                f"the requester has {requester.label}", device=self.name,
                hint="Ask beamline staff to place the request.")
        target = self._normalise(value)
        timeout = float(self.spec.options.get("timeout", self._link.bound(self.latency)))
        status = PutAction(self._link, self.name, self._request, target, timeout=timeout,
                           readback=self._readback, trailing=True,
                           explain=self._explain(RequestRefusedError)).status
        self._asked = (target, status)
        status.add_callback(self._answered)
        return status

    def _answered(self, status: Status) -> None:
        self._answered_at = time.time()

    def read(self) -> dict[str, float | str]:
        return {self.name: self.value, **self._extra_readings()}

    def describe(self) -> dict[str, SignalInfo]:
        return {self.name: SignalInfo(self.units, self.equipment,
                                      "str" if self._choices is not None else "float"),
                **self._extra_info()}


class EpicsMonitor(_EpicsDevice):
    """A readable device (beam status, a monitor): its main PV and extra signals."""

    def __init__(self, spec: DeviceSpec, wiring: DeviceWiring, link: Link) -> None:
        super().__init__(spec, wiring, link)
        pv = wiring.roles.get("pv")
        if pv is not None:
            self._signals = {spec.name: link.channels[pv], **self._signals}

    def read(self) -> dict[str, float | str]:
        out = {}
        for signal, channel in self._signals.items():
            value = channel.value
            out[signal] = value if isinstance(value, str) else (
                float(value) if value is not None else math.nan)
        return out

    def describe(self) -> dict[str, SignalInfo]:
        return {signal: SignalInfo(self.units if signal == self.name else "",
                                   self.equipment if signal == self.name else None)
                for signal in self._signals}

    def signal_channels(self) -> list[Channel]:
        """The channels an acquisition refreshes before its status completes."""
        return list(self._signals.values())
