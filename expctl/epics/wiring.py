"""The EPICS part of a beamline profile: which PVs each device, the DAQ and the link use.

A profile for the ``epics`` backend is an ordinary profile (names, kinds, units,
limits, access, safe values — what validation and dry-runs need) whose devices also
name their PVs, plus an ``epics:`` section (timeouts, macros) and a ``daq:`` section.
PV names may use EPICS macros, ``$(P)THETA`` with ``epics: {macros: {P: "BL3:"}}``.
docs/epics.md describes every key; this module reads them into small typed records
and reports every mistake at once, naming the profile file and the device.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from expctl.devices.profile import DeviceSpec, Profile
from expctl.errors import AggregateError, BackendError

__all__ = ["DaqWiring", "DeviceWiring", "EpicsSettings", "Wiring", "read_wiring"]

#: PV roles each device kind must (``required``) or may name.
ROLES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "motor": (("pv",), ("message", "error")),
    "shutter": (("setpoint", "readback"), ("message", "error")),
    "switchable": (("setpoint", "readback"), ("message", "error")),
    "attenuator": (("setpoint", "readback"), ("message", "error")),
    "accelerator": (("request", "readback"), ("busy", "message", "error")),
    "photodiode": (("pv",), ()),
    "beam": (("pv",), ()),
    "mpccd": ((), ("pv",)),
    "pseudo": ((), ()),
}
#: PV roles of a shared acquisition gate (``trigger:`` of a detector).
TRIGGER_ROLES = (("pv", "shots"), ("message", "error"))
#: PV roles of the DAQ.
DAQ_ROLES = (("nshots", "label", "comment", "acquire", "stop", "abort", "collect", "runinfo",
              "config", "rate"), ("message", "error"))
BLOCK_ROLES = (("id", "run", "n", "more"), ())
#: PV roles of a simulated IOC's fault injection (``epics: faults:``).
FAULT_ROLES = (("inject", "clear"), ("message",))

_MACRO = re.compile(r"\$\((\w+)\)|\$\{(\w+)\}")


@dataclass(frozen=True)
class EpicsSettings:
    """The ``epics:`` section: how patient the link is, and what a simulated IOC offers."""

    connect_timeout: float = 3.0
    ack_timeout: float = 0.5
    verify_timeout: float = 1.0
    settle: float = 2.0
    twin: str | None = None
    archive_pv: str | None = None
    faults: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class DeviceWiring:
    """One device's PVs: ``roles`` (pv, setpoint, readback, request …), extra ``signals``
    by signal name, and its acquisition gate's roles (``trigger``) if it has one."""

    name: str
    kind: str
    roles: Mapping[str, str]
    signals: Mapping[str, str] = field(default_factory=dict)
    trigger: Mapping[str, str] | None = None
    tolerance: float | None = None


@dataclass(frozen=True)
class DaqWiring:
    """The DAQ's run-control PVs, its shot-block PVs and the column waveforms by key,
    with the dtype each column has in a shot block (CA carries them as doubles)."""

    roles: Mapping[str, str]
    block: Mapping[str, str]
    columns: Mapping[str, str]
    dtypes: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Wiring:
    """Everything the epics backend connects to."""

    settings: EpicsSettings
    devices: Mapping[str, DeviceWiring]
    daq: DaqWiring
    #: spot grid -> the PV told which sample is mounted on it (``sample_pv:``), if any
    samples: Mapping[str, str] = field(default_factory=dict)

    def all_pvs(self) -> dict[str, str]:
        """Every PV name -> what it belongs to (``theta``, ``daq``, ``theta trigger``)."""
        out: dict[str, str] = {}
        for dev in self.devices.values():
            for pv in [*dev.roles.values(), *dev.signals.values()]:
                out.setdefault(pv, dev.name)
            for pv in (dev.trigger or {}).values():
                out.setdefault(pv, f"{dev.name} (acquisition gate)")
        for pv in [*self.daq.roles.values(), *self.daq.block.values(),
                   *self.daq.columns.values()]:
            out.setdefault(pv, "daq")
        extra = [*self.settings.faults.values()] + (
            [self.settings.archive_pv] if self.settings.archive_pv else [])
        for pv in extra:
            out.setdefault(pv, "epics")
        for grid, pv in self.samples.items():
            out.setdefault(pv, f"spot grid {grid}")
        return out


class _Reader:
    """Collects every problem of one profile, each naming the file and device."""

    def __init__(self, profile: Profile, macros: Mapping[str, str]) -> None:
        self.source = str(profile.path or profile.name)
        self.macros = macros
        self.errors: list[BackendError] = []

    def fail(self, what: str, message: str, hint: str | None = None) -> None:
        self.errors.append(BackendError(f"profile {self.source}: {what}: {message}",
                                        device=what, hint=hint))

    def pv(self, what: str, role: str, value: Any) -> str | None:
        if not isinstance(value, str) or not value.strip():
            self.fail(what, f"{role!r} must be a PV name, got {value!r}")
            return None

        def expand(m: re.Match[str]) -> str:
            key = m.group(1) or m.group(2)
            if key not in self.macros:
                self.fail(what, f"PV {value!r} uses the undefined macro $({key})",
                          hint="Define it under epics: macros:.")
                return m.group(0)
            return str(self.macros[key])
        return _MACRO.sub(expand, value.strip())

    def roles(self, what: str, body: Mapping[str, Any], wanted: tuple[tuple[str, ...],
              tuple[str, ...]]) -> dict[str, str]:
        required, optional = wanted
        out: dict[str, str] = {}
        for role in required:
            if role not in body:
                self.fail(what, f"needs {role!r} (a PV name)",
                          hint=f"Give {', '.join(required)}; see docs/epics.md.")
        for role in (*required, *optional):
            if role in body and (pv := self.pv(what, role, body[role])) is not None:
                out[role] = pv
        return out

    def mapping(self, what: str, key: str, value: Any) -> Mapping[str, Any]:
        if not isinstance(value, Mapping):
            self.fail(what, f"{key!r} must be a mapping")
            return {}
        return value


def _number(raw: Mapping[str, Any], key: str, default: float, reader: _Reader) -> float:
    try:
        value = float(raw.get(key, default))
    except (TypeError, ValueError):
        reader.fail("epics", f"{key!r} must be a number of seconds, got {raw.get(key)!r}")
        return default
    if value <= 0:
        reader.fail("epics", f"{key!r} must be positive, got {value:g}")
        return default
    return value


def _device(spec: DeviceSpec, reader: _Reader) -> DeviceWiring | None:
    wanted = ROLES.get(spec.kind)
    if wanted is None:
        reader.fail(spec.name, f"the epics backend has no device kind {spec.kind!r}",
                    hint=f"Kinds: {', '.join(ROLES)}.")
        return None
    opts = spec.options
    roles = reader.roles(spec.name, opts, wanted)
    signals = {str(k): pv for k, v in reader.mapping(spec.name, "signals",
                                                       opts.get("signals", {})).items()
               if (pv := reader.pv(spec.name, f"signal {k}", v)) is not None}
    trigger = None
    if "trigger" in opts:
        trigger = reader.roles(spec.name, reader.mapping(spec.name, "trigger", opts["trigger"]),
                               TRIGGER_ROLES)
    tolerance = opts.get("tolerance")
    return DeviceWiring(spec.name, spec.kind, roles, signals, trigger,
                        None if tolerance is None else float(tolerance))


def _columns(reader: _Reader, raw: Mapping[str, Any]) -> tuple[dict[str, str], dict[str, str]]:
    """``key: PV`` or ``key: {pv: PV, dtype: int64}`` per shot-block column."""
    import numpy as np

    columns: dict[str, str] = {}
    dtypes: dict[str, str] = {}
    for key, body in raw.items():
        entry = body if isinstance(body, Mapping) else {"pv": body}
        pv = reader.pv("daq", f"column {key}", entry.get("pv"))
        if pv is None:
            continue
        columns[str(key)] = pv
        dtype = str(entry.get("dtype", "float64"))
        try:
            np.dtype(dtype)
        except TypeError:
            reader.fail("daq", f"column {key}: unknown dtype {dtype!r}")
            continue
        dtypes[str(key)] = dtype
    if "tag" not in columns:
        reader.fail("daq", "block columns must include 'tag' (the shots' tags)")
    return columns, dtypes


def read_wiring(profile: Profile) -> Wiring:
    """The PV wiring of an epics profile; every problem found is raised together.

    Raises:
        BackendError: one problem (or an AggregateError of all of them), each naming
            the profile file and the device.
    """
    raw_epics = profile.raw.get("epics", {}) or {}
    macros = raw_epics.get("macros", {}) if isinstance(raw_epics, Mapping) else {}
    reader = _Reader(profile, macros if isinstance(macros, Mapping) else {})
    epics = reader.mapping("epics", "epics", raw_epics)
    settings = EpicsSettings(
        connect_timeout=_number(epics, "connect_timeout", 3.0, reader),
        ack_timeout=_number(epics, "ack_timeout", 0.5, reader),
        verify_timeout=_number(epics, "verify_timeout", 1.0, reader),
        settle=_number(epics, "settle", 2.0, reader),
        twin=str(profile.raw["twin"]) if profile.raw.get("twin") else None,
        archive_pv=reader.pv("epics", "archive_pv", epics["archive_pv"])
        if "archive_pv" in epics else None,
        faults=reader.roles("epics", reader.mapping("epics", "faults", epics["faults"]),
                            FAULT_ROLES) if "faults" in epics else {})
    devices = {name: wired for name, spec in profile.devices.items()
               if (wired := _device(spec, reader)) is not None}
    daq_raw = profile.daq.options  # the backend's own keys of the typed daq: section
    block_raw = reader.mapping("daq", "block", daq_raw.get("block", {}))
    columns, dtypes = _columns(reader, reader.mapping("daq", "block columns",
                                                      block_raw.get("columns", {})))
    daq = DaqWiring(reader.roles("daq", daq_raw, DAQ_ROLES),
                    reader.roles("daq", block_raw, BLOCK_ROLES), columns, dtypes)
    samples = {name: pv for name, grid in profile.spot_grids.items()
               if "sample_pv" in grid.options and (pv := reader.pv(
                   f"spot_grids: {name}", "sample_pv", grid.options["sample_pv"])) is not None}
    if reader.errors:
        if len(reader.errors) == 1:
            raise reader.errors[0]
        raise AggregateError(reader.errors, f"profile {reader.source} has "
                                            f"{len(reader.errors)} EPICS wiring problems")
    return Wiring(settings, devices, daq, samples)
