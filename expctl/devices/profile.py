"""Beamline profiles: the YAML file that names every device of a beamline.

The generic part (names, kinds, units, limits, access, safe values, speeds) is
read here so expctl can validate sequences without a backend; everything else
(``physics:``, per-device extras) is passed to the backend untouched.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

from expctl.devices.access import AccessLevel
from expctl.devices.limits import Limits
from expctl.errors import BackendError, UnitError
from expctl.units import convert, parse_quantity

__all__ = ["DeviceSpec", "Profile", "SuspenderSpec", "load_profile"]

#: What a ``suspenders:`` entry may check (see :class:`SuspenderSpec`).
SUSPENDER_KINDS = ("beam", "band")

_GENERIC_KEYS = {"kind", "units", "limits", "choices", "access", "safe", "velocity",
                 "acceleration", "equipment", "description"}


@dataclass(frozen=True)
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


@dataclass(frozen=True)
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


@dataclass(frozen=True)
class Profile:
    """A beamline profile: identity, seed, devices and backend-specific physics."""

    name: str
    backend: str
    beamline: int
    seed: int
    devices: Mapping[str, DeviceSpec]
    physics: Mapping[str, Any]
    facility: Mapping[str, Any]
    path: Path | None = None
    raw: Mapping[str, Any] = field(default_factory=dict)
    suspenders: tuple[SuspenderSpec, ...] = ()

    def device(self, name: str) -> DeviceSpec:
        """The spec of ``name`` (raises KeyError for unknown names)."""
        return self.devices[name]

    def with_seed(self, seed: int) -> Profile:
        """The same profile with another seed (``--seed``)."""
        return replace(self, seed=seed)


def _device_spec(name: str, body: Mapping[str, Any], source: str) -> DeviceSpec:
    if not isinstance(body, Mapping) or "kind" not in body:
        raise BackendError(f"{source}: device {name!r} needs a mapping with a 'kind'")
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


def _suspender(name: str, body: Any, devices: Mapping[str, DeviceSpec],
               source: str) -> SuspenderSpec:
    where = f"{source}: suspender {name!r}"
    if not isinstance(body, Mapping):
        raise BackendError(f"{where} must be a mapping with kind and device")
    kind = str(body.get("kind", ""))
    if kind not in SUSPENDER_KINDS:
        raise BackendError(f"{where}: unknown kind {kind!r}", allowed=", ".join(SUSPENDER_KINDS))
    device = str(body.get("device", ""))
    if device not in devices:
        raise BackendError(f"{where}: no device {device!r} in the profile",
                           allowed=", ".join(devices))
    unknown = set(body) - {"kind", "device", "signal", "low", "high", "settle", "units"}
    if unknown:
        raise BackendError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}",
                           allowed="kind, device, signal, low, high, units, settle")
    try:
        settle = _amount(body.get("settle", 5.0), "s")
        units = str(body.get("units", ""))
        bounds = {}
        for key in ("low", "high"):
            if key in body:
                q = parse_quantity(body[key])
                units = units or q.unit
                bounds[key] = convert(q.value, q.unit, units) if q.unit else q.value
    except UnitError as exc:
        raise BackendError(f"{where}: {exc}") from None
    if settle < 0:
        raise BackendError(f"{where}: settle must not be negative", allowed="0 s or more")
    return SuspenderSpec(name, kind, device, body.get("signal"), bounds.get("low", -math.inf),
                         bounds.get("high", math.inf), units, settle)


def _amount(value: Any, unit: str) -> float:
    """A number in ``unit``: a quantity converted, a plain number taken as is."""
    q = parse_quantity(value)
    return convert(q.value, q.unit, unit) if q.unit else q.value


def load_profile(path: Path) -> Profile:
    """Read and check a profile file; problems raise :class:`BackendError` naming the file."""
    source = str(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise BackendError(f"cannot read beamline profile {source}: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise BackendError(f"beamline profile {source} is not valid YAML: {exc}") from None
    if not isinstance(raw, Mapping):
        raise BackendError(f"beamline profile {source} must be a mapping")
    missing = [k for k in ("name", "backend", "beamline", "devices") if k not in raw]
    if missing:
        raise BackendError(f"beamline profile {source} lacks {', '.join(missing)}")
    devices = {n: _device_spec(n, b, source) for n, b in raw["devices"].items()}
    suspenders = raw.get("suspenders") or {}
    if not isinstance(suspenders, Mapping):
        raise BackendError(f"{source}: suspenders must map names to conditions")
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
        suspenders=tuple(_suspender(str(n), b, devices, source) for n, b in suspenders.items()),
    )
