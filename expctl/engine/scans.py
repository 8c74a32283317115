"""Recorded scans as the engine sees them: numbering, the one open scan, its events.

A plan opens a scan (:class:`~expctl.plans.actions.OpenScan`), records its
points and closes it; the engine turns each into an event
(:class:`~expctl.engine.events.ScanOpened`, ``ScanPointTaken``, ``ScanClosed``)
for the run log and the displays.  When a plan ends early — stopped, aborted,
failed — the engine closes the open scan with that outcome, so the points
already taken stay in the record, marked.

Numbers come from an injected source (the session hands in the catalog's, so
scan numbers are unique in a data directory and survive restarts); an engine
without one counts from 1, as a rehearsal does.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from expctl.devices.deferred import plain_reading
from expctl.engine.events import RunContext, ScanClosed, ScanOpened, ScanPointTaken
from expctl.errors import ExpctlError, LimitError, SequenceError
from expctl.plans.actions import OpenScan, RecordPoint

__all__ = ["ScanBook", "ScanNumbers", "limit_problems"]

#: Gives the next scan number (e.g. the catalog reserving a row).
ScanNumbers = Callable[[], int]


class ScanBook:
    """The engine's record of the scan a plan has open (at most one at a time)."""

    def __init__(self, numbers: ScanNumbers | None = None) -> None:
        self._numbers: ScanNumbers = numbers or itertools.count(1).__next__
        self.open: ScanOpened | None = None
        self.taken = 0

    def begin(self, action: OpenScan, now: float, units: Mapping[str, str],
              context: RunContext) -> ScanOpened:
        """Number and open a scan; a plan may not open a second one inside the first."""
        if self.open is not None:
            raise SequenceError(
                f"scan {self.open.number} ({self.open.kind}) is still open: a plan records "
                "one scan at a time", hint="Close the first scan before opening another.")
        opened = ScanOpened(
            number=int(self._numbers()), kind=action.kind, axes=tuple(action.axes),
            points=int(action.points), time=now, detectors=tuple(action.detectors),
            command=action.command, signal=action.signal, i0=action.i0,
            shape=tuple(action.shape), metadata=dict(action.metadata), units=dict(units),
            context=context)
        self.open, self.taken = opened, 0
        return opened

    def point(self, action: RecordPoint, now: float) -> ScanPointTaken:
        """The next point of the open scan."""
        if self.open is None:
            raise SequenceError("a plan recorded a scan point with no scan open",
                                hint="Yield OpenScan(...) before RecordPoint(...).")
        taken = ScanPointTaken(self.open.number, self.taken, plain_reading(action.values), now)
        self.taken += 1
        return taken

    def end(self, outcome: str, now: float) -> ScanClosed | None:
        """Close the open scan (None if there is none)."""
        if self.open is None:
            return None
        closed = ScanClosed(self.open.number, outcome, self.taken, now)
        self.open = None
        return closed


def limit_problems(targets: Mapping[str, Iterable[Any]],
                   check: Callable[[str, float], None]) -> list[ExpctlError]:
    """Every axis with a target its limits refuse, each as one error naming the first bad
    point and how many there are (``check(axis, value)`` raises LimitError)."""
    problems: list[ExpctlError] = []
    for axis, values in targets.items():
        values = list(values)
        first: LimitError | None = None
        first_at, bad = -1, 0
        for i, value in enumerate(values):
            if not isinstance(value, int | float) or not math.isfinite(value):
                problems.append(LimitError(f"{axis} point {i + 1} is {value!r}, not a finite "
                                           "number", device=axis))
                continue
            try:
                check(axis, float(value))
            except LimitError as err:
                bad += 1
                if first is None:
                    first, first_at = err, i
        if first is not None:
            where = (f"point {first_at + 1} of {len(values)}" if len(values) > 1 else "")
            more = f" ({bad} of {len(values)} points are outside)" if bad > 1 else ""
            problems.append(LimitError(f"{where}: {first.message}{more}" if where
                                       else first.message, device=axis,
                                       allowed=first.allowed, hint=first.hint))
    return problems
