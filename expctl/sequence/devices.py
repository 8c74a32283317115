"""Turning a sequence value into a device target: units, kind, limits, access.

Used twice with the same rules: by the static checker (every loop value, no
hardware) and by the compiler (the values actually sent).  A profile's
:class:`~expctl.devices.profile.DeviceSpec` is all it needs.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from expctl.devices.access import AccessLevel, check_access
from expctl.devices.profile import DeviceSpec
from expctl.errors import AccessError, LimitError, Location, SequenceError, UnitError
from expctl.sequence.expr import Unknown, describe_value
from expctl.sequence.suggest import did_you_mean
from expctl.units import Quantity, convert, dimension_of

__all__ = ["SETTABLE_KINDS", "device_spec", "is_settable", "to_device_units", "target"]

#: profile kinds that take targets; other devices take them only if they declare limits
SETTABLE_KINDS = frozenset({"motor", "pseudo", "shutter", "attenuator", "switchable",
                            "accelerator"})


def device_spec(devices: Mapping[str, DeviceSpec], name: str, loc: Location,
                what: str = "device") -> DeviceSpec:
    """The spec of ``name``, or a SequenceError with a did-you-mean."""
    if name in devices:
        return devices[name]
    raise SequenceError(f"unknown {what} {name!r}", location=loc, device=name,
                        hint=did_you_mean(name, devices)
                        or "See `expctl devices` for the names.")


def is_settable(spec: DeviceSpec) -> bool:
    """True when the profile says the device takes targets (a settable kind, or limits)."""
    lim = spec.limits
    return (spec.kind in SETTABLE_KINDS or lim.choices is not None
            or math.isfinite(lim.low) or math.isfinite(lim.high))


def to_device_units(spec: DeviceSpec, value: Any, loc: Location) -> Any:
    """``value`` in the device's units: quantities converted, numbers taken as-is, states kept.

    Returns an :class:`Unknown` (with the device's units) for run-time values
    whose units fit, so callers can skip the limit check.
    """
    dev = spec.name
    units = spec.units
    if isinstance(value, Unknown):
        if value.unit and units and value.unit != units:
            _convert(spec, 1.0, value.unit, loc, f"{value.what}")
        return Unknown(units)
    if isinstance(value, Quantity):
        if not units:
            raise UnitError(f"{dev} takes plain values or states, got {value}", location=loc,
                            device=dev, allowed=spec.limits.describe())
        return _snap(spec, _convert(spec, value.value, value.unit, loc, str(value)))
    if isinstance(value, bool):
        raise SequenceError(f"{dev} cannot be set to {str(value).lower()}", location=loc,
                            device=dev, allowed=spec.limits.describe())
    if isinstance(value, int | float):
        if not math.isfinite(value):
            raise LimitError(f"{dev} target {value} is not a finite number", location=loc,
                             device=dev, allowed=spec.limits.describe())
        return _snap(spec, float(value))
    if isinstance(value, str):
        return value
    raise SequenceError(f"{dev} needs a single value, got {describe_value(value)}",
                        location=loc, device=dev, allowed=spec.limits.describe())


def _convert(spec: DeviceSpec, value: float, unit: str, loc: Location, shown: str) -> float:
    try:
        return convert(value, unit, spec.units)
    except UnitError:
        raise UnitError(
            f"{spec.name} is in {spec.units} ({dimension_of(spec.units)}); {shown} is "
            f"{_article(dimension_of(unit))}", location=loc, device=spec.name,
            allowed=spec.limits.describe()) from None


def _article(dimension: str) -> str:
    return f"an {dimension}" if dimension[:1] in "aeiou" else f"a {dimension}"


def _snap(spec: DeviceSpec, value: float) -> float:
    """Round conversion noise (0.2 mm -> 200.00000000000003 um) onto a listed choice."""
    for c in spec.limits.choices or ():
        if isinstance(c, int | float) and not isinstance(c, bool) and math.isclose(
                value, c, rel_tol=1e-9, abs_tol=1e-12):
            return float(c)
    return value


def target(spec: DeviceSpec, raw: Any, verb: str, loc: Location,
           access: AccessLevel = AccessLevel.USER, context: str = "") -> Any:
    """Check that ``verb`` (move/set/request) of ``raw`` on ``spec`` is allowed; return the value.

    Args:
        spec: the device.
        raw: the evaluated sequence value.
        verb: ``move``, ``set`` or ``request``.
        loc: where the value was written.
        access: the session's access level.
        context: loop values that produced ``raw`` (``"when delay = 60 ps"``), for messages.
    """
    dev = spec.name
    if verb == "request":
        if spec.access is not AccessLevel.ACCELERATOR:
            raise AccessError(f"{dev} is not an accelerator parameter; it cannot be requested",
                              location=loc, device=dev,
                              hint=f"Use `{'move' if _numeric(spec) else 'set'}: {{{dev}: "
                                   "VALUE}` instead.")
    else:
        if not is_settable(spec):
            raise SequenceError(f"{dev} is a {spec.kind} and can only be read", location=loc,
                                device=dev)
        try:
            check_access(dev, spec.access, access, verb="set" if verb == "set" else "moved")
        except AccessError as exc:
            raise AccessError(exc.message, location=loc, device=dev, hint=exc.hint) from None
        if verb == "move" and not _numeric(spec):
            raise SequenceError(f"{dev} has states, not positions; use `set:` to change it",
                                location=loc, device=dev, allowed=spec.limits.describe())
    value = to_device_units(spec, raw, loc)
    if isinstance(value, Unknown):
        return value
    if isinstance(value, str) and _numeric(spec):
        raise SequenceError(f"{dev} needs a number in {spec.units or 'plain units'}, got "
                            f"{value!r}", location=loc, device=dev,
                            allowed=spec.limits.describe())
    try:
        spec.limits.check(dev, value)
    except LimitError as exc:
        suffix = f" {context}" if context else ""
        raise LimitError(exc.message + suffix, location=loc, device=dev,
                         allowed=exc.allowed) from None
    return value


def _numeric(spec: DeviceSpec) -> bool:
    choices = spec.limits.choices
    if choices is None:
        return True
    return all(isinstance(c, int | float) and not isinstance(c, bool) for c in choices)

