"""Time as an injected dependency.

Every wait in expctl goes through a :class:`Clock`.  Simulated devices compute
when they will be done (velocity and acceleration profiles, request latencies)
instead of sleeping, so a :class:`VirtualClock` can jump straight to the next
deadline: hours of beamtime simulate in seconds, and tests never depend on the
machine's speed.  Real backends use :class:`WallClock`.
"""

from __future__ import annotations

import time
from typing import Protocol, runtime_checkable

from expctl.errors import ArgumentError

__all__ = ["Clock", "VirtualClock", "WallClock", "DEFAULT_EPOCH"]

#: Unix time at which a fresh virtual clock starts: 2026-01-15 09:00:00 JST,
#: inside the (fictional) 2026 beamtime period "202601".
DEFAULT_EPOCH = 1_768_435_200.0


@runtime_checkable
class Clock(Protocol):
    """Seconds on a monotonic time line, plus the Unix time of its zero."""

    epoch: float

    def now(self) -> float:
        """Seconds since the clock's epoch."""
        ...

    def sleep_until(self, deadline: float) -> None:
        """Return once ``now() >= deadline`` (at once if it already is)."""
        ...

    def sleep(self, seconds: float) -> None:
        """Let ``seconds`` pass."""
        ...

    @property
    def is_virtual(self) -> bool:
        """True when time jumps rather than passes."""
        ...


class VirtualClock:
    """A clock whose time moves only when someone waits: it jumps to the deadline.

    Args:
        start: initial reading in seconds since ``epoch``.
        epoch: Unix time of the zero reading (for timestamps in run records).
    """

    __slots__ = ("_now", "epoch")

    def __init__(self, start: float = 0.0, epoch: float = DEFAULT_EPOCH) -> None:
        self._now = float(start)
        self.epoch = float(epoch)

    def now(self) -> float:
        return self._now

    def sleep_until(self, deadline: float) -> None:
        if deadline > self._now:
            self._now = float(deadline)

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            self._now += seconds

    @property
    def is_virtual(self) -> bool:
        return True

    def __repr__(self) -> str:
        return f"VirtualClock(now={self._now:.6f})"


class WallClock:
    """Real time, optionally sped up (``speed=10`` runs a simulator ten times faster).

    Args:
        speed: simulated seconds per wall-clock second.
        epoch: Unix time of the zero reading; defaults to the moment of creation.
    """

    __slots__ = ("_t0", "epoch", "speed")

    def __init__(self, speed: float = 1.0, epoch: float | None = None) -> None:
        if speed <= 0:
            raise ArgumentError(f"WallClock speed must be positive, got {speed:g}")
        self.speed = float(speed)
        self._t0 = time.monotonic()
        self.epoch = time.time() if epoch is None else float(epoch)

    def now(self) -> float:
        return (time.monotonic() - self._t0) * self.speed

    def sleep_until(self, deadline: float) -> None:
        remaining = deadline - self.now()
        while remaining > 0:
            time.sleep(remaining / self.speed)
            remaining = deadline - self.now()

    def sleep(self, seconds: float) -> None:
        self.sleep_until(self.now() + seconds)

    @property
    def is_virtual(self) -> bool:
        return False
