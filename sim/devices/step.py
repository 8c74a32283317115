"""A value that switches from ``old`` to ``new`` at time ``t``: the command state of discrete
devices and accelerator parameters (shutter, gains, foils, pump, delay).

Like :class:`~sim.devices.motor.Trajectory` it answers for any shot time since
the command, returns a plain number when the value is constant over the shots
asked for (the common case, which keeps the shot model cheap), and packs into
one row of the facility's state time line so the archive can replay it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["Step"]


@dataclass(frozen=True, slots=True)
class Step:
    """``old`` before clock time ``t``, ``new`` from ``t`` on."""

    old: float
    new: float
    t: float

    def value(self, t: float) -> float:
        return self.new if t >= self.t else self.old

    def settled(self) -> tuple[float, float]:
        """(clock time from which the value no longer changes, that value)."""
        return self.t, self.new

    def sample(self, times: np.ndarray) -> float | np.ndarray:
        """Values at increasing ``times``: a float when constant over them, else an array."""
        if times[0] >= self.t:
            return self.new
        if times[-1] < self.t:
            return self.old
        return np.where(times >= self.t, self.new, self.old)

    def row(self) -> tuple[float, ...]:
        return (self.old, self.new, self.t, 0.0, 0.0)

    @classmethod
    def from_row(cls, row: np.ndarray) -> Step:
        return cls(float(row[0]), float(row[1]), float(row[2]))
