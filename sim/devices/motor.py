"""Simulated motors: trapezoidal velocity profiles computed analytically on the clock."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from expctl.devices.access import AccessLevel
from expctl.devices.profile import DeviceSpec
from expctl.devices.protocols import SignalInfo
from expctl.devices.status import Status
from expctl.errors import DeviceTimeoutError, MotorStallError
from expctl.units import format_quantity

if TYPE_CHECKING:
    from sim.world import SimWorld

__all__ = ["SimMotor", "Trajectory", "move_time"]


def move_time(distance: float, velocity: float, acceleration: float) -> float:
    """Duration of a point-to-point move with a trapezoidal (or triangular) profile."""
    d = abs(distance)
    if d == 0:
        return 0.0
    if d >= velocity * velocity / acceleration:
        return d / velocity + velocity / acceleration
    return 2.0 * math.sqrt(d / acceleration)


@dataclass(frozen=True, slots=True)
class Trajectory:
    """One move from ``x0`` at ``t0`` to ``x1``; positions at any time, vectorised."""

    t0: float
    x0: float
    x1: float
    velocity: float
    acceleration: float

    @property
    def duration(self) -> float:
        return move_time(self.x1 - self.x0, self.velocity, self.acceleration)

    def at(self, t: np.ndarray | float) -> np.ndarray:
        """Positions at clock times ``t`` (before t0: x0, after the end: x1)."""
        t = np.asarray(t, dtype=np.float64)
        d = abs(self.x1 - self.x0)
        if d == 0:
            return np.full(t.shape, self.x1)
        v, a = self.velocity, self.acceleration
        total = self.duration
        tau = np.clip(t - self.t0, 0.0, total)
        if d >= v * v / a:
            ta = v / a
            s = np.where(tau < ta, 0.5 * a * tau ** 2,
                         np.where(tau < total - ta, 0.5 * v * ta + v * (tau - ta),
                                  d - 0.5 * a * (total - tau) ** 2))
        else:
            tp = total / 2.0
            s = np.where(tau < tp, 0.5 * a * tau ** 2, d - 0.5 * a * (total - tau) ** 2)
        return self.x0 + math.copysign(1.0, self.x1 - self.x0) * s


class SimMotor:
    """A stepper/servo axis with limits, speed, acceleration and settle time.

    Profile options: ``initial`` (position), ``settle`` (s after the trapezoid),
    ``timeout`` (s, how long a move may take before it times out).
    """

    def __init__(self, spec: DeviceSpec, world: SimWorld) -> None:
        self.name = spec.name
        self.units = spec.units
        self.limits = spec.limits
        self.access: AccessLevel = spec.access
        self.safe_value = spec.safe
        self.velocity = float(spec.velocity or 1.0)
        self.acceleration = float(spec.acceleration or 10.0 * self.velocity)
        self.settle = float(spec.options.get("settle", 0.0))
        self.timeout = float(spec.options.get("timeout", 600.0))
        self.equipment = spec.equipment
        self._world = world
        x = float(spec.options.get("initial", 0.0))
        self._traj = Trajectory(0.0, x, x, self.velocity, self.acceleration)

    @property
    def position(self) -> float:
        return float(self._traj.at(self._world.clock.now()))

    def positions_at(self, times: np.ndarray) -> np.ndarray:
        """Positions at clock times (valid from the last command on)."""
        return self._traj.at(times)

    def check_value(self, value: float | str) -> None:
        self.limits.check(self.name, value)

    def move_duration(self, target: float) -> float:
        """How long a move from here to ``target`` takes, settle included."""
        return move_time(float(target) - self.position, self.velocity, self.acceleration) + (
            self.settle if float(target) != self.position else 0.0)

    def set(self, value: float | str) -> Status:
        self.check_value(value)
        target = float(value)
        world = self._world
        now = world.clock.now()
        world.before_change(self.name)
        here = self.position
        if (fault := world.faults.take("timeout", self.name)) is not None:
            after = float(fault.get("after", 10.0))
            self._traj = Trajectory(now, here, here, self.velocity, self.acceleration)
            return Status(self.name, now, now + after, error=DeviceTimeoutError(
                f"{self.name} did not respond within {after:g} s", device=self.name))
        if (fault := world.faults.take("stall", self.name)) is not None:
            frac = float(fault.get("fraction", 0.5))
            stop = here + frac * (target - here)
            self._traj = Trajectory(now, here, stop, self.velocity, self.acceleration)
            return Status(self.name, now, now + self._traj.duration, error=MotorStallError(
                f"{self.name} stalled at {format_quantity(stop, self.units)}, "
                f"{format_quantity(abs(target - stop), self.units)} short of "
                f"{format_quantity(target, self.units)}", device=self.name))
        self._traj = Trajectory(now, here, target, self.velocity, self.acceleration)
        done = now + self._traj.duration + (self.settle if target != here else 0.0)
        return Status(self.name, now, done, timeout=self.timeout)

    def stop(self) -> None:
        now = self._world.clock.now()
        self._world.before_change(self.name)
        here = self.position
        self._traj = Trajectory(now, here, here, self.velocity, self.acceleration)

    def read(self) -> dict[str, float | str]:
        return {self.name: self.position}

    def describe(self) -> dict[str, SignalInfo]:
        return {self.name: SignalInfo(self.units, self.equipment)}

    def __repr__(self) -> str:
        return f"SimMotor({self.name!r}, {self.position:.6g} {self.units})"
