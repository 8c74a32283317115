"""What every epics device shares: the channels, the clock, the settings, one watchdog.

The watchdog is a single thread that runs deadlines (an unacknowledged put, a
readback that does not arrive) so that a device never needs a thread of its own
and no failure waits longer than its bounded time.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from expctl.clock import Clock, WallClock
from expctl.epics.ca import Channel, ChannelSet
from expctl.epics.wiring import EpicsSettings
from expctl.errors import ExpctlError

__all__ = ["MARGIN", "Link", "Watchdog", "read_together"]

log = logging.getLogger(__name__)


class Watchdog:
    """Runs ``fn()`` after ``seconds`` (wall time) on one daemon thread."""

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, Callable[[], None]]] = []
        self._count = itertools.count()
        self._cond = threading.Condition()
        self._closed = False
        self._thread = threading.Thread(target=self._loop, name="epics-watchdog", daemon=True)
        self._thread.start()

    def after(self, seconds: float, fn: Callable[[], None]) -> None:
        with self._cond:
            heapq.heappush(self._heap, (time.monotonic() + seconds, next(self._count), fn))
            self._cond.notify()

    def _loop(self) -> None:
        while True:
            with self._cond:
                while not self._closed and (
                        not self._heap or self._heap[0][0] > time.monotonic()):
                    wait = self._heap[0][0] - time.monotonic() if self._heap else None
                    self._cond.wait(wait)
                if self._closed:
                    return
                _, _, fn = heapq.heappop(self._heap)
            try:
                fn()
            except Exception:  # a bug in one job must not stop every later deadline
                log.exception("epics watchdog job %r failed", fn)

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify()
        self._thread.join(timeout=1.0)


#: Wall seconds every action may take beyond twice what it should take.
MARGIN = 10.0


@dataclass
class Link:
    """The shared context of one epics beamline's devices."""

    channels: ChannelSet
    clock: Clock
    settings: EpicsSettings
    watchdog: Watchdog

    def channel(self, name: str | None) -> Channel | None:
        return None if name is None else self.channels[name]

    @property
    def speed(self) -> float:
        """Session-clock seconds per wall second (a sped-up simulated IOC)."""
        return float(self.clock.speed) if isinstance(self.clock, WallClock) else 1.0

    def bound(self, expected: float) -> float:
        """A status timeout (session-clock seconds) for an action expected to take
        ``expected`` of them: twice that, plus :data:`MARGIN` wall seconds."""
        return 2.0 * expected + MARGIN * self.speed

    def wall(self, clock_seconds: float) -> float:
        """Session-clock seconds as wall seconds."""
        return clock_seconds / self.speed


def read_together(channels: Iterable[Channel], timeout: float,
                  then: Callable[[dict[str, Any]], None], watchdog: Watchdog) -> None:
    """Read ``channels`` at once (pipelined); ``then(values by PV name)`` once all answered,
    or after ``timeout`` with those that did (from caproto's or the watchdog's thread)."""
    wanted = list(channels)
    values: dict[str, Any] = {}
    lock = threading.Lock()
    state = {"open": True}

    def finish() -> None:
        with lock:
            if not state["open"]:
                return
            state["open"] = False
        then(dict(values))

    def got(name: str) -> Callable[[Any], None]:
        def store(value: Any) -> None:
            with lock:
                values[name] = value
                complete = len(values) == len(wanted)
            if complete:
                finish()
        return store

    if not wanted:
        then({})
        return
    watchdog.after(timeout, finish)
    for channel in wanted:
        try:
            channel.get_async(timeout, got(channel.name))
        except ExpctlError:  # a disconnected channel just gives no value
            continue
