"""Beamline profiles: the YAML file that names every device of a beamline.

The generic part (names, kinds, units, limits, access, safe values, speeds,
and the ``roles:``, ``daq:`` and ``spot_grids:`` sections) is read and checked
here so expctl can validate sequences without a backend; everything else
(``physics:``, ``facility:``, per-device extras) is passed to the backend
untouched.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping
from dataclasses import field
from pathlib import Path
from typing import Any

import yaml

from expctl.devices.access import AccessLevel
from expctl.devices.limits import Limits
from expctl.errors import BackendError, UnitError
from expctl.inputs import (
    FastSafeLoader,
    InputLimitError,
    ValueCap,
    ValueCapReached,
    expanded_size,
    read_limited,
    yaml_problem,
)
from expctl.records import record
from expctl.units import convert, parse_quantity

__all__ = ["DaqSpec", "DeviceSpec", "Profile", "Roles", "SpotGridSpec", "SuspenderSpec",
           "inherit", "load_profile"]

#: What a ``suspenders:`` entry may check (see :class:`SuspenderSpec`).
SUSPENDER_KINDS = ("beam", "band")

_GENERIC_KEYS = {"kind", "units", "limits", "choices", "access", "safe", "velocity",
                 "acceleration", "equipment", "description"}


@record
class DeviceSpec:
    """One device as a profile declares it.

    ``options`` holds the backend-specific keys (foil sets, gain steps, sensor
    geometry …) unchanged.
    """

    name: str
    kind: str
    units: str = ""
    limits: Limits = field(default_factory=Limits)
    access: AccessLevel = AccessLevel.USER
    safe: Any = None
    velocity: float | None = None
    acceleration: float | None = None
    equipment: str | None = None
    description: str = ""
    options: Mapping[str, Any] = field(default_factory=dict)


@record
class Roles:
    """``roles:`` — which device plays which part in the canonical procedure.

    Procedures and the shell take device names from here instead of assuming
    bl3's.  A role the profile does not declare is None (``delays``: empty);
    roles expctl does not know are kept in ``extra`` for the backend.
    """

    theta: str | None = None
    energy: str | None = None
    shutter: str | None = None
    attenuator: str | None = None
    pd_gain: str | None = None
    i0: str | None = None
    beam: str | None = None
    pump: str | None = None
    #: devices whose values add up to the pump–probe delay (the first is requested)
    delays: tuple[str, ...] = ()
    extra: Mapping[str, str | tuple[str, ...]] = field(default_factory=dict)

    def require(self, role: str) -> str:
        """The device of ``role``; a BackendError if the profile does not name one."""
        device = getattr(self, role, None)
        if not isinstance(device, str):
            raise BackendError(f"the profile names no device for the role {role!r}",
                               hint=f"Add `roles: {{{role}: DEVICE}}` to the profile.")
        return device


@record
class DaqSpec:
    """``daq:`` — how runs are taken: beam rate, detectors read, when runs fail."""

    rate_hz: float = 30.0
    #: detectors the DAQ reads (empty: every device of a detector kind)
    detectors: tuple[str, ...] = ()
    #: the pulse picker exposes the sample only on acquired shots
    gate_shutter: bool = True
    #: runs and triggers fail with BeamLossError while the beam is off
    require_beam: bool = True
    #: seconds beyond a run's expected end before it times out
    timeout_margin: float = 10.0
    #: backend-specific keys, unchanged
    options: Mapping[str, Any] = field(default_factory=dict)


@record
class SpotGridSpec:
    """One entry of ``spot_grids:``: the two stages that move a sample to its spots."""

    name: str
    x_axis: str
    y_axis: str
    #: backend-specific keys (plate extent, pitch, margin …), unchanged
    options: Mapping[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """The entry as the profile wrote it (axes and options), for a backend's own models."""
        return {**self.options, "x_axis": self.x_axis, "y_axis": self.y_axis}


@record
class SuspenderSpec:
    """One condition the profile says data needs (``suspenders:``); the engine suspends
    data taking while it does not hold and retakes what was cut.

    ``kind`` ``beam``: the beam status ``device`` reads on (>= 0.5); ``band``:
    ``signal`` of ``device`` within ``low .. high`` (in ``units``).  ``settle``:
    seconds it must hold again before data taking resumes.
    """

    name: str
    kind: str
    device: str
    signal: str | None = None
    low: float = -math.inf
    high: float = math.inf
    units: str = ""
    settle: float = 5.0


@record
class Profile:
    """A beamline profile: identity, seed, devices, typed sections and backend physics."""

    name: str
    backend: str
    beamline: int
    seed: int
    devices: Mapping[str, DeviceSpec]
    physics: Mapping[str, Any]
    facility: Mapping[str, Any]
    path: Path | None = None
    raw: Mapping[str, Any] = field(default_factory=dict)
    roles: Roles = field(default_factory=Roles)
    daq: DaqSpec = field(default_factory=DaqSpec)
    spot_grids: Mapping[str, SpotGridSpec] = field(default_factory=dict)
    suspenders: tuple[SuspenderSpec, ...] = ()

    def serves(self, beamline: str) -> bool:
        """Whether a sequence written for ``beamline`` runs on this profile: its own name,
        the simulator profile it names as its ``twin`` (the same beamline simulated), or
        ``bl<N>`` for any profile of beamline N (bl3, bl3-laser, bl3-epics …)."""
        return beamline in (self.name, self.raw.get("twin"), f"bl{self.beamline}")

    def device(self, name: str) -> DeviceSpec:
        """The spec of ``name`` (raises KeyError for unknown names)."""
        return self.devices[name]

    def with_seed(self, seed: int) -> Profile:
        """The same profile with another seed (``--seed``)."""
        return dataclasses.replace(self, seed=seed)

    def with_initial(self, values: Mapping[str, Any]) -> Profile:
        """The same profile whose devices start at ``values`` (their ``initial`` option).

        Values a device's limits refuse, and unknown names, are left out: a simulated
        twin or a restarted IOC then starts that device from the profile's own value.
        """
        devices = dict(self.devices)
        for name, value in values.items():
            spec = devices.get(name)
            if spec is not None and spec.limits.contains(value):
                devices[name] = dataclasses.replace(spec, options={**spec.options,
                                                                   "initial": value})
        return dataclasses.replace(self, devices=devices)


_TWIN_HINT = ("A profile naming a `twin:` takes its devices from the twin when it is "
              "loaded through BackendRegistry.find_profile (as the CLI does).")


def _device_spec(name: str, body: Mapping[str, Any], source: str) -> DeviceSpec:
    if not isinstance(body, Mapping) or "kind" not in body:
        raise BackendError(f"{source}: device {name!r} needs a mapping with a 'kind'",
                           hint=_TWIN_HINT)
    units = str(body.get("units", ""))
    try:
        access = AccessLevel.parse(body.get("access", "user"))
    except ValueError as exc:
        raise BackendError(f"{source}: device {name!r}: {exc}") from None
    return DeviceSpec(
        name=name,
        kind=str(body["kind"]),
        units=units,
        limits=Limits.from_spec(body.get("limits"), units, body.get("choices")),
        access=access,
        safe=body.get("safe"),
        velocity=body.get("velocity"),
        acceleration=body.get("acceleration"),
        equipment=body.get("equipment"),
        description=str(body.get("description", "")),
        options={k: v for k, v in body.items() if k not in _GENERIC_KEYS},
    )


#: A profile is a page of device definitions; anything far larger is refused unread.
MAX_PROFILE_BYTES = 1_000_000
#: Values in a profile (anchors and aliases expanded), and its nesting depth.
MAX_PROFILE_VALUES = 20_000
MAX_PROFILE_DEPTH = 64


class _Loader(ValueCap, FastSafeLoader):
    limit = MAX_PROFILE_VALUES
    depth_limit = MAX_PROFILE_DEPTH


def _read_yaml(path: Path) -> Any:
    """The profile's YAML, bounded in size, values and depth before it is built."""
    too_many = InputLimitError(f"more than {MAX_PROFILE_VALUES} values or {MAX_PROFILE_DEPTH} "
                               "levels (anchors and aliases expanded)")
    text = read_limited(path, MAX_PROFILE_BYTES, "profile file").decode("utf-8")
    try:
        loader = _Loader(text)  # (PyYAML's own reader checks characters here)
    except yaml.YAMLError as exc:
        raise _NotYaml(*yaml_problem(exc, text)) from None
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        if "&" in text:  # aliases (anchors first) can stand for more than was composed
            values, depth = expanded_size(node)
            if values > MAX_PROFILE_VALUES or depth > MAX_PROFILE_DEPTH:
                raise too_many
        return loader.construct_document(node)
    except ValueCapReached:
        raise too_many from None
    except yaml.YAMLError as exc:
        raise _NotYaml(*yaml_problem(exc, text)) from None
    finally:
        loader.dispose()


class _NotYaml(Exception):
    """The profile's text is not YAML: libyaml's (or PyYAML's) problem and its mark."""

    def __init__(self, problem: str, mark: Any) -> None:
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        super().__init__(f"{problem}{where}")


def load_profile(path: Path, twins: Callable[[str], Profile] | None = None) -> Profile:
    """Read and check a profile file; problems raise :class:`BackendError` naming the file.

    Args:
        path: the YAML file.
        twins: finds the profile a ``twin:`` key names (``BackendRegistry.find_profile``);
            with it, the profile takes its twin's devices and sections (:func:`inherit`).
    """
    source = str(path)
    try:
        raw = _read_yaml(path)
    except InputLimitError as exc:
        raise BackendError(f"beamline profile {source}: {exc.message}", hint=exc.hint) from None
    except OSError as exc:
        raise BackendError(f"cannot read beamline profile {source}: {exc.strerror}") from None
    except (_NotYaml, ValueError, RecursionError) as exc:  # incl. UnicodeDecodeError
        raise BackendError(f"beamline profile {source} is not valid YAML: {exc}") from None
    if not isinstance(raw, Mapping):
        raise BackendError(f"beamline profile {source} must be a mapping")
    if twins is not None and raw.get("twin") is not None:
        raw = inherit(raw, twins(str(raw["twin"])), source)
    missing = [k for k in ("name", "backend", "beamline", "devices") if k not in raw]
    if missing:
        raise BackendError(f"beamline profile {source} lacks {', '.join(missing)}",
                           hint=_TWIN_HINT if raw.get("twin") is not None else None)
    devices = {n: _device_spec(n, b, source) for n, b in raw["devices"].items()}
    section = _Section(source, devices)
    return Profile(
        name=str(raw["name"]),
        backend=str(raw["backend"]),
        beamline=int(raw["beamline"]),
        seed=int(raw.get("seed", 0)),
        devices=devices,
        physics=raw.get("physics", {}) or {},
        facility=raw.get("facility", {}) or {},
        path=path,
        raw=raw,
        roles=section.roles(raw.get("roles")),
        daq=section.daq(raw.get("daq")),
        spot_grids=section.spot_grids(raw.get("spot_grids")),
        suspenders=section.suspenders(raw.get("suspenders")),
    )


#: Keys of a device that are the twin's to declare (a profile may only restate them).
_TWIN_KEYS = _GENERIC_KEYS - {"description"}


def inherit(raw: Mapping[str, Any], twin: Profile, source: str) -> dict[str, Any]:
    """A profile's YAML completed from the ``twin:`` it names, so the two cannot drift.

    The twin (the simulator profile of the same beamline) declares the devices —
    kinds, units, limits, choices, access, safe values, speeds, equipment, its own
    options — and the ``roles:``, ``suspenders:``, ``spot_grids:`` and ``daq:``
    sections; this profile adds what is its own (an epics profile: the PVs).  A
    device entry is merged over the twin's; one restating a twin's key with another
    value is refused, naming the device.  ``beamline`` and ``seed`` default to the
    twin's; ``physics``/``facility`` stay the twin's business.  Devices the twin does
    not have are declared in full here.

    Raises:
        BackendError: a restated key that differs, or an entry that is not a mapping.
    """
    def part(doc: Mapping[str, Any], key: str) -> Mapping[str, Any]:
        body = doc.get(key) or {}
        if not isinstance(body, Mapping):
            raise BackendError(f"beamline profile {source}: {key} must be a mapping")
        return body

    base = twin.raw
    out = dict(raw)
    for key in ("beamline", "seed"):
        if key in base:
            out.setdefault(key, base[key])
    own = part(raw, "devices")
    devices: dict[str, Any] = {}
    for name in {**base["devices"], **own}:
        mine = own.get(name) or {}
        if not isinstance(mine, Mapping):
            raise BackendError(f"beamline profile {source}: device {name!r} must be a mapping "
                               f"of its PVs and options", device=str(name))
        theirs = base["devices"].get(name)
        if theirs is None:
            devices[name] = dict(mine)
            continue
        for key in sorted(_TWIN_KEYS & set(mine)):
            if mine[key] != theirs.get(key):
                raise BackendError(
                    f"beamline profile {source}: device {name!r} gives {key} {mine[key]!r}, "
                    f"its twin {twin.name} {theirs.get(key)!r}", device=str(name),
                    hint=f"The twin ({twin.path or twin.name}) is the one place {key} is "
                         "declared: leave it out here, or change it there.")
        devices[name] = {**theirs, **mine}
    out["devices"] = devices
    for section in ("roles", "suspenders"):
        if section not in raw and section in base:
            out[section] = base[section]
    grids = dict(part(base, "spot_grids"))
    for name in part(raw, "spot_grids"):
        grids[name] = {**grids.get(name, {}), **part(raw["spot_grids"], name)}
    daq = {**part(base, "daq"), **part(raw, "daq")}
    out.update({k: v for k, v in (("spot_grids", grids), ("daq", daq)) if v})
    return out


_ROLE_NAMES = tuple(f.name for f in dataclasses.fields(Roles) if f.name not in ("delays",
                                                                                "extra"))
_DAQ_KEYS = ("rate_hz", "detectors", "gate_shutter", "require_beam", "timeout_margin")


class _Section:
    """Reads the typed sections of one profile file; each problem is a BackendError."""

    def __init__(self, source: str, devices: Mapping[str, DeviceSpec]) -> None:
        self.source = source
        self.devices = devices

    def fail(self, where: str, message: str, allowed: str | None = None) -> BackendError:
        return BackendError(f"beamline profile {self.source}: {where}: {message}",
                            allowed=allowed)

    def mapping(self, body: Any, where: str) -> Mapping[str, Any]:
        if body is None:
            return {}
        if not isinstance(body, Mapping):
            raise self.fail(where, f"must be a mapping, got {type(body).__name__}")
        return body

    def device(self, value: Any, where: str) -> str:
        if not isinstance(value, str) or value not in self.devices:
            raise self.fail(where, f"{value!r} is not a device of this profile",
                            allowed=", ".join(self.devices))
        return value

    def devices_of(self, value: Any, where: str) -> tuple[str, ...]:
        items = value if isinstance(value, list) else [value]
        return tuple(self.device(v, where) for v in items)

    def roles(self, body: Any) -> Roles:
        given = self.mapping(body, "roles")
        named = {k: self.device(given[k], f"roles: {k}") for k in _ROLE_NAMES if k in given}
        extra = {k: self.device(v, f"roles: {k}") if isinstance(v, str)
                 else self.devices_of(v, f"roles: {k}")
                 for k, v in given.items() if k not in _ROLE_NAMES and k != "delays"}
        delays = self.devices_of(given["delays"], "roles: delays") if "delays" in given else ()
        return Roles(**named, delays=delays, extra=extra)

    def daq(self, body: Any) -> DaqSpec:
        given = self.mapping(body, "daq")
        default = DaqSpec()
        rate = self.number(given.get("rate_hz", default.rate_hz), "daq: rate_hz", positive=True)
        margin = self.number(given.get("timeout_margin", default.timeout_margin),
                             "daq: timeout_margin")
        flags = {k: given.get(k, getattr(default, k)) for k in ("gate_shutter", "require_beam")}
        for k, v in flags.items():
            if not isinstance(v, bool):
                raise self.fail(f"daq: {k}", f"must be true or false, got {v!r}")
        detectors = self.devices_of(given["detectors"], "daq: detectors") \
            if given.get("detectors") else ()
        return DaqSpec(rate, detectors, flags["gate_shutter"], flags["require_beam"], margin,
                       {k: v for k, v in given.items() if k not in _DAQ_KEYS})

    def number(self, value: Any, where: str, *, positive: bool = False) -> float:
        ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(
            value) and (value > 0 if positive else value >= 0)
        if not ok:
            raise self.fail(where, f"must be a {'positive' if positive else 'non-negative'} "
                            f"number, got {value!r}")
        return float(value)

    def suspenders(self, body: Any) -> tuple[SuspenderSpec, ...]:
        return tuple(self.suspender(str(name), spec)
                     for name, spec in self.mapping(body, "suspenders").items())

    def suspender(self, name: str, body: Any) -> SuspenderSpec:
        where = f"suspenders: {name}"
        given = self.mapping(body, where)
        kind = str(given.get("kind", ""))
        if kind not in SUSPENDER_KINDS:
            raise self.fail(where, f"unknown kind {kind!r}", allowed=", ".join(SUSPENDER_KINDS))
        device = self.device(given.get("device"), f"{where}: device")
        keys = ("kind", "device", "signal", "low", "high", "units", "settle")
        unknown = sorted(set(given) - set(keys))
        if unknown:
            raise self.fail(where, f"unknown key(s) {', '.join(unknown)}", allowed=", ".join(keys))
        try:
            settle = _amount(given.get("settle", 5.0), "s")
            units = str(given.get("units", ""))
            bounds = {}
            for key in ("low", "high"):
                if key in given:
                    q = parse_quantity(given[key])
                    units = units or q.unit
                    bounds[key] = convert(q.value, q.unit, units) if q.unit else q.value
        except UnitError as exc:
            raise self.fail(where, exc.message, allowed=exc.allowed) from None
        if settle < 0:
            raise self.fail(f"{where}: settle", "must not be negative", allowed="0 s or more")
        signal = given.get("signal")
        return SuspenderSpec(name, kind, device, None if signal is None else str(signal),
                             bounds.get("low", -math.inf), bounds.get("high", math.inf), units,
                             settle)

    def spot_grids(self, body: Any) -> dict[str, SpotGridSpec]:
        out: dict[str, SpotGridSpec] = {}
        for name, grid in self.mapping(body, "spot_grids").items():
            where = f"spot_grids: {name}"
            spec = self.mapping(grid, where)
            missing = [k for k in ("x_axis", "y_axis") if k not in spec]
            if missing:
                raise self.fail(where, f"lacks {', '.join(missing)}")
            out[str(name)] = SpotGridSpec(
                str(name), self.device(spec["x_axis"], f"{where}: x_axis"),
                self.device(spec["y_axis"], f"{where}: y_axis"),
                {k: v for k, v in spec.items() if k not in ("x_axis", "y_axis")})
        return out


def _amount(value: Any, unit: str) -> float:
    """A number in ``unit``: a quantity converted, a plain number taken as is."""
    q = parse_quantity(value)
    return convert(q.value, q.unit, unit) if q.unit else q.value
