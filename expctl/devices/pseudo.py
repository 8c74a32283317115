"""Pseudo-axes: one user-facing coordinate that drives several real axes.

The split-delay line is the canonical case: a delay in ps moves several
translation stages, each by ``scale × delay + offset`` in its own units.
"""

from __future__ import annotations

from collections.abc import Mapping

from expctl.clock import Clock
from expctl.devices.access import AccessLevel
from expctl.devices.limits import Limits
from expctl.devices.protocols import Movable, SignalInfo
from expctl.devices.status import Status, all_of
from expctl.errors import LimitError

__all__ = ["LinearPseudoAxis"]


class LinearPseudoAxis:
    """A pseudo-axis whose real axes move linearly with it.

    Args:
        name: the pseudo-axis name (``delay``).
        units: its units (``ps``).
        components: real axis -> (scale, offset) in real units per pseudo unit.
        clock: the clock statuses are measured on.
        limits: the pseudo-axis' own limits; the real axes' limits apply too.
    """

    def __init__(self, name: str, units: str,
                 components: Mapping[str, tuple[Movable, float, float]], clock: Clock,
                 limits: Limits | None = None,
                 access: AccessLevel = AccessLevel.USER) -> None:
        self.name = name
        self.units = units
        self.access = access
        self.components = dict(components)
        self.limits = limits or Limits(units=units)
        self._clock = clock
        self.safe_value = None

    def _targets(self, value: float) -> dict[Movable, float]:
        return {axis: scale * value + offset for axis, scale, offset in self.components.values()}

    def check_value(self, value: float | str) -> None:
        self.limits.check(self.name, value)
        for axis, target in self._targets(float(value)).items():
            try:
                axis.check_value(target)
            except LimitError as exc:
                raise LimitError(
                    f"{self.name} = {value} {self.units} would need {exc.message}",
                    device=self.name, allowed=exc.allowed,
                ) from None

    @property
    def position(self) -> float:
        """The pseudo position implied by the first real axis."""
        axis, scale, offset = next(iter(self.components.values()))
        return (axis.position - offset) / scale

    def set(self, value: float | str) -> Status:
        self.check_value(value)
        statuses = [axis.set(target) for axis, target in self._targets(float(value)).items()]
        return all_of(self.name, statuses, self._clock.now())

    def stop(self) -> None:
        for axis, _, _ in self.components.values():
            stop = getattr(axis, "stop", None)
            if stop is not None:
                stop()

    def read(self) -> dict[str, float | str]:
        return {self.name: self.position}

    def describe(self) -> dict[str, SignalInfo]:
        return {self.name: SignalInfo(self.units)}
