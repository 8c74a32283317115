"""How long a running sequence still needs: weighted by time, with pauses left out.

Counting finished steps makes the estimate jump (a rocking curve and a
one-shot run are one step each) and counting wall time while paused makes it
grow while nothing happens.  :class:`Eta` follows the engine's events: each
finished step counts for the beamline time the rehearsal gave it, the pace so
far (active time / estimated time done) scales what is left — trusted more as
more of the work is done, so one slow first step does not multiply the rest —
and time spent paused or suspended is not active time.  The clock starts when
the engine starts running the plan (not while it is rehearsed).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["Eta", "leaf_seconds"]

#: engine states in which a plan makes no progress
_HOLDING = frozenset({"paused", "suspended"})
#: share of the estimated work after which the pace so far is fully trusted
_TRUST_AFTER = 0.25


def leaf_seconds(tree: Any) -> dict[str, float]:
    """``{written path: rehearsed seconds per execution}`` of each leaf step of a dry-run tree."""
    out: dict[str, float] = {}

    def walk(node: Any) -> None:
        if not node.children:
            if node.node.path:
                out[node.node.path] = float(node.mean_seconds or 0.0)
            return
        for child in node.children:
            walk(child)

    walk(tree)
    return out


class Eta:
    """Remaining beamline time of a sequence from its rehearsal (engine-event subscriber).

    Args:
        total_s: the dry-run's estimate of the whole sequence.
        leaf_s: :func:`leaf_seconds` of the dry-run tree.
        now: the session clock's ``now``.
        written: maps a run-time path to its written path.
    """

    def __init__(self, total_s: float, leaf_s: Mapping[str, float], now: Callable[[], float],
                 written: Callable[[str], str] | None = None) -> None:
        from expctl.sequence.dryrun import written_path

        self.total_s = max(0.0, float(total_s))
        self.leaf_s = dict(leaf_s)
        self.now = now
        self._written = written or written_path
        self.started: float | None = None
        self.done_s = 0.0
        self.held_s = 0.0
        self._held_since: float | None = None
        #: the leaf step under way: (its estimate, active time when it started)
        self._current: tuple[float, float] | None = None
        self._lock = threading.Lock()

    def __call__(self, event: Any) -> None:
        from expctl.engine.events import StateChanged, StepFinished, StepStarted

        with self._lock:
            if isinstance(event, StepStarted):
                estimate = self.leaf_s.get(self._written(event.path))
                if estimate is not None:
                    self._current = (estimate, self._active(event.time))
            elif isinstance(event, StepFinished):
                estimate = self.leaf_s.get(self._written(event.path))
                if estimate is not None:
                    self.done_s += estimate
                    self._current = None
            elif isinstance(event, StateChanged):
                if self.started is None and event.new == "running":
                    self.started = event.time
                holding = event.new in _HOLDING
                if holding and self._held_since is None:
                    self._held_since = event.time
                elif not holding and self._held_since is not None:
                    self.held_s += max(0.0, event.time - self._held_since)
                    self._held_since = None

    def _active(self, now: float) -> float:
        if self.started is None:
            return 0.0
        held = self.held_s + (now - self._held_since if self._held_since is not None else 0.0)
        return max(0.0, now - self.started - held)

    def active_s(self) -> float:
        """Beamline time spent working so far (paused and suspended time left out)."""
        with self._lock:
            return self._active(self.now())

    @property
    def holding(self) -> bool:
        return self._held_since is not None

    def fraction(self) -> float:
        """Share of the estimated work done (by time, not by steps)."""
        return min(1.0, self.done_s / self.total_s) if self.total_s > 0 else 0.0

    def remaining_s(self) -> float | None:
        """Beamline seconds still needed; None when there is no estimate to go by."""
        if self.total_s <= 0:
            return None
        with self._lock:
            active = self._active(self.now())
            done = self.done_s
            if self._current is not None:  # the step under way, up to its estimate
                estimate, since = self._current
                done += min(estimate, active - since)
        left = max(0.0, self.total_s - done)
        if done <= 0:
            return left
        trust = min(1.0, done / (_TRUST_AFTER * self.total_s))
        return left * (1.0 + trust * (active / done - 1.0))

    def text(self, speed: float | None = None) -> str:
        """``ETA 12 min 05 s`` (``(… wall)`` for a sped-up clock; ``paused`` while held)."""
        from expctl.ui.report import format_duration

        left = self.remaining_s()
        if left is None:
            return "ETA ?"
        text = f"ETA {format_duration(left)}"
        if speed and speed != 1:
            text += f" ({format_duration(left / speed)} wall)"
        return text + (" (on hold)" if self.holding else "")
