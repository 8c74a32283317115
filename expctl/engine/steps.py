"""The steps a plan is inside, innermost last.

Plans bracket their work in :class:`StepBegin`/:class:`StepEnd` markers; the
stack of open steps says what the engine does with the actions between them:
replay them from the journal or do them live (and transcribe their results),
which fault policy applies, which file and line an error is blamed on, and
what the runs taken there are tagged with (step path, loop values).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from expctl.clock import Clock
from expctl.engine.events import EventBus, RunContext, StepFinished, StepStarted
from expctl.engine.replay import Replay, StepFrame
from expctl.engine.runcontext import run_context
from expctl.errors import AggregateError, ExpctlError, SequenceError
from expctl.plans.actions import FaultPolicy, StepBegin, StepEnd

__all__ = ["StepStack"]


class StepStack:
    """The open steps of one plan, and how many steps were done or replayed.

    Args:
        bus: where :class:`StepStarted` / :class:`StepFinished` go.
        clock: the beamline's clock.
    """

    def __init__(self, bus: EventBus, clock: Clock) -> None:
        self.bus = bus
        self.clock = clock
        self.reset(None)

    def reset(self, replay: Replay | None) -> None:
        """A new plan; ``replay``: the journal it continues, if any."""
        self.replay = replay
        self.frames: list[StepFrame] = []
        #: the innermost step is replayed from the journal
        self.replaying = False
        #: the innermost step's results are transcribed (for the journal)
        self.transcribe = False
        #: either: the interpreter looks at every action
        self.in_step = False
        self.done = 0
        self.skipped = 0

    def begin(self, action: StepBegin) -> None:
        frame = StepFrame(action, self.clock.now())
        if self.replay is not None:
            frame.replay = self.replay.completed(action, self.frames, replaying=self.replaying)
        self.frames.append(frame)
        self._changed()
        self.bus.publish(StepStarted(action.path, action.label, frame.started, action.context))

    def end(self, action: StepEnd) -> None:
        frames = self.frames
        if not frames or frames[-1].begin.path != action.path:
            open_path = frames[-1].begin.path if frames else "none"
            raise SequenceError(f"step end {action.path!r} does not match the open step "
                                f"{open_path!r}")
        frame = frames.pop()
        self._changed()
        skipped = frame.replay is not None
        if skipped:
            self.skipped += 1
        else:
            self.done += 1
        self.bus.publish(StepFinished(action.path, self.clock.now(), skipped,
                                      tuple(frame.transcript)))

    def _changed(self) -> None:
        """Recompute the per-action flags that depend on the stack."""
        top = self.frames[-1] if self.frames else None
        self.replaying = top is not None and top.replay is not None
        self.transcribe = top is not None and self.replay is not None
        self.in_step = self.replaying or self.transcribe

    @property
    def top(self) -> StepFrame:
        """The innermost step (the interpreter asks only inside one)."""
        return self.frames[-1]

    @property
    def path(self) -> str:
        """The innermost step's path ("" outside steps)."""
        return self.frames[-1].begin.path if self.frames else ""

    def where(self) -> tuple[str, str]:
        """(path, label) of the innermost step (empty outside steps)."""
        frames = self.frames
        return (frames[-1].begin.path, frames[-1].begin.label) if frames else ("", "")

    def policy(self, default: FaultPolicy) -> FaultPolicy:
        """The fault policy of the innermost step that declares one."""
        for frame in reversed(self.frames):
            if frame.begin.on_fault is not None:
                return frame.begin.on_fault
        return default

    def locate(self, err: ExpctlError) -> None:
        """Give ``err`` (or its parts) the location of the innermost located step, if it has
        none: an analysis or device error inside a YAML step names the step's file:line."""
        where = next((f.begin.location for f in reversed(self.frames)
                      if f.begin.location is not None), None)
        if where is None:
            return
        for part in err.errors if isinstance(err, AggregateError) else (err,):
            if part.location is None:
                part.location = where

    def run_context(self, base: RunContext, label: str, spot: Mapping[str, Any] | None,
                    device_units: Mapping[str, str]) -> RunContext:
        """``base`` tagged with where the plan is: step path, loop values and the scan
        variables the open steps declared, in log units (:mod:`.runcontext`)."""
        return run_context(base, (f.begin for f in self.frames), label=label,
                           sample_spot=spot, device_units=device_units)
