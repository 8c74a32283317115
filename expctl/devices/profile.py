"""Beamline profiles: the YAML file that names every device of a beamline.

The generic part (names, kinds, units, limits, access, safe values, speeds) is
read here so expctl can validate sequences without a backend; everything else
(``physics:``, per-device extras) is passed to the backend untouched.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

from expctl.devices.access import AccessLevel
from expctl.devices.limits import Limits
from expctl.errors import BackendError

__all__ = ["DeviceSpec", "Profile", "load_profile"]

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

    def serves(self, beamline: str) -> bool:
        """Whether a sequence written for ``beamline`` runs on this profile: its own name,
        or the simulator profile it names as its ``twin`` (the same beamline simulated)."""
        return beamline == self.name or beamline == self.raw.get("twin")

    def device(self, name: str) -> DeviceSpec:
        """The spec of ``name`` (raises KeyError for unknown names)."""
        return self.devices[name]

    def with_seed(self, seed: int) -> Profile:
        """The same profile with another seed (``--seed``)."""
        return Profile(self.name, self.backend, self.beamline, seed, self.devices,
                       self.physics, self.facility, self.path, self.raw)

    def with_initial(self, values: Mapping[str, Any]) -> Profile:
        """The same profile whose devices start at ``values`` (their ``initial`` option).

        Values a device's limits refuse, and unknown names, are left out: a simulated
        twin or a restarted IOC then starts that device from the profile's own value.
        """
        devices = dict(self.devices)
        for name, value in values.items():
            spec = devices.get(name)
            if spec is not None and spec.limits.contains(value):
                devices[name] = replace(spec, options={**spec.options, "initial": value})
        return Profile(self.name, self.backend, self.beamline, self.seed, devices,
                       self.physics, self.facility, self.path, self.raw)


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
    )
