"""The sequencer: runs plans against a beamline, one action at a time, on the caller's thread.

:class:`Engine` is the typed facade: user commands and running a plan to its
end.  Its lifecycle is a ``transitions`` machine (:mod:`.lifecycle`) whose
callbacks only publish events and wake waiters.  Commands (pause, resume,
stop, abort) may come from any thread; the engine thread notices them at
action boundaries (and, on a wall clock, during waits).

The action-level work is the :class:`~expctl.engine.interpreter.Interpreter`'s,
with its components beside it: device lookups (:mod:`.devices`), device
actions and waits (:mod:`.motion`), taking runs (:mod:`.runs`), spots
(:mod:`.spots`), the step stack (:mod:`.steps`), replaying a journal
(:mod:`.replay`), the safe state (:mod:`.safestate`).  Data leaves only as
events on the :class:`~expctl.engine.events.EventBus`.  The engine runs a plan
as it is; rehearsing it first is the caller's (the Session's pre-flight check,
:func:`~expctl.engine.estimate.estimate`).
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Iterable, MutableMapping
from dataclasses import dataclass
from typing import Any

from expctl.devices.access import AccessLevel
from expctl.devices.protocols import Beamline, RunRecord
from expctl.engine.collector import heap_frozen
from expctl.engine.events import EventBus, FaultRaised, RunContext
from expctl.engine.interpreter import RECOVERABLE, Interpreter
from expctl.engine.interrupts import AbortRequested, StopRequested
from expctl.engine.replay import JournalLike, SpotBook, same_value
from expctl.engine.safestate import device_safe_actions
from expctl.engine.scans import ScanNumbers
from expctl.engine.states import EngineState
from expctl.engine.suspenders import Suspender
from expctl.errors import ArgumentError, ExpctlError, StorageError
from expctl.plans.actions import Action, FaultPolicy, Plan, StepScan

__all__ = ["Engine", "JournalLike", "RunSummary", "SpotBook", "same_value"]

#: The default fault policy: drive the safe state and fail.
ABORT = FaultPolicy()

S = EngineState


@dataclass(frozen=True)
class RunSummary:
    """How a plan ended and what it produced.

    ``outcome`` is ``completed``, ``stopped``, ``aborted`` or ``failed``;
    ``value`` the plan's return value; ``runs`` the runs kept; ``cut_runs``
    the runs stopped short (beam loss, immediate pause, abort).
    """

    outcome: str
    value: Any
    runs: tuple[RunRecord, ...]
    cut_runs: tuple[RunRecord, ...]
    steps_done: int
    steps_skipped: int
    faults: tuple[FaultRaised, ...]
    started: float
    finished: float
    error: ExpctlError | None = None

    @property
    def duration(self) -> float:
        """Beamline seconds the plan took."""
        return self.finished - self.started



class Engine(Interpreter):
    """Executes plans; owns the lifecycle state machine and the named results.

    Args:
        beamline: the connected beamline whose devices the plans name.
        bus: where events go (a new bus when omitted).
        journal: crash-safe record; completed steps in it are skipped on resume.
        spots: the sample registry: spots exposed by anything are never handed out again.
        access: the requester's access level for sets, moves and requests.
        safe_state: actions that make the beamline safe (besides device safe values).
        suspenders: conditions that suspend data taking (beam loss, signals out of band).
        results: where named analysis results are stored (the session's mapping); the
            engine is their one writer (:class:`~expctl.plans.actions.Analyze`).
        pause_hook: called on the engine thread when it has paused; it should call
            :meth:`resume`, :meth:`stop` or :meth:`abort` (the CLI asks the user).
        default_policy: fault policy outside steps that declare one.
        block_seconds: beamline seconds of shots per block during a run.
        poll_seconds: how often suspenders are polled while suspended.
        suspend_timeout: give up (BeamLossError) after this long suspended.
        scan_numbers: gives recorded scans their numbers (the session's catalog);
            counts from 1 when omitted.
    """

    def __init__(
        self,
        beamline: Beamline,
        *,
        bus: EventBus | None = None,
        journal: JournalLike | None = None,
        spots: SpotBook | None = None,
        access: AccessLevel = AccessLevel.USER,
        safe_state: Iterable[Action] = (),
        suspenders: Iterable[Suspender] | None = None,
        results: MutableMapping[str, Any] | None = None,
        pause_hook: Callable[[Engine], None] | None = None,
        default_policy: FaultPolicy = ABORT,
        block_seconds: float = 1.0,
        poll_seconds: float = 0.5,
        suspend_timeout: float | None = 3600.0,
        scan_numbers: ScanNumbers | None = None,
    ) -> None:
        self.beamline = beamline
        self.clock = beamline.clock
        self.bus = bus if bus is not None else EventBus()
        self.journal = journal
        self.spots = spots
        self.access = access
        declared = tuple(safe_state)
        self.safe_state = declared + device_safe_actions(beamline, declared)
        self.suspenders = tuple(suspenders or ())
        self.results = results if results is not None else {}
        self.pause_hook = pause_hook
        self.default_policy = default_policy
        self.block_seconds = block_seconds
        self.poll_seconds = poll_seconds
        self.suspend_timeout = suspend_timeout
        self.scan_numbers = scan_numbers
        self.last_summary: RunSummary | None = None
        self._wire()

    # ------------------------------------------------------------------ commands
    def allowed_commands(self) -> list[str]:
        """User commands the current state accepts."""
        return self._life.allowed_commands()

    def pause(self, immediate: bool = False) -> None:
        """Pause at the next checkpoint, or now (stop motion) when ``immediate``.

        A second deferred pause while already pausing means "now"; so does any
        pause while suspended (there is no checkpoint to wait for).
        """
        now = immediate or self.state in (S.PAUSING, S.SUSPENDED)
        self._command("pause_now" if now else "pause")

    def resume(self) -> None:
        """Continue from the last checkpoint after restoring the pre-pause device state."""
        self._command("resume")

    def stop(self) -> None:
        """End the plan cleanly after the current action; no further actions run."""
        self._command("stop")

    def abort(self) -> None:
        """End the plan now: mark the current run aborted and drive the safe state."""
        self._command("abort")

    def reset(self) -> None:
        """Leave the failed state (kept for compatibility: a failed plan now returns the
        engine to idle by itself, its error kept in ``last_summary``; when idle this
        does nothing)."""
        if self.state is not S.IDLE:
            self._command("reset")

    def _command(self, trigger: str) -> None:
        self._fire(trigger, reason="command")
        self._attention = True

    def _on_paused(self) -> None:
        if self.pause_hook is not None:
            self.pause_hook(self)

    # ------------------------------------------------------------------ running
    def run(self, plan: Plan, context: RunContext | None = None) -> RunSummary:
        """Execute ``plan`` to its end on this thread and say how it ended.

        The plan runs as it is: a pre-flight rehearsal on the simulated twin is the
        caller's (``Session.preflight``, :func:`~expctl.engine.estimate.estimate`).

        Raises:
            ArgumentError: ``plan`` is not a plan (e.g. a plan factory).
            ExpctlError: the plan failed (its error is also in ``last_summary``).
        """
        if not isinstance(plan, Generator):
            raise ArgumentError(
                f"Engine.run takes a plan (a generator of actions), not {type(plan).__name__}",
                hint="Call the plan function: engine.run(scan(...)); rehearse it first "
                     "with Session.preflight or expctl.engine.estimate.")
        self._fire("start", reason="run")
        self._reset_run_state(context or RunContext())
        self._attention = True  # the first action goes aside: it is where the plan goes live
        # first: a run's end is journaled before the catalog marks it completed, so a
        # journal that cannot write never leaves a kept run it does not know about
        unsubscribe = (self.bus.subscribe(self.journal.handle, name="journal", first=True)
                       if self.journal else None)
        started = self.clock.now()
        outcome, value, error = "completed", None, None
        try:
            with heap_frozen():
                value = self._drive(plan)
            if self._attention:  # a command that came with the last action
                self._service()
            self._fire("finish", reason="completed")
        except StopRequested:
            outcome = "stopped"
        except AbortRequested:
            outcome = "aborted"
            self._drive_safe_state("abort")
            self._fire("safe", reason="aborted")
        except BaseException as exc:
            outcome = "failed"
            error = exc if isinstance(exc, ExpctlError) else None
            if error is not None:
                self._steps.locate(error)
            try:
                self._drive_safe_state("failure")
            finally:
                if isinstance(error, StorageError):
                    error.consequence = self._storage_consequence()
                if self.state is not S.FAILED and self.state is not S.IDLE:
                    self._fire("fail", reason=str(exc) or type(exc).__name__)
                if self.state is S.FAILED:  # back to idle; the error stays in last_summary
                    self._fire("reset", reason="failure recorded")
                    self._attention = False
            if error is None:
                self._summarise(outcome, value, started, None)
                raise
        finally:
            self._run_cleanups()
            self._scan_actions.end(outcome)  # a scan still open keeps its points
            if unsubscribe is not None:
                unsubscribe()
            if self.journal is not None:
                _finish_journal(self.journal, outcome, failing=outcome == "failed")
        summary = self._summarise(outcome, value, started, error)
        if error is not None:
            raise error
        return summary
    def _drive(self, plan: Plan) -> Any:
        """Feed the plan its results until it returns; close it if we leave early.

        The common case — no command pending, outside journaled steps — is one
        handler call (:meth:`_attempt`, inlined); everything else goes aside.  (Other threads
        and step markers set ``_attention`` and ``in_step``.)"""
        send = plan.send
        attempt, special, steps = self._attempt, self._execute_special, self._steps
        handlers, recover = self._handlers, self._recover
        scan = handlers[StepScan]  # (the table's own bound method: compared by identity)
        result: Any = None
        try:
            while True:
                try:
                    action = send(result)
                except StopIteration as done:
                    return done.value
                if self._attention or steps.in_step:
                    result = special(action)
                    continue
                handler = handlers.get(type(action))
                if handler is None:  # an unknown action: _attempt says so
                    result = attempt(action)
                    continue
                if handler is scan:  # a scan applies its actions' fault policies itself
                    result = scan(action)
                    continue
                try:  # (_attempt, inlined)
                    result = handler(action)
                except RECOVERABLE as err:
                    result = recover(action, handler, err)
        finally:
            plan.close()

    def _run_cleanups(self) -> None:
        """The clean-up the plan registered (:class:`Finally`), whatever ended it."""
        self._attention = False  # the command that ended the plan is served
        self._cleanups.run(lambda act: self._handlers[type(act)](act),
                           lambda act, err: self._fault(act, err, "finally", 1))

    def _summarise(self, outcome: str, value: Any, started: float,
                   error: ExpctlError | None) -> RunSummary:
        taker = self._taker
        self.last_summary = RunSummary(
            outcome, value, tuple(taker.runs), tuple(taker.cut), self._steps.done,
            self._steps.skipped, tuple(self._faults), started, self.clock.now(), error)
        return self.last_summary

    def _storage_consequence(self) -> str:
        """What a user reads after a storage fault stopped the plan: what is safe, what next."""
        then = ("Once that is fixed, `expctl resume` continues the campaign from the step "
                "that was cut" if self.journal is not None else "Once that is fixed, repeat "
                "the command")
        return ("Data taking stopped and the beamline was driven to its safe state; runs "
                f"completed before are kept. {then}.")


def _finish_journal(journal: JournalLike, outcome: str, *, failing: bool) -> None:
    """Journal how the plan ended; a journal that fails then is reported only if nothing
    else is (a campaign not marked ended stays resumable, which is safe)."""
    try:
        journal.finish(outcome)
    except ExpctlError:
        if not failing:
            raise
