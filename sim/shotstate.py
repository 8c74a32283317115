"""The device state shots see, and how device values become it.

:class:`RoleMap` says which device plays which part (from the profile's roles) and
turns device values into a :class:`ShotState` (plain numbers where a device is
constant over the shots, per-shot arrays otherwise); :class:`SettledState` keeps the
state of one shot after every command has settled, so a step-scan point asks one
device again, not all of them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

__all__ = ["RoleMap", "SettledState", "ShotState", "Value"]

_new = object.__new__

Value = Any  # a float (constant over the shots) or a per-shot array


@dataclass(slots=True)
class ShotState:
    """The device state the shots see: floats where constant, per-shot arrays otherwise."""

    beam_on: Value
    shutter_open: Value
    pump_on: Value
    energy_kev: Value
    thickness_um: Value
    gain: Value  # index of the I0 amplifier's gain range
    theta_deg: Value
    x_mm: Value
    y_mm: Value
    delay_ps: Value


#: devices of :attr:`RoleMap.names` whose value is their part of the state as it is
#: (energy, I0 gain, theta, x, y; the others are turned into flags, a thickness, a delay)
AS_IS = frozenset({2, 4, 5, 6, 7})


def _lookup(table: np.ndarray, index: Value) -> Value:
    if not isinstance(index, np.ndarray):
        return float(table[int(index)])
    return table[np.asarray(index, dtype=np.int64)]


@dataclass(frozen=True)
class RoleMap:
    """Which device plays which part, and the tables that turn device values into physics.

    Built once from the profile; :meth:`state` reads commands (``Trajectory``/``Step``
    objects with ``sample(times)``) by device name, live or replayed from the time line.
    The delay is the sum of the delay devices' terms: an accelerator or laser delay as
    set, a split-delay pseudo-axis through each of its stages (``weight · (v - offset) /
    scale`` with the stage's delay-per-mm error in the weight), minus where their true
    zeros lie (``physics.timing.zero_offsets_ps``).
    """

    shutter: str
    open_index: int
    pump: str
    on_code: float
    energy: str
    attenuator: str
    thickness: np.ndarray
    gain: str
    theta: str
    x_axis: str
    y_axis: str
    delays: tuple[tuple[str, float, float, float], ...]  # (device, scale, offset, weight)
    delay_zero: float = 0.0
    #: every device the state depends on, in the order :meth:`state_from` takes their values
    names: tuple[str, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "names", (
            self.shutter, self.pump, self.energy, self.attenuator, self.gain, self.theta,
            self.x_axis, self.y_axis, *(d for d, _, _, _ in self.delays)))

    @classmethod
    def from_profile(cls, profile: Any, x_axis: str, y_axis: str) -> RoleMap:
        roles = dict(profile.raw.get("roles", {}) or {})
        timing = dict(dict(profile.physics).get("timing", {}) or {})
        errors = {str(k): float(v) for k, v in dict(timing.get("stage_errors", {})).items()}
        zeros = {str(k): float(v) for k, v in dict(timing.get("zero_offsets_ps", {})).items()}
        devs = profile.devices
        shutter = devs[roles["shutter"]]
        pump = devs[roles["pump"]]
        att = devs[roles["attenuator"]]
        delays = []
        zero = 0.0
        for name in roles.get("delays", []):
            if devs[name].kind == "pseudo":
                comps = dict(devs[name].options["components"])
                for axis, comp in comps.items():
                    weight = (1.0 + errors.get(str(axis), 0.0)) / len(comps)
                    delays.append((str(axis), float(comp["scale"]),
                                   float(comp.get("offset", 0.0)), weight))
                    zero += weight * zeros.get(name, 0.0)
            else:
                delays.append((name, 1.0, 0.0, 1.0))
                zero += zeros.get(name, 0.0)
        return cls(
            shutter=shutter.name, open_index=list(shutter.limits.choices).index("open"),
            pump=pump.name, on_code=float(list(pump.limits.choices).index("on")),
            energy=roles["energy"], attenuator=att.name,
            thickness=np.asarray(att.limits.choices, dtype=np.float64),
            gain=devs[roles["pd_gain"]].name, theta=roles["theta"], x_axis=x_axis,
            y_axis=y_axis, delays=tuple(delays), delay_zero=zero)

    def state(self, commands: Mapping[str, Any], times: np.ndarray, beam_on: Value
              ) -> ShotState:
        """The state at increasing clock ``times`` from the devices' commands."""
        return self.state_from([commands[name].sample(times) for name in self.names], beam_on)

    def state_from(self, values: list[Value], beam_on: Value) -> ShotState:
        """The state from each device's value (in :attr:`names` order; numbers or arrays)."""
        return self.assemble([self.part(i, v) for i, v in enumerate(values)], beam_on)

    def part(self, index: int, value: Value) -> Value:
        """What device ``index`` (of :attr:`names`) at ``value`` adds to the state: its
        field, or for a delay device its term of the delay."""
        if index >= 8:
            _, scale, offset, weight = self.delays[index - 8]
            if scale == 1.0 and offset == 0.0 and weight == 1.0:
                return value
            return weight * (value - offset) / scale
        if index in AS_IS:
            return value
        if index == 0:
            return value == self.open_index
        if index == 1:
            return value == self.on_code
        return _lookup(self.thickness, value)  # index 3: the attenuator's choice

    def assemble(self, parts: list[Value], beam_on: Value) -> ShotState:
        """The state from every device's :meth:`part`."""
        delay: Value = -self.delay_zero
        for term in parts[8:]:
            delay = delay + term
        state = _new(ShotState)  # (ShotState(...) without calling the class: once per point)
        (state.shutter_open, state.pump_on, state.energy_kev, state.thickness_um, state.gain,
         state.theta_deg, state.x_mm, state.y_mm) = parts[:8]
        state.beam_on, state.delay_ps = beam_on, delay
        return state


class SettledState:
    """The state of one shot after every command has settled, kept between changes.

    A command holds one value from its settle time on (a motor at its target,
    a switch after its transit), so a shot after every settle time sees just
    those values.  The world says which device is about to change
    (:meth:`changing`); only those are asked again, so a step-scan point costs
    one device, not a sampling of all of them.  :meth:`at` answers ``None``
    when it cannot (a shot before a settle time, a change announced but not
    made yet): the caller samples the commands instead.

    Args:
        role_map: how device values become the state.
        devices: the beamline's devices by name (those of ``role_map.names`` are looked
            up when first asked, so they may register after).
    """

    def __init__(self, role_map: RoleMap, devices: Mapping[str, Any]) -> None:
        self._role_map = role_map
        self._devices = devices
        n = len(role_map.names)
        self._commands: list[Any] = [None] * n
        self._times = [math.inf] * n
        self._parts: list[Any] = [None] * n
        self._dirty = set(range(n))
        self._from = math.inf
        self._state: ShotState | None = None

    def changing(self, index: int) -> None:
        """Device ``index`` (of ``role_map.names``) is about to get a new command."""
        self._dirty.add(index)

    def at(self, t: float, beam_on: bool) -> ShotState | None:
        """The state of a shot at clock time ``t``, or ``None`` if it must be sampled."""
        if self._dirty and not self._refresh():
            return None
        if t < self._from:
            return None
        state = self._state
        return state if beam_on else replace(state, beam_on=False)

    def _refresh(self) -> bool:
        known, dirty, role_map, times = self._commands, self._dirty, self._role_map, self._times
        latest, stale = self._from, False  # the latest settle time (stale: look again)
        while dirty:
            i = dirty.pop()
            command = self._devices[role_map.names[i]].command
            if command is known[i]:  # announced, not made yet
                dirty.add(i)
                self._from = max(times)
                return False
            known[i] = command
            before = times[i]
            t, value = command.settled()
            times[i] = t
            if t >= latest:  # (a move ends after every earlier settle: the usual case)
                latest = t
            elif before >= latest:
                stale = True
            self._parts[i] = value if i in AS_IS else role_map.part(i, value)
        self._from = max(times) if stale else latest
        self._state = role_map.assemble(self._parts, True)
        return True
