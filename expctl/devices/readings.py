"""Every device of a beamline at a glance: reading, units, limits, access (``wa``)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from expctl.devices.profile import DeviceSpec, Profile
from expctl.devices.protocols import Device, Readable
from expctl.errors import ExpctlError

__all__ = ["device_readings"]


def device_readings(profile: Profile, devices: Mapping[str, Device], *,
                    passive: bool = False) -> dict[str, dict[str, Any]]:
    """Each profile device's reading now (or why it cannot be read), kind, units, limits,
    access level and description; ``passive``: only devices that can be set are read
    (``"(busy)"`` for the instruments, whose reading may take shot data)."""
    out: dict[str, dict[str, Any]] = {}
    for name, spec in profile.devices.items():
        device = devices.get(name)
        value: Any = None
        if passive and not (callable(getattr(device, "set", None))
                            or callable(getattr(device, "request", None))):
            value = "(busy)"
        elif isinstance(device, Readable):
            try:
                value = device.read().get(name)
            except ExpctlError as exc:
                value = f"unreadable: {exc.message}"
        out[name] = {"kind": spec.kind, "value": value, "units": spec.units,
                     "limits": spec.limits.describe() if _has_limits(spec) else "",
                     "access": spec.access.label, "description": spec.description}
    return out


def _has_limits(spec: DeviceSpec) -> bool:
    lim = spec.limits
    return lim.choices is not None or lim.low != -math.inf or lim.high != math.inf
