"""Resuming from a journal: what the engine replays instead of doing again.

Inside a step the journal says is complete, result-bearing actions get their
journaled result and device-setting actions only say what the step left set
up; before the first live action those targets are driven back (a crash or an
abort may have changed them).  A completed step whose spot a later, cut run
may have destroyed is done again instead (:meth:`Replay.must_redo`).

The engine knows the journal and the sample registry only through the small
protocols here.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

from expctl.clock import Clock
from expctl.engine.devices import DeviceTable
from expctl.engine.events import EngineEvent, EventBus, RunSuperseded
from expctl.errors import DataError
from expctl.plans.actions import (
    Action,
    Analyze,
    Checkpoint,
    Move,
    NextSpot,
    Read,
    Request,
    Set,
    StepBegin,
    StepEnd,
    TakeRun,
    Units,
)

__all__ = ["MARKERS", "RECORDED", "JournalLike", "Replay", "SpotBook", "StepFrame",
           "collect_target", "same_value"]

#: Action types whose results a journal keeps, so a completed step can be replayed.
RECORDED: frozenset[type] = frozenset({Read, TakeRun, NextSpot, Analyze, Units})

#: Step markers and checkpoints: not device actions, so no reason to restore state before
#: them (a live loop iteration whose first children are replayed must not restore twice).
MARKERS: frozenset[type] = frozenset({StepBegin, StepEnd, Checkpoint})


class JournalLike(Protocol):
    """What the engine needs of a journal: the past (to skip) and a place to write."""

    def completed_step(self, path: str) -> list[tuple[str, Any]] | None: ...

    def consumed_spots(self, grid: str) -> set[int]: ...

    def spot_cut(self, path: str, index: int) -> bool: ...

    def redo(self, path: str) -> list[int]: ...

    def handle(self, event: EngineEvent) -> None: ...

    def finish(self, outcome: str) -> None: ...


class SpotBook(Protocol):
    """Where exposed sample spots are kept beyond one campaign (the sample registry).

    ``claim`` records a spot as exposed *before* the stage moves there and says
    False if someone else already has it; ``destroyed`` says whether a destructive
    (pumped) shot may have hit it; ``sample`` names what is mounted.
    """

    def exposed(self, grid: str) -> set[int]: ...

    def claim(self, grid: str, index: int, step: str) -> bool: ...

    def destroyed(self, grid: str, index: int) -> bool: ...

    def sample(self, grid: str) -> str | None: ...


@dataclass
class StepFrame:
    """A step being executed (or replayed from the journal)."""

    begin: StepBegin
    started: float
    transcript: list[tuple[str, Any]] = field(default_factory=list)
    replay: Iterator[tuple[str, Any]] | None = None
    #: its remaining children are done again live, completed or not (see Replay.must_redo)
    redo: bool = False


class Replay:
    """One plan's replay from a journal: the targets replayed steps set, the redo decision.

    Args:
        journal: the campaign journal the plan continues.
        spots: the sample registry (None: any cut run counts as destructive).
        grids: the beamline's spot grids.
        bus: where superseded runs are published.
        clock: the beamline's clock.
    """

    def __init__(self, journal: JournalLike, spots: SpotBook | None, grids: Iterable[str],
                 bus: EventBus, clock: Clock) -> None:
        self.journal = journal
        self.spots = spots
        self.grids = tuple(grids)
        self.bus = bus
        self.clock = clock
        #: device -> (action type, value) last set by steps replayed from the journal
        self.targets: dict[str, tuple[type, Any]] = {}
        #: the plan's top level is being done again live
        self.redo_top = False

    def completed(self, action: StepBegin, frames: list[StepFrame], *,
                  replaying: bool) -> Iterator[tuple[str, Any]] | None:
        """The journaled results of step ``action`` if it is replayed; None if it is done live."""
        done = self.journal.completed_step(action.path)
        if done is not None and not replaying and self.must_redo(action, done, frames):
            done = None
        return iter(done) if done is not None else None

    def must_redo(self, action: StepBegin, done: list[tuple[str, Any]],
                  frames: list[StepFrame]) -> bool:
        """Whether a completed step met live (resuming inside an unfinished step) must be
        done again rather than replayed.

        A completed step that took a sample spot, where a run was then started by a
        later step that did not complete (a crash or abort came between a shot and its
        step record), must not leave the resumed plan on that spot if that shot may have
        destroyed it (the spot book says so; without one, any cut run counts).  So that
        step and every later one of its unfinished parent are done again live on a
        fresh spot, and the runs they had kept are superseded.  (A crash with no
        destructive shot on the spot — a rocking curve, a reference run — continues there.)
        """
        journal = self.journal
        if not (self.redo_top or any(f.redo for f in frames)):
            spots = [value[0] for name, value in done if name == "NextSpot"]
            if not any(journal.spot_cut(action.path, i) and self._may_be_destroyed(i)
                       for i in spots):
                return False
            if frames:
                frames[-1].redo = True
            else:
                self.redo_top = True
        for run in journal.redo(action.path):
            self.bus.publish(RunSuperseded(run, self.clock.now(), action.path))
        return True

    def _may_be_destroyed(self, index: int) -> bool:
        book = self.spots
        return book is None or any(book.destroyed(grid, index) for grid in self.grids)

    def check_nested(self, action: StepBegin) -> None:
        """A step inside a replayed step must be complete too (else the journal is torn)."""
        if self.journal.completed_step(action.path) is None:
            raise DataError(f"journal inconsistent: step {action.path!r} "
                            "is not complete inside a completed step")

    @staticmethod
    def next_result(action: Action, frame: StepFrame) -> Any:
        """The journaled result of ``action``, the next one of its replayed step."""
        kind = type(action).__name__
        path = frame.begin.path
        try:
            if frame.replay is None:
                raise StopIteration
            name, value = next(frame.replay)
        except StopIteration:
            raise DataError(f"the plan asks for more results in step {path!r} than the "
                            "journal holds; was the sequence changed since?") from None
        if name != kind:
            raise DataError(f"journal replay of step {path!r}: expected {name}, the plan "
                            f"yields {kind}")
        return value

    def collect(self, action: Move | Set | Request) -> None:
        """Remember the target a replayed step gave a device (see :func:`collect_target`)."""
        collect_target(self.targets, action)

    def to_restore(self, devices: DeviceTable) -> tuple[list[tuple[str, Any]], list[Action]]:
        """The collected targets a device no longer reads, as (device, value) pairs (axes
        first) and the actions that drive them back: axes in one parallel move, then the
        others in the order the plan set them.  Forgets the targets."""
        wanted, self.targets = self.targets, {}
        moves: dict[str, float] = {}
        others: list[Action] = []
        changed: list[tuple[str, Any]] = []
        for name, (kind, value) in wanted.items():
            readable = devices.info(name).readable
            if readable is not None and same_value(readable.read().get(name), value):
                continue
            changed.append((name, value))
            if kind is Move:
                moves[name] = value
            else:
                others.append(kind(name, value))
        changed.sort(key=lambda c: c[0] not in moves)
        return changed, ([Move(moves)] if moves else []) + others


def collect_target(targets: dict[str, tuple[type, Any]], action: Move | Set | Request) -> None:
    """Remember the last target ``action`` gives each device, as (action type, value), in
    last-set order: what a replayed step leaves set up.

    A relative move is followed from the last absolute target of its axis; without
    one its start is unknown, and the axis is left where it is.
    """
    if isinstance(action, Move):
        for name, value in action.targets.items():
            if action.relative:
                base = targets.get(name)
                if base is None or base[0] is not Move:
                    continue
                value = base[1] + value
            targets.pop(name, None)
            targets[name] = (Move, value)
    else:
        targets.pop(action.device, None)
        targets[action.device] = (type(action), action.value)


def same_value(current: Any, target: Any) -> bool:
    """Whether a device already reads its target (numbers to within rounding)."""
    if isinstance(current, int | float) and isinstance(target, int | float) \
            and not isinstance(current, bool) and not isinstance(target, bool):
        return math.isclose(current, target, rel_tol=1e-9, abs_tol=1e-12)
    return bool(current == target)

