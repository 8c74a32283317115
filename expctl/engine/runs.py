"""Run-taking: start the DAQ, let the shots happen block by block, end the run.

A run is the one action that lasts: its shots are published as they come
(:class:`ShotBlockTaken`, a block of ``block_seconds`` at a time) so the run
writer never holds a whole run, and between blocks the engine is asked
whether a command or a suspender cuts it short.  Whatever happens, the DAQ
is stopped and the run published as stopped with its outcome, and the run is
counted as kept (``completed``) or cut.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from expctl.clock import Clock
from expctl.devices.protocols import RunControl, RunRecord
from expctl.devices.status import Status
from expctl.engine.events import EventBus, RunContext, RunStarted, RunStopped, ShotBlockTaken
from expctl.engine.interrupts import SuspendRequested, WaitInterrupted
from expctl.errors import ConditionLostError, DeviceError
from expctl.plans.actions import TakeRun

__all__ = ["RunTaker"]


@dataclass(slots=True)
class RunTaker:
    """Takes the runs of one plan and keeps which were kept and which were cut.

    Args:
        daq: the beamline's DAQ.
        bus: where run events go.
        clock: the beamline's clock.
        block_seconds: beamline seconds of shots per published block.
        wait: waits for statuses (a command may cut it: :class:`WaitInterrupted`).
        watch: asked after every block; raises :class:`WaitInterrupted` (a command came)
            or :class:`SuspendRequested` (a suspender tripped).
        cut_outcome: the outcome of a run a command cut (``aborted``, ``stopped`` …).
        retakes: a run a lost condition cut is retaken (suspenders are installed), so it
            is marked with the condition's outcome rather than ``failed``.
    """

    daq: RunControl
    bus: EventBus
    clock: Clock
    block_seconds: float
    wait: Callable[[list[Status]], None]
    watch: Callable[[], None]
    cut_outcome: Callable[[], str]
    retakes: bool
    runs: list[RunRecord] = field(default_factory=list, init=False)
    cut: list[RunRecord] = field(default_factory=list, init=False)

    def take(self, action: TakeRun, ctx: RunContext,
             snapshot: Callable[[], dict[str, Any]]) -> RunRecord:
        """Take the run ``action`` asks for; ``snapshot()`` reads the devices it starts with."""
        daq = self.daq
        record, status = daq.start_run(action.shots, label=action.label,
                                       comment=action.comment, full_frames=action.full_frames)
        try:
            self.bus.publish(RunStarted(record, ctx, self.clock.now(), snapshot(),
                                        daq.config()))
            self._follow(status, ctx)
        except SuspendRequested as cut:
            self._end(ctx, cut.outcome, aborted=True)
            raise
        except WaitInterrupted:
            self._end(ctx, self.cut_outcome(), aborted=True)
            raise
        except DeviceError as err:
            retaken = isinstance(err, ConditionLostError) and self.retakes
            self._end(ctx, err.outcome if isinstance(err, ConditionLostError) and retaken
                      else "failed", aborted=True)
            raise
        except Exception:  # logging failed (a critical subscriber): the DAQ must still stop
            self._abandon(ctx)
            raise
        return self._end(ctx, "completed", aborted=False)

    def _follow(self, status: Status, ctx: RunContext) -> None:
        """Let the run's shots happen block by block, publishing them and watching the beam."""
        clock = self.clock
        daq = self.daq
        while True:
            now = clock.now()
            end = status.completion_time()
            until = now + self.block_seconds if end is None else min(end, now + self.block_seconds)
            self.wait([Status("daq", now, until)])
            block = daq.collect()
            if block is not None and len(block):
                self.bus.publish(ShotBlockTaken(block, ctx, clock.now()))
            self.watch()
            if status.is_done(clock.now()):
                status.result(clock.now())
                return

    def _end(self, ctx: RunContext, outcome: str, *, aborted: bool) -> RunRecord:
        daq = self.daq
        block = daq.collect()
        record = daq.stop_run(aborted=aborted)  # before publishing: logging may fail
        try:
            if block is not None and len(block):
                self.bus.publish(ShotBlockTaken(block, ctx, self.clock.now()))
            self.bus.publish(RunStopped(record, outcome, self.clock.now(), ctx))
        except BaseException:
            self.cut.append(record)
            raise
        (self.runs if outcome == "completed" else self.cut).append(record)
        return record

    def _abandon(self, ctx: RunContext) -> None:
        """Stop a run whose logging failed: the DAQ closes it (the facility's status 0)
        and the subscribers that still work close their records.  A second failure of
        the broken one (or the catalog that never saw the start) is not reported over
        the first, which is on its way up."""
        daq = self.daq
        record = daq.stop_run(aborted=True)
        daq.collect()  # shots the DAQ took after the failure cannot be logged either
        self.cut.append(record)
        with contextlib.suppress(Exception):
            self.bus.publish(RunStopped(record, "failed", self.clock.now(), ctx))
