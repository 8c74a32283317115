"""Simulated motors: trapezoidal velocity profiles computed analytically on the clock."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np

from expctl.devices.access import AccessLevel
from expctl.devices.profile import DeviceSpec
from expctl.devices.protocols import SignalInfo
from expctl.devices.status import Status
from expctl.errors import DeviceTimeoutError, MotorStallError
from expctl.units import format_quantity

if TYPE_CHECKING:
    from sim.world import SimWorld

__all__ = ["SimMotor", "Trajectory", "move_time", "positions"]

_new = object.__new__


def move_time(distance: float, velocity: float, acceleration: float) -> float:
    """Duration of a point-to-point move with a trapezoidal (or triangular) profile."""
    d = abs(distance)
    if d == 0:
        return 0.0
    if d >= velocity * velocity / acceleration:
        return d / velocity + velocity / acceleration
    return 2.0 * math.sqrt(d / acceleration)


class Trajectory:
    """One move from ``x0`` at ``t0`` to ``x1``; positions at any time, vectorised.

    Immutable by convention (a new command is a new object: the shot model and
    the state time line tell commands apart by identity); a plain slotted class
    made by :meth:`starting` rather than a frozen dataclass, because a step scan
    makes one per point (and in Python 3.11 calling a class with an ``__init__``
    costs about twice the assignments).
    """

    __slots__ = ("acceleration", "end", "t0", "velocity", "x0", "x1")

    t0: float
    x0: float
    x1: float
    velocity: float
    acceleration: float
    #: clock time the move ends
    end: float

    @classmethod
    def starting(cls, t0: float, x0: float, x1: float, velocity: float,
                 acceleration: float) -> Trajectory:
        """The move from ``x0`` at ``t0`` to ``x1``."""
        traj = _new(cls)
        traj.t0, traj.x0, traj.x1 = t0, x0, x1
        traj.velocity, traj.acceleration = velocity, acceleration
        traj.end = t0 + move_time(x1 - x0, velocity, acceleration)
        return traj

    @property
    def duration(self) -> float:
        return move_time(self.x1 - self.x0, self.velocity, self.acceleration)

    def __repr__(self) -> str:
        return (f"Trajectory(t0={self.t0!r}, x0={self.x0!r}, x1={self.x1!r}, "
                f"velocity={self.velocity!r}, acceleration={self.acceleration!r})")

    def value(self, t: float) -> float:
        """Position at one clock time (cheap outside the move)."""
        if t >= self.end:
            return self.x1
        if t <= self.t0:
            return self.x0
        return float(self.at(t))

    def settled(self) -> tuple[float, float]:
        """(clock time from which the position no longer changes, that position)."""
        return self.end, self.x1

    def sample(self, times: np.ndarray) -> float | np.ndarray:
        """Positions at increasing ``times``: a float when the axis is still over them
        (one shot's time as a list: always a float)."""
        if isinstance(times, list) and len(times) == 1:
            return self.value(times[0])
        if times[0] >= self.end:
            return self.x1
        if times[-1] <= self.t0:
            return self.x0
        return self.at(times)

    def row(self) -> tuple[float, ...]:
        return (self.t0, self.x0, self.x1, self.velocity, self.acceleration)

    @classmethod
    def from_row(cls, row: np.ndarray) -> Trajectory:
        return cls.starting(*(float(v) for v in row[:5]))

    def at(self, t: np.ndarray | float) -> np.ndarray:
        """Positions at clock times ``t`` (before t0: x0, after the end: x1)."""
        return positions(np.asarray(t, dtype=np.float64), self.t0, self.x0, self.x1,
                         self.velocity, self.acceleration)


def positions(t: np.ndarray, t0: Any, x0: Any, x1: Any, velocity: Any, acceleration: Any
              ) -> np.ndarray:
    """Trapezoidal-profile positions at times ``t``; every parameter may be a per-time array
    (the archive replays many recorded moves at once)."""
    d = np.abs(np.subtract(x1, x0))
    v, a = velocity, acceleration
    trapezoid = d >= v * v / a
    with np.errstate(invalid="ignore", divide="ignore"):
        total = np.where(d == 0, 0.0, np.where(trapezoid, d / v + v / a, 2.0 * np.sqrt(d / a)))
        tau = np.clip(t - t0, 0.0, total)
        ta = np.where(trapezoid, v / a, total / 2.0)
        tail = d - 0.5 * a * (total - tau) ** 2
        cruise = np.where(trapezoid & (tau < total - ta), 0.5 * v * ta + v * (tau - ta), tail)
        s = np.where(tau < ta, 0.5 * a * tau ** 2, cruise)
    return np.where(d == 0, x1 + 0.0 * t, x0 + np.sign(np.subtract(x1, x0)) * s)


#: bound once (a classmethod looked up on its class makes a new bound method per call)
_starting = Trajectory.starting
_known = Status.known


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
        self._traj = Trajectory.starting(0.0, x, x, self.velocity, self.acceleration)

    @property
    def position(self) -> float:
        return self._traj.value(self._world.clock.now())

    @property
    def command(self) -> Trajectory:
        """The current move (what the shot model and the state time line sample)."""
        return self._traj

    def check_value(self, value: float | str) -> None:
        self.limits.check(self.name, value)

    def move_duration(self, target: float) -> float:
        """How long a move from here to ``target`` takes, settle included."""
        return move_time(float(target) - self.position, self.velocity, self.acceleration) + (
            self.settle if float(target) != self.position else 0.0)

    def set(self, value: float | str) -> Status:
        self.limits.check(self.name, value)
        target = float(value)
        world = self._world
        now = world.clock.now()
        world.before_change(self.name)
        here = self._traj.value(now)
        if world.faults.armed:
            failed = self._fault(now, here, target)
            if failed is not None:
                return failed
        self._traj = traj = _starting(now, here, target, self.velocity, self.acceleration)
        done = traj.end + (self.settle if target != here else 0.0)  # end = now + duration
        return _known(self.name, now, done, self.timeout)

    def _fault(self, now: float, here: float, target: float) -> Status | None:
        """The status of a move an armed fault spoils (timeout, stall), if one strikes."""
        world = self._world
        if (fault := world.faults.take("timeout", self.name)) is not None:
            after = float(fault.get("after", 10.0))
            self._traj = Trajectory.starting(now, here, here, self.velocity, self.acceleration)
            return Status(self.name, now, now + after, error=DeviceTimeoutError(
                f"{self.name} did not respond within {after:g} s", device=self.name))
        if (fault := world.faults.take("stall", self.name)) is not None:
            frac = float(fault.get("fraction", 0.5))
            stop = here + frac * (target - here)
            self._traj = Trajectory.starting(now, here, stop, self.velocity, self.acceleration)
            return Status(self.name, now, now + self._traj.duration, error=MotorStallError(
                f"{self.name} stalled at {format_quantity(stop, self.units)}, "
                f"{format_quantity(abs(target - stop), self.units)} short of "
                f"{format_quantity(target, self.units)}", device=self.name))
        return None

    def stop(self) -> None:
        now = self._world.clock.now()
        self._world.before_change(self.name)
        here = self.position
        self._traj = Trajectory.starting(now, here, here, self.velocity, self.acceleration)

    def read(self) -> dict[str, float | str]:
        return {self.name: self._traj.value(self._world.clock.now())}

    def describe(self) -> dict[str, SignalInfo]:
        return {self.name: SignalInfo(self.units, self.equipment)}

    def __repr__(self) -> str:
        return f"SimMotor({self.name!r}, {self.position:.6g} {self.units})"
