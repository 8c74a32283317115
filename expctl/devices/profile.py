"""Beamline profiles: the YAML file that names every device of a beamline.

The generic part (names, kinds, units, limits, access, safe values, speeds) is
read here so expctl can validate sequences without a backend; everything else
(``physics:``, per-device extras) is passed to the backend untouched.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from expctl.devices.access import AccessLevel
from expctl.devices.limits import Limits
from expctl.errors import BackendError
from expctl.inputs import InputLimitError, ValueCap, ValueCapReached, expanded_size, read_limited

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

    def device(self, name: str) -> DeviceSpec:
        """The spec of ``name`` (raises KeyError for unknown names)."""
        return self.devices[name]

    def with_seed(self, seed: int) -> Profile:
        """The same profile with another seed (``--seed``)."""
        return Profile(self.name, self.backend, self.beamline, seed, self.devices,
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


#: A profile is a page of device definitions; anything far larger is refused unread.
MAX_PROFILE_BYTES = 1_000_000
#: Values in a profile (anchors and aliases expanded), and its nesting depth.
MAX_PROFILE_VALUES = 20_000
MAX_PROFILE_DEPTH = 64


class _Loader(ValueCap, yaml.SafeLoader):
    limit = MAX_PROFILE_VALUES


def _read_yaml(path: Path) -> Any:
    """The profile's YAML, bounded in size, values and depth before it is built."""
    too_many = InputLimitError(f"more than {MAX_PROFILE_VALUES} values or {MAX_PROFILE_DEPTH} "
                               "levels (anchors and aliases expanded)")
    loader = _Loader(read_limited(path, MAX_PROFILE_BYTES, "profile file").decode("utf-8"))
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        values, depth = expanded_size(node)
        if values > MAX_PROFILE_VALUES or depth > MAX_PROFILE_DEPTH:
            raise too_many
        return loader.construct_document(node)
    except ValueCapReached:
        raise too_many from None
    finally:
        loader.dispose()


def load_profile(path: Path) -> Profile:
    """Read and check a profile file; problems raise :class:`BackendError` naming the file."""
    source = str(path)
    try:
        raw = _read_yaml(path)
    except InputLimitError as exc:
        raise BackendError(f"beamline profile {source}: {exc.message}", hint=exc.hint) from None
    except OSError as exc:
        raise BackendError(f"cannot read beamline profile {source}: {exc.strerror}") from None
    except (yaml.YAMLError, ValueError, RecursionError) as exc:  # incl. UnicodeDecodeError
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
