"""Limits and units that every settable device declares, and their checks."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from expctl.errors import LimitError
from expctl.units import format_quantity

__all__ = ["Limits"]


@dataclass(frozen=True, slots=True)
class Limits:
    """Allowed targets of a device: a closed numeric range, or a list of choices.

    Args:
        low: lowest allowed numeric target (inclusive).
        high: highest allowed numeric target (inclusive).
        units: the device's units (used in messages).
        choices: the only allowed values, for discrete devices (gains, foils, states).
    """

    low: float = -math.inf
    high: float = math.inf
    units: str = ""
    choices: tuple[object, ...] | None = None

    def describe(self) -> str:
        """The allowed range as a user reads it, e.g. ``-5 .. 5 mm``."""
        if self.choices is not None:
            return self._describe_choices()
        return f"{format_quantity(self.low, '')} .. {format_quantity(self.high, self.units)}"

    def _describe_choices(self) -> str:
        """List a few choices in full; summarise a long numeric set (a foil ladder) as a range."""
        choices = self.choices or ()
        numeric = all(isinstance(c, int | float) and not isinstance(c, bool) for c in choices)
        if not numeric or len(choices) <= 8:
            return ", ".join(
                format_quantity(c, self.units) if numeric and isinstance(c, int | float)
                else str(c) for c in choices
            )
        values = sorted(float(c) for c in choices if isinstance(c, int | float))
        steps = {round(b - a, 9) for a, b in zip(values, values[1:], strict=False)}
        n = len(values)
        if len(steps) == 1:
            return (f"{format_quantity(values[0], '')} .. {format_quantity(values[-1], self.units)}"
                    f" in steps of {format_quantity(steps.pop(), self.units)} ({n} values)")
        head = ", ".join(format_quantity(v, "") for v in values[:3])
        return f"{head}, …, {format_quantity(values[-1], self.units)} ({n} values)"

    def check(self, device: str, value: object) -> None:
        """Raise :class:`LimitError` naming the device, target and allowed range."""
        if type(value) is float and self.choices is None and self.low <= value <= self.high:
            return  # the common case first: a number within range (NaN fails the test)
        if self.choices is not None:
            if value in self.choices:
                return
            shown = format_quantity(value, self.units) if isinstance(value, int | float) else value
            raise LimitError(
                f"{device} cannot be set to {shown}", device=device, allowed=self.describe()
            )
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise LimitError(
                f"{device} needs a number in {self.units or 'plain units'}, got {value!r}",
                device=device, allowed=self.describe(),
            )
        if not (self.low <= value <= self.high) or math.isnan(value):
            raise LimitError(
                f"{device} target {format_quantity(value, self.units)} is outside its limits",
                device=device, allowed=self.describe(),
            )

    def contains(self, value: object) -> bool:
        """True if ``value`` passes :meth:`check`."""
        try:
            self.check("", value)
        except LimitError:
            return False
        return True

    @classmethod
    def from_spec(
        cls, spec: Sequence[float] | None, units: str, choices: Sequence[object] | None = None
    ) -> Limits:
        """Build from a profile's ``limits: [low, high]`` and optional ``choices``."""
        if choices is not None:
            return cls(units=units, choices=tuple(choices))
        if spec is None:
            return cls(units=units)
        low, high = float(spec[0]), float(spec[1])
        return cls(low, high, units)
