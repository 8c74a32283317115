"""The sequencer: runs plans against a beamline, one action at a time, on the caller's thread.

:class:`Engine` is the typed facade.  Its lifecycle is a ``transitions``
machine built from :data:`~expctl.engine.states.TRANSITIONS` on a private
model; machine callbacks only publish events and wake waiters.  Commands
(pause, resume, stop, abort) may come from any thread; the engine thread
notices them at action boundaries (and, on a wall clock, during waits).

The interpreter dispatches through a ``{action type: handler}`` table; data
leaves only as events on the :class:`~expctl.engine.events.EventBus`.
"""

from __future__ import annotations

import contextlib
import difflib
import math
import threading
from collections.abc import Callable, Generator, Iterable, Mapping, MutableMapping
from dataclasses import dataclass, field
from typing import Any, Protocol, cast

from transitions import Machine, MachineError

from expctl.devices.access import AccessLevel, check_access
from expctl.devices.protocols import (
    Beamline,
    Device,
    Readable,
    Requestable,
    RunRecord,
    Stoppable,
    Triggerable,
)
from expctl.devices.status import Status, wait_all
from expctl.engine.events import (
    AnalysisDone,
    EngineEvent,
    EventBus,
    FaultRaised,
    GoingLive,
    RunContext,
    RunStarted,
    RunStopped,
    RunSuperseded,
    SafeStateReached,
    ShotBlockTaken,
    SpotConsumed,
    StateChanged,
    StateRestored,
    StepFinished,
    StepStarted,
)
from expctl.engine.runcontext import logged_params, run_context
from expctl.engine.scans import ScanBook, ScanNumbers, limit_problems
from expctl.engine.states import COMMANDS, TRANSITIONS, EngineState
from expctl.engine.suspenders import CUT_OUTCOME, Suspender
from expctl.errors import (
    AggregateError,
    BeamLossError,
    ConditionLostError,
    DataError,
    DeviceError,
    ExpctlError,
    IllegalCommand,
    LimitError,
    SequenceError,
    StorageError,
    UserError,
)
from expctl.plans.actions import (
    Action,
    Analyze,
    CheckLimits,
    Checkpoint,
    CloseScan,
    FaultPolicy,
    Finally,
    FinallyDone,
    Move,
    NextSpot,
    OpenScan,
    Plan,
    Read,
    RecordPoint,
    Request,
    Set,
    Sleep,
    StepBegin,
    StepEnd,
    TakeRun,
    Trigger,
    Units,
)
from expctl.units import in_units

__all__ = ["Engine", "JournalLike", "RunSummary", "SpotBook", "same_value"]

S = EngineState

#: The default fault policy: drive the safe state and fail.
ABORT = FaultPolicy()

#: Action types whose results a journal keeps, so a completed step can be replayed.
RECORDED: frozenset[type] = frozenset({Read, TakeRun, NextSpot, Analyze, Units})

#: Action types that set a device; replayed steps' targets are restored before going live.
SETTING: frozenset[type] = frozenset({Move, Set, Request})

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


class _Stop(Exception):
    """The engine was told to stop: end the plan cleanly."""


class _Abort(Exception):
    """The engine was told to abort: close the plan, drive the safe state."""


class _Interrupted(Exception):
    """A wait was cut by a command (immediate pause, stop, abort)."""


class _Suspend(Exception):
    """A suspender tripped; ``reason`` says which, ``outcome`` what a run it cut is marked."""

    def __init__(self, reason: str, outcome: str = CUT_OUTCOME) -> None:
        super().__init__(reason)
        self.reason = reason
        self.outcome = outcome


#: What an action may raise that the engine acts on (the rest ends the plan).
_RECOVERABLE = (_Suspend, _Interrupted, UserError, AggregateError, DeviceError)


@dataclass
class _Frame:
    """A step being executed (or replayed from the journal)."""

    begin: StepBegin
    started: float
    transcript: list[tuple[str, Any]] = field(default_factory=list)
    replay: Iterable[tuple[str, Any]] | None = None
    #: its remaining children are done again live, completed or not (see _do_step_begin)
    redo: bool = False


class _Model:
    """The machine's model: holds the state; the Engine facade is what users see."""

    state: EngineState


class Engine:
    """Executes plans; owns the lifecycle state machine.

    Args:
        beamline: the connected beamline whose devices the plans name.
        bus: where events go (a new bus when omitted).
        journal: crash-safe record; completed steps in it are skipped on resume.
        spots: the sample registry: spots exposed by anything are never handed out again.
        access: the requester's access level for sets, moves and requests.
        safe_state: actions that make the beamline safe (besides device safe values).
        suspenders: conditions that suspend data taking (beam loss, signals out of band).
        results: where named analysis results are stored (the session's mapping).
        pause_hook: called on the engine thread when it has paused; it should call
            :meth:`resume`, :meth:`stop` or :meth:`abort` (the CLI asks the user).
        default_policy: fault policy outside steps that declare one.
        check_only: collect limit/access violations instead of raising (estimation).
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
        check_only: bool = False,
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
        self.safe_state: tuple[Action, ...] = tuple(safe_state) + self._device_safe_actions(
            tuple(safe_state))
        self.suspenders = tuple(suspenders or ())
        self.results: MutableMapping[str, Any] = results if results is not None else {}
        self.pause_hook = pause_hook
        self.default_policy = default_policy
        self.check_only = check_only
        self.block_seconds = block_seconds
        self.poll_seconds = poll_seconds
        self.suspend_timeout = suspend_timeout
        self.violations: list[ExpctlError] = []
        self._scans = ScanBook(scan_numbers)

        self._model = _Model()
        self._cond = threading.Condition(threading.RLock())
        self._machine = Machine(
            model=self._model, states=EngineState, initial=S.IDLE,
            transitions=[{"trigger": t, "source": list(src), "dest": dst}
                         for t, src, dst in TRANSITIONS],
            auto_transitions=False, queued=True, send_event=True,
            after_state_change=self._on_state_change,
        )
        self._attention = False
        self._handlers: dict[type, Callable[[Any], Any]] = {
            Move: self._do_move, Set: self._do_set, Request: self._do_request,
            Trigger: self._do_trigger, Read: self._do_read, Sleep: self._do_sleep,
            Checkpoint: self._do_checkpoint, TakeRun: self._do_take_run,
            NextSpot: self._do_next_spot, Analyze: self._do_analyze,
            StepBegin: self._do_step_begin, StepEnd: self._do_step_end,
            CheckLimits: self._do_check_limits, OpenScan: self._do_open_scan,
            RecordPoint: self._do_record_point, CloseScan: self._do_close_scan,
            Finally: self._do_finally, FinallyDone: self._do_finally_done, Units: self._do_units,
        }
        self._kinds: dict[str, tuple[Device, bool, bool, bool]] = {}
        self._may_set: dict[str, Any] = {}
        self._virtual = self.clock.is_virtual
        #: True while the safe state is driven: no command may cut its waits short
        self._shielded = False
        self.last_safe_state: SafeStateReached | None = None
        self.last_summary: RunSummary | None = None
        self._reset_run_state(RunContext())

    # ------------------------------------------------------------------ commands
    @property
    def state(self) -> EngineState:
        """The lifecycle state now."""
        return self._model.state

    @property
    def driving_safe_state(self) -> bool:
        """True while the safe state is being driven (nothing can interrupt it)."""
        return self._shielded

    def where(self) -> tuple[str, str]:
        """(path, label) of the innermost step running now (empty outside steps)."""
        frames = self._frames
        return (frames[-1].begin.path, frames[-1].begin.label) if frames else ("", "")

    def allowed_commands(self) -> list[str]:
        """User commands the current state accepts."""
        return sorted(t for t in self._machine.get_triggers(self.state) if t in COMMANDS)

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
        self._fire(trigger, reason="command", public=True)
        self._attention = True

    def _fire(self, trigger: str, *, reason: str = "", public: bool = False) -> None:
        with self._cond:
            try:
                self._model.trigger(trigger, reason=reason)  # type: ignore[attr-defined]
            except MachineError:
                name = trigger.replace("_", " ")
                raise IllegalCommand(name, self.state.value, self.allowed_commands()) from None
            self._cond.notify_all()

    def _on_state_change(self, event: Any) -> None:
        src = EngineState[event.transition.source].value  # transitions passes state names
        dst = EngineState[event.transition.dest].value
        self.bus.publish(StateChanged(src, dst, self.clock.now(), event.kwargs.get("reason", "")))

    # ------------------------------------------------------------------ running
    def run(self, plan: Plan | Callable[[], Plan], context: RunContext | None = None) -> RunSummary:
        """Execute ``plan`` to its end on this thread and say how it ended.

        Passing a plan *factory* (a function returning a fresh plan) first
        rehearses it on the beamline's simulated twin and raises an
        :class:`~expctl.errors.AggregateError` of every limit and access
        violation before anything moves.

        Raises:
            ExpctlError: the plan failed (the engine is then ``failed``).
        """
        if isinstance(plan, Generator):
            generator = plan
        else:
            from expctl.engine.estimate import estimate

            found = estimate(plan, self.beamline, access=self.access, context=context)
            if found.violations:
                raise AggregateError(found.violations,
                                     f"{len(found.violations)} problem(s) found before any motion")
            generator = plan()
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
            value = self._drive(generator)
            if self._attention:  # a command that came with the last action
                self._service()
            self._fire("finish", reason="completed")
        except _Stop:
            outcome = "stopped"
        except _Abort:
            outcome = "aborted"
            self._drive_safe_state("abort")
            self._fire("safe", reason="aborted")
        except BaseException as exc:
            outcome = "failed"
            error = exc if isinstance(exc, ExpctlError) else None
            if error is not None:
                self._locate(error)
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
            self._run_finally()
            closed = self._scans.end(outcome, self.clock.now())  # its points are kept
            if closed is not None:
                self.bus.publish(closed)
            if unsubscribe is not None:
                unsubscribe()
            if self.journal is not None:
                _finish_journal(self.journal, outcome, failing=outcome == "failed")
        summary = self._summarise(outcome, value, started, error)
        if error is not None:
            raise error
        return summary

    def _summarise(self, outcome: str, value: Any, started: float,
                   error: ExpctlError | None) -> RunSummary:
        self.last_summary = RunSummary(
            outcome, value, tuple(self._runs), tuple(self._cut_runs), self._steps_done,
            self._steps_skipped, tuple(self._faults), started, self.clock.now(), error)
        return self.last_summary

    def _storage_consequence(self) -> str:
        """What a user reads after a storage fault stopped the plan: what is safe, what next."""
        then = ("Once that is fixed, `expctl resume` continues the campaign from the step "
                "that was cut" if self.journal is not None else "Once that is fixed, repeat "
                "the command")
        return ("Data taking stopped and the beamline was driven to its safe state; runs "
                f"completed before are kept. {then}.")

    def _reset_run_state(self, context: RunContext) -> None:
        self._context = logged_params(context)
        self._frames: list[_Frame] = []
        self._replaying_step = False
        self._transcribe = False
        self._in_step = False
        self._since_checkpoint: list[Action] = []
        #: how to undo the safe state of the pause(s) since the last resume
        self._undo: list[Set | Request] = []
        self._replaying = False
        self._spot: Mapping[str, Any] | None = None
        #: device -> (action type, value) last set by steps replayed from the journal
        self._replayed_targets: dict[str, tuple[type, Any]] = {}
        self._consumed: dict[str, set[int]] = {}
        self._runs: list[RunRecord] = []
        self._cut_runs: list[RunRecord] = []
        self._faults: list[FaultRaised] = []
        self._steps_done = 0
        self._steps_skipped = 0
        self._run_open = False
        self._finally: list[tuple[Action, ...]] = []
        self._limits_reported: set[str] = set()
        self._live = False
        self._redo_top = False  # the plan's top level is being done again live
        self.violations = []

    def _drive(self, plan: Plan) -> Any:
        """Feed the plan its results until it returns; close it if we leave early."""
        send = plan.send
        execute = self._execute
        result: Any = None
        try:
            while True:
                try:
                    action = send(result)
                except StopIteration as done:
                    return done.value
                result = execute(action)
        finally:
            plan.close()

    def _execute(self, action: Action) -> Any:
        """One action: the common case (no command pending, no step being replayed or
        transcribed, no failure) is a handler call; everything else goes aside."""
        if self._attention or self._in_step:  # (set by other threads / by step markers)
            return self._execute_special(action)
        handler = self._handlers.get(type(action))
        if handler is None:
            raise SequenceError(f"the engine does not know the action {action!r}")
        try:
            return handler(action)
        except _RECOVERABLE as err:
            return self._recover(action, handler, err)

    def _execute_special(self, action: Action) -> Any:
        kind = type(action)
        if self._attention:
            self._service()
            if not self._replaying_step and kind not in MARKERS:
                if not self._live:
                    self._live = True
                    self.bus.publish(GoingLive(self.clock.now()))
                if self._replayed_targets:
                    self._restore_replayed()
        if self._replaying_step:
            return self._replay(action)
        handler = self._handlers.get(kind)
        if handler is None:
            raise SequenceError(f"the engine does not know the action {action!r}")
        result = self._attempt(action, handler)
        if self._transcribe and kind in RECORDED:
            self._frames[-1].transcript.append((kind.__name__, result))
        return result

    def _frames_changed(self) -> None:
        """Recompute the per-action flags that depend on the step stack."""
        top = self._frames[-1] if self._frames else None
        self._replaying_step = top is not None and top.replay is not None
        self._transcribe = top is not None and self.journal is not None
        self._in_step = self._replaying_step or self._transcribe

    def _attempt(self, action: Action, handler: Callable[[Any], Any]) -> Any:
        """Run one action under suspenders, commands and the fault policy."""
        try:
            return handler(action)
        except _RECOVERABLE as err:
            return self._recover(action, handler, err)

    def _recover(self, action: Action, handler: Callable[[Any], Any], err: Exception) -> Any:
        """After ``action`` raised ``err``: suspend, obey a command or apply the fault
        policy, and try again as long as that says to."""
        attempt = 0
        while True:
            if isinstance(err, _Suspend):
                self._suspended(err.reason)
            elif isinstance(err, _Interrupted):
                self._service()
            elif isinstance(err, UserError | AggregateError):
                if not self.check_only or err.exit_code != 2:
                    raise err
                self._violate(err)
                return None
            else:  # a DeviceError (see _RECOVERABLE)
                err = cast(DeviceError, err)
                if not (isinstance(err, ConditionLostError) and self.suspenders):
                    attempt += 1
                    policy = self._policy()
                    if policy.action == "skip":
                        self._fault(action, err, "skip", attempt)
                        return None
                    if policy.action != "retry" or attempt > policy.retries:
                        self._fault(action, err, "abort", attempt)
                        raise err
                    self._fault(action, err, "retry", attempt)
                else:
                    self._suspended(err.message)
            try:
                return handler(action)
            except _RECOVERABLE as again:
                err = again

    def _policy(self) -> FaultPolicy:
        for frame in reversed(self._frames):
            if frame.begin.on_fault is not None:
                return frame.begin.on_fault
        return self.default_policy

    def _fault(self, action: Action, err: ExpctlError, policy: str, attempt: int) -> None:
        ev = FaultRaised(type(action).__name__, err, policy, attempt, self.clock.now(),
                         self._frames[-1].begin.path if self._frames else "")
        self._faults.append(ev)
        self.bus.publish(ev)

    def _violate(self, err: ExpctlError) -> None:
        """Record a violation (estimation), blaming the innermost step that has a location."""
        self._locate(err)
        self.violations.extend(err.errors if isinstance(err, AggregateError) else (err,))

    def _locate(self, err: ExpctlError) -> None:
        """Give ``err`` (or its parts) the location of the innermost located step, if it has none.

        So an analysis or device error inside a YAML step names the step's file:line.
        """
        where = next((f.begin.location for f in reversed(self._frames)
                      if f.begin.location is not None), None)
        if where is None:
            return
        for part in err.errors if isinstance(err, AggregateError) else (err,):
            if part.location is None:
                part.location = where

    # ------------------------------------------------------------------ commands seen
    def _service(self) -> None:
        """Act on the state other threads put us in; return once running again."""
        while True:
            state = self.state
            if state in (S.RUNNING, S.PAUSING, S.SUSPENDED):
                # restore replayed state / announce going live before the next live action
                self._attention = bool(self._replayed_targets) or not self._live
                return
            if state is S.PAUSED:
                self._paused()
                continue
            if state is S.ABORTING:
                raise _Abort()
            raise _Stop()

    def _paused(self) -> None:
        """Drive the safe state, ask (pause hook), wait for a command; on resume undo it.

        A resume cut short by another immediate pause keeps what is still to be
        undone, so the next resume restores the state from before the first pause.
        """
        undo = self._drive_safe_state("pause")
        known = {a.device for a in self._undo}
        self._undo += [a for a in undo if a.device not in known]
        if self.state is S.PAUSED and self.pause_hook is not None:
            self.pause_hook(self)
        with self._cond:
            while self.state is S.PAUSED:
                self._cond.wait()
        if self.state is S.RUNNING or self.state is S.PAUSING:  # resumed (maybe re-paused)
            try:
                self._restore(self._undo)
            except _Interrupted:
                return  # paused, stopped or aborted again while restoring: _service decides
            self._undo = []

    def _restore(self, restore: Iterable[Action]) -> None:
        """Undo the safe state, then re-establish device state since the last checkpoint."""
        self._replaying = True
        try:
            for act in restore:
                self._handlers[type(act)](act)
            for act in self._since_checkpoint:
                self._handlers[type(act)](act)
        finally:
            self._replaying = False

    def _suspended(self, reason: str) -> None:
        """Wait (suspended) until every suspender has been good for its settle time."""
        if self.state is not S.SUSPENDED:
            self._fire("suspend", reason=reason)
        settle = max((s.settle for s in self.suspenders), default=0.0)
        since = self.clock.now()
        good_since: float | None = None
        while True:
            state = self.state
            if state is not S.SUSPENDED:
                self._service()
                return
            now = self.clock.now()
            if self.suspend_timeout is not None and now - since > self.suspend_timeout:
                raise BeamLossError(f"suspended for {now - since:.0f} s ({reason}); giving up")
            bad = [r for s in self.suspenders if (r := self._condition(s)[0])]
            if bad:
                good_since = None
            elif good_since is None:
                good_since = now
            if good_since is not None and now - good_since >= settle:
                break
            self.clock.sleep(self.poll_seconds)
        self._fire("recover", reason="condition good again")
        try:
            self._restore([])
        except _Interrupted:
            self._service()  # a command came while restoring; resuming restores again

    def _condition(self, suspender: Suspender) -> tuple[str | None, str]:
        """Why ``suspender`` trips (None: it holds), and the outcome of a run it cuts.  A
        condition that cannot be read (its device disconnected) does not hold either."""
        try:
            return (suspender.reason(self.beamline.devices),
                    getattr(suspender, "outcome", CUT_OUTCOME))
        except ConditionLostError as err:
            return err.message, err.outcome

    def _check_suspenders(self) -> None:
        for s in self.suspenders:
            reason, outcome = self._condition(s)
            if reason:
                raise _Suspend(reason, outcome)

    # ------------------------------------------------------------------ safe state
    def _device_safe_actions(self, declared: tuple[Action, ...]) -> tuple[Action, ...]:
        covered = {getattr(a, "device", None) for a in declared}
        extra: list[Action] = []
        for name, dev in self.beamline.devices.items():
            value = getattr(dev, "safe_value", None)
            if value is None and self.beamline.profile is not None:
                spec = self.beamline.profile.devices.get(name)
                value = spec.safe if spec is not None else None
            if value is None or name in covered:
                continue
            extra.append(Request(name, value) if isinstance(dev, Requestable) else Set(name, value))
        return tuple(extra)

    def _drive_safe_state(self, reason: str) -> list[Set | Request]:
        """Put the safe-state devices to their safe values; return how to undo it.

        Nothing interrupts it once started: commands (pause, stop, abort) take
        effect only after it (waits are shielded), and a KeyboardInterrupt that
        arrives meanwhile redoes the device it cut and is re-raised once every
        device has been driven.  What it did is published as
        :class:`SafeStateReached` (and kept in ``last_safe_state``).
        """
        undo: list[Set | Request] = []
        changes: list[tuple[str, Any, Any]] = []
        failed: list[str] = []
        held: BaseException | None = None
        self._shielded = self._replaying = True
        try:
            for act in self.safe_state:
                name, value = getattr(act, "device", ""), getattr(act, "value", None)
                try:
                    dev = self._device(name)
                    before = dev.read()[name] if isinstance(dev, Readable) else None
                    if before == value:
                        continue
                    while True:
                        try:
                            self._handlers[type(act)](act)
                            break
                        except KeyboardInterrupt as exc:  # drive it again, raise afterwards
                            held = exc
                except ExpctlError as err:
                    self._fault(act, err, "safe-state", 1)
                    failed.append(err.paragraph())
                    continue
                if before is not None:
                    changes.append((name, before, value))
                    undo.append(Request(name, before) if isinstance(act, Request)
                                else Set(name, before))
        finally:
            self._shielded = self._replaying = False
        if reason != "pause":  # an abort after a pause: say what the pause made safe, too
            changed = {c[0] for c in changes}
            changes[:0] = [(a.device, a.value, self._safe_value(a.device))
                           for a in self._undo if a.device not in changed]
        path, label = self.where()
        self.last_safe_state = SafeStateReached(reason, tuple(changes), self.clock.now(), path,
                                                label, tuple(failed))
        self.bus.publish(self.last_safe_state)
        if held is not None:
            raise held
        return undo

    def _safe_value(self, name: str) -> Any:
        return next((getattr(a, "value", None) for a in self.safe_state
                     if getattr(a, "device", None) == name), None)

    # ------------------------------------------------------------------ devices
    def _device(self, name: str) -> Device:
        try:
            return self.beamline.devices[name]
        except KeyError:
            near = difflib.get_close_matches(name, list(self.beamline.devices), n=3)
            raise SequenceError(
                f"no device called {name!r} on {self.beamline.profile.name}", device=name,
                hint=f"Did you mean {', '.join(near)}?" if near else "See `expctl devices`.",
            ) from None

    def _kind(self, name: str) -> tuple[Device, bool, bool, bool]:
        """(device, triggerable, readable, requestable), cached: protocol checks are slow."""
        k = self._kinds.get(name)
        if k is None:
            dev = self._device(name)
            k = (dev, isinstance(dev, Triggerable), isinstance(dev, Readable),
                 isinstance(dev, Requestable))
            self._kinds[name] = k
        return k

    def _settable(self, name: str, verb: str) -> Any:
        """The device, once it is known that this engine may set/move it (cached)."""
        dev = self._may_set.get(name)
        if dev is None:
            dev = self._device(name)
            check_access(name, dev.access, self.access, verb=verb)
            self._may_set[name] = dev
        return dev

    def _wait(self, statuses: list[Status], devices: Iterable[Device] = ()) -> None:
        """Wait for statuses; on a wall clock, commands can cut the wait (motion stops)."""
        clock = self.clock
        if self._virtual:
            latest = clock.now()
            for st in statuses:
                if st.pending:  # callback-driven status on a virtual clock
                    wait_all(statuses, clock)
                    return
                end = st.completion_time()
                if end is not None and end > latest:
                    latest = end
            clock.sleep_until(latest)
            for st in statuses:
                st.result(latest)
            return
        while True:
            now = clock.now()
            if all(st.is_done(now) for st in statuses):
                break
            if self._attention and not self._shielded \
                    and self.state not in (S.RUNNING, S.PAUSING):
                for dev in devices:
                    if isinstance(dev, Stoppable):
                        dev.stop()
                raise _Interrupted()
            pending = next((st for st in statuses if st.pending), None)
            if pending is not None:  # finished by hardware: wake as soon as it is
                pending.wait_real(0.05)
                continue
            ends = [t for st in statuses if (t := st.completion_time()) is not None and t > now]
            clock.sleep_until(min([now + 0.05, *ends]))
        now = clock.now()
        for st in statuses:
            st.result(now)

    def _in_units(self, name: str, value: Any) -> Any:
        """A target given as a quantity (``"20 mdeg"``, ``Quantity``) in the device's units."""
        if type(value) is float or type(value) is int:
            return value
        return in_units(value, str(getattr(self._device(name), "units", "") or ""))

    def _remember(self, action: Action) -> None:
        if not self._replaying:
            self._since_checkpoint.append(action)

    # ------------------------------------------------------------------ handlers
    def _do_move(self, action: Move) -> None:
        targets = action.targets
        if len(targets) == 1 and not action.relative:  # a step-scan point: one axis
            ((name, target),) = targets.items()
            dev = self._may_set.get(name)
            if dev is not None and (type(target) is float or type(target) is int):
                try:
                    dev.check_value(target)
                except UserError:
                    pass  # reported below, as for several axes
                else:
                    status = dev.set(target)
                    if not self._replaying:
                        self._since_checkpoint.append(action)
                    self._wait([status], (dev,))
                    return
        planned: list[tuple[Device, float]] = []
        errors: list[ExpctlError] = []
        for name, value in action.targets.items():
            try:
                dev = self._settable(name, "moved")
                value = self._in_units(name, value)
                target = dev.position + value if action.relative else value  # type: ignore[attr-defined]
                dev.check_value(target)  # type: ignore[attr-defined]
                planned.append((dev, target))
            except UserError as err:
                errors.append(err)
        if errors and not self.check_only:
            raise errors[0] if len(errors) == 1 else AggregateError(errors)
        statuses = [dev.set(target) for dev, target in planned]  # type: ignore[attr-defined]
        self._remember(Move({d.name: t for d, t in planned}) if action.relative else action)
        self._wait(statuses, [d for d, _ in planned])
        errors = [e for e in errors if e.device not in self._limits_reported]
        if errors:
            raise errors[0] if len(errors) == 1 else AggregateError(errors)

    def _do_set(self, action: Set) -> None:
        dev = self._settable(action.device, "set")
        value = self._in_units(action.device, action.value)
        dev.check_value(value)  # type: ignore[attr-defined]
        status = dev.set(value)  # type: ignore[attr-defined]
        self._remember(action)
        self._wait([status], [dev])

    def _do_request(self, action: Request) -> None:
        dev, _, _, requestable = self._kind(action.device)
        if not requestable:
            raise SequenceError(f"{action.device} is not an accelerator parameter",
                                device=action.device, hint="Use set or move instead.")
        check_access(action.device, dev.access, self.access, verb="request")
        value = self._in_units(action.device, action.value)
        dev.check_value(value)  # type: ignore[attr-defined]
        status = dev.request(value, self.access)  # type: ignore[attr-defined]
        self._remember(action)
        self._wait([status])

    def _do_trigger(self, action: Trigger) -> None:
        if self.suspenders:
            self._check_suspenders()
        statuses = []
        kinds = self._kinds
        for name in action.devices:
            dev, triggerable, _, _ = kinds.get(name) or self._kind(name)
            if triggerable:
                statuses.append(dev.trigger(action.shots))  # type: ignore[attr-defined]
        self._wait(statuses)
        if self.suspenders:
            self._check_suspenders()

    def _do_read(self, action: Read) -> dict[str, Any]:
        out: dict[str, Any] = {}
        kinds = self._kinds
        for name in action.devices:
            dev, _, readable, _ = kinds.get(name) or self._kind(name)
            if not readable:
                raise SequenceError(f"{name} cannot be read", device=name)
            out.update(dev.read())  # type: ignore[attr-defined]
        return out

    def _do_sleep(self, action: Sleep) -> None:
        now = self.clock.now()
        self._wait([Status("sleep", now, now + action.seconds)])

    def _do_checkpoint(self, action: Checkpoint) -> None:
        self._since_checkpoint.clear()
        if self._model.state is S.PAUSING:
            self._fire("halt", reason="checkpoint")
            self._service()

    def _do_next_spot(self, action: NextSpot) -> tuple[int, float, float]:
        try:
            grid = self.beamline.spot_grids[action.grid]
        except KeyError:
            raise SequenceError(f"no spot grid called {action.grid!r}", device=action.grid,
                                allowed=", ".join(self.beamline.spot_grids) or "none") from None
        used = self._consumed.get(action.grid)
        if used is None:
            used = set(self.journal.consumed_spots(action.grid)) if self.journal else set()
            if self.spots is not None:
                used |= self.spots.exposed(action.grid)
            self._consumed[action.grid] = used
        sample = self.spots.sample(action.grid) if self.spots is not None else None
        path = self._frames[-1].begin.path if self._frames else ""
        while True:  # the registry has the last word: another session may have taken it
            index = next((i for i in range(len(grid)) if i not in used), None)
            if index is None:
                on = f"sample {sample!r} on {action.grid}" if sample else action.grid
                raise LimitError(f"no never-exposed spot left on {on} (all {len(grid)} used)",
                                 device=action.grid,
                                 hint="Mount a fresh sample (`expctl sample new NAME`) and "
                                      "resume or start again.")
            used.add(index)
            if self.spots is None or self.spots.claim(action.grid, index, path):
                break
        x, y = grid.position(index)
        self.bus.publish(SpotConsumed(action.grid, index, (x, y), self.clock.now()))
        self._spot = self._spot_context(action.grid, index, x, y)
        self._do_move(Move({grid.x_axis: x, grid.y_axis: y}))
        return index, x, y

    def _spot_context(self, grid: str, index: int, x: float, y: float) -> dict[str, Any]:
        """What runs at this spot record of it (``sample`` when the registry names one)."""
        spot: dict[str, Any] = {"grid": grid, "index": index, "x": x, "y": y}
        sample = self.spots.sample(grid) if self.spots is not None else None
        if sample is not None:
            spot["sample"] = sample
        return spot

    def _do_analyze(self, action: Analyze) -> Any:
        kwargs = dict(action.kwargs)
        if action.facility:
            if self.beamline.archive is None:
                raise DataError(f"analysis {action.name!r} reads the facility archive, and "
                                f"beamline {self.beamline.profile.name} has none")
            kwargs.update(archive=self.beamline.archive, daq_config=self.beamline.daq.config())
        result = action.fn(*action.args, **kwargs)
        self.results[action.name] = result
        self.bus.publish(AnalysisDone(action.name, result, self.clock.now(),
                                      dict(action.inputs), self._run_context("")))
        return result

    def _do_check_limits(self, action: CheckLimits) -> None:
        def check(name: str, value: float) -> None:
            self._settable(name, "moved").check_value(value)

        problems = limit_problems({name: [self._in_units(name, v) for v in values]
                                   for name, values in action.targets.items()}, check)
        if self.check_only:  # a rehearsal goes on: its moves need not repeat these
            self._limits_reported.update(p.device for p in problems if p.device)
        if problems:
            raise problems[0] if len(problems) == 1 else AggregateError(
                problems, f"{len(problems)} axes would leave their limits; nothing moved")

    def _do_open_scan(self, action: OpenScan) -> int:
        units: dict[str, str] = {}
        for name in (*action.axes, *action.detectors):
            dev, _, readable, _ = self._kind(name)
            describe = getattr(dev, "describe", None) if readable else None
            if describe is not None:
                units.update({sig: info.units for sig, info in describe().items()})
        opened = self._scans.begin(action, self.clock.now(), units, self._run_context(""))
        self.bus.publish(opened)
        return opened.number

    def _do_record_point(self, action: RecordPoint) -> None:
        self.bus.publish(self._scans.point(action, self.clock.now()))

    def _do_close_scan(self, action: CloseScan) -> None:
        closed = self._scans.end("completed", self.clock.now())
        if closed is not None:
            self.bus.publish(closed)

    def _do_finally(self, action: Finally) -> None:
        self._finally.append(tuple(action.actions))

    def _do_finally_done(self, action: FinallyDone) -> None:
        if self._finally:
            self._finally.pop()

    def _do_units(self, action: Units) -> dict[str, str]:
        return {name: str(getattr(self._device(name), "units", "") or "")
                for name in action.devices}

    def _run_finally(self) -> None:
        """The clean-up a plan left registered (a relative scan's way back), innermost first.

        It runs whatever ended the plan; a further stop or abort cuts it short, and a
        device that fails is reported as a fault, not raised over the plan's own outcome.
        """
        frames, self._finally = self._finally, []
        self._attention = False  # the command that ended the plan is served
        try:
            for actions in reversed(frames):
                for act in actions:
                    try:
                        self._handlers[type(act)](act)
                    except ExpctlError as err:
                        self._fault(act, err, "finally", 1)
        except _Interrupted:
            pass

    def _do_step_begin(self, action: StepBegin) -> None:
        frame = _Frame(action, self.clock.now())
        if self.journal is not None:
            done = self.journal.completed_step(action.path)
            if done is not None and not self._replaying_step and self._must_redo(action, done):
                done = None
            if done is not None:
                frame.replay = iter(done)
        self._frames.append(frame)
        self._frames_changed()
        self.bus.publish(StepStarted(action.path, action.label, frame.started, action.context))

    def _must_redo(self, action: StepBegin, done: list[tuple[str, Any]]) -> bool:
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
        if journal is None:
            return False
        if not (self._redo_top or any(f.redo for f in self._frames)):
            spots = [value[0] for name, value in done if name == "NextSpot"]
            if not any(journal.spot_cut(action.path, i) and self._may_be_destroyed(i)
                       for i in spots):
                return False
            if self._frames:
                self._frames[-1].redo = True
            else:
                self._redo_top = True
        for run in journal.redo(action.path):
            self.bus.publish(RunSuperseded(run, self.clock.now(), action.path))
        return True

    def _may_be_destroyed(self, index: int) -> bool:
        book = self.spots
        return book is None or any(book.destroyed(grid, index)
                                   for grid in self.beamline.spot_grids)

    def _do_step_end(self, action: StepEnd) -> None:
        if not self._frames or self._frames[-1].begin.path != action.path:
            open_path = self._frames[-1].begin.path if self._frames else "none"
            raise SequenceError(f"step end {action.path!r} does not match the open step "
                                f"{open_path!r}")
        frame = self._frames.pop()
        self._frames_changed()
        skipped = frame.replay is not None
        if skipped:
            self._steps_skipped += 1
        else:
            self._steps_done += 1
        self.bus.publish(StepFinished(action.path, self.clock.now(), skipped,
                                      tuple(frame.transcript)))

    def _replay(self, action: Action) -> Any:
        """Inside a step the journal says is complete: hand back its recorded results."""
        kind = type(action)
        if kind is StepBegin or kind is StepEnd:
            if kind is StepBegin and self.journal is not None and \
                    self.journal.completed_step(action.path) is None:  # type: ignore[union-attr]
                raise DataError(f"journal inconsistent: step {action.path!r} "  # type: ignore[union-attr]
                                "is not complete inside a completed step")
            return self._handlers[kind](action)
        if kind not in RECORDED:
            if kind in SETTING:
                self._collect(action)  # type: ignore[arg-type]
            return None
        replay = self._frames[-1].replay
        try:
            name, value = next(replay)  # type: ignore[call-overload]
        except StopIteration:
            raise DataError(f"the plan asks for more results in step "
                            f"{self._frames[-1].begin.path!r} than the journal holds; "
                            "was the sequence changed since?") from None
        if name != kind.__name__:
            raise DataError(f"journal replay of step {self._frames[-1].begin.path!r}: "
                            f"expected {name}, the plan yields {kind.__name__}")
        if kind is Analyze:
            self.results[action.name] = value  # type: ignore[union-attr]
        elif kind is NextSpot:
            self._spot = self._spot_context(action.grid, *value)  # type: ignore[union-attr]
            grid = self.beamline.spot_grids.get(action.grid)  # type: ignore[union-attr]
            if grid is not None:
                self._collect(Move({grid.x_axis: value[1], grid.y_axis: value[2]}))
        return value

    def _collect(self, action: Move | Set | Request) -> None:
        """Remember the last target a replayed step gave each device (in last-set order).

        A relative move is followed from the last absolute target of its axis; without
        one its start is unknown, and the axis is left where it is.
        """
        targets = self._replayed_targets
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
        self._attention = True  # looked at before the next action: is it live yet?

    def _restore_replayed(self) -> None:
        """Before the first live action after replayed steps, drive back what they set.

        An abort's safe state, a crash (a fresh process starts from defaults) or
        someone at the hutch may have changed devices since those steps ran;
        skipping them must not skip the state they set up.  Devices that differ
        are published (:class:`StateRestored`), then driven like any action
        (limits, access, fault policy): axes first, in parallel, then the others
        in the order the plan set them.
        """
        wanted, self._replayed_targets = self._replayed_targets, {}
        moves: dict[str, float] = {}
        others: list[Action] = []
        changed: list[tuple[str, Any]] = []
        for name, (kind, value) in wanted.items():
            dev, _, readable, _ = self._kind(name)
            if readable and same_value(dev.read().get(name), value):  # type: ignore[attr-defined]
                continue
            changed.append((name, value))
            if kind is Move:
                moves[name] = value
            else:
                others.append(kind(name, value))
        if not changed:
            return
        path = self._frames[-1].begin.path if self._frames else ""
        self.bus.publish(StateRestored(
            tuple(sorted(changed, key=lambda c: c[0] not in moves)), self.clock.now(), path))
        for act in ([Move(moves)] if moves else []) + others:
            self._attempt(act, self._handlers[type(act)])

    # ------------------------------------------------------------------ runs
    def _run_context(self, label: str) -> RunContext:
        profile = self.beamline.profile
        units = {name: spec.units for name, spec in profile.devices.items()} if profile else {}
        return run_context(self._context, (f.begin for f in self._frames), label=label,
                           sample_spot=self._spot, device_units=units)

    def _snapshot(self) -> dict[str, Any]:
        snap: dict[str, Any] = {}
        for name in self.beamline.devices:
            dev, triggerable, readable, _ = self._kind(name)
            if readable and not triggerable:
                snap.update(dev.read())  # type: ignore[attr-defined]
        return snap

    def _do_take_run(self, action: TakeRun) -> RunRecord:
        if self.suspenders:
            self._check_suspenders()
        daq = self.beamline.daq
        ctx = self._run_context(action.label)
        record, status = daq.start_run(action.shots, label=action.label,
                                       comment=action.comment, full_frames=action.full_frames)
        try:
            self.bus.publish(RunStarted(record, ctx, self.clock.now(), self._snapshot(),
                                        daq.config()))
            self._follow_run(status, ctx)
        except _Suspend as cut:
            self._end_run(ctx, cut.outcome, aborted=True)
            raise
        except _Interrupted:
            state = self.state
            outcome = {S.ABORTING: "aborted", S.IDLE: "stopped"}.get(state, "interrupted")
            self._end_run(ctx, outcome, aborted=True)
            raise
        except DeviceError as err:
            retaken = isinstance(err, ConditionLostError) and bool(self.suspenders)
            self._end_run(ctx, err.outcome if isinstance(err, ConditionLostError) and retaken
                          else "failed", aborted=True)
            raise
        except Exception:  # logging failed (a critical subscriber): the DAQ must still stop
            self._abandon_run(ctx)
            raise
        return self._end_run(ctx, "completed", aborted=False)

    def _follow_run(self, status: Status, ctx: RunContext) -> None:
        """Let the run's shots happen block by block, publishing them and watching the beam."""
        clock = self.clock
        daq = self.beamline.daq
        while True:
            now = clock.now()
            end = status.completion_time()
            until = now + self.block_seconds if end is None else min(end, now + self.block_seconds)
            self._wait([Status("daq", now, until)])
            block = daq.collect()
            if block is not None and len(block):
                self.bus.publish(ShotBlockTaken(block, ctx, clock.now()))
            if self._attention and self.state not in (S.RUNNING, S.PAUSING):
                raise _Interrupted()
            if self.suspenders:
                self._check_suspenders()
            if status.is_done(clock.now()):
                status.result(clock.now())
                return

    def _end_run(self, ctx: RunContext, outcome: str, *, aborted: bool) -> RunRecord:
        daq = self.beamline.daq
        block = daq.collect()
        record = daq.stop_run(aborted=aborted)  # before publishing: logging may fail
        try:
            if block is not None and len(block):
                self.bus.publish(ShotBlockTaken(block, ctx, self.clock.now()))
            self.bus.publish(RunStopped(record, outcome, self.clock.now(), ctx))
        except BaseException:
            self._cut_runs.append(record)
            raise
        (self._runs if outcome == "completed" else self._cut_runs).append(record)
        return record

    def _abandon_run(self, ctx: RunContext) -> None:
        """Stop a run whose logging failed: the DAQ closes it (the facility's status 0)
        and the subscribers that still work close their records.  A second failure of
        the broken one (or the catalog that never saw the start) is not reported over
        the first, which is on its way up."""
        daq = self.beamline.daq
        record = daq.stop_run(aborted=True)
        daq.collect()  # shots the DAQ took after the failure cannot be logged either
        self._cut_runs.append(record)
        with contextlib.suppress(Exception):
            self.bus.publish(RunStopped(record, "failed", self.clock.now(), ctx))


def _finish_journal(journal: JournalLike, outcome: str, *, failing: bool) -> None:
    """Journal how the plan ended; a journal that fails then is reported only if nothing
    else is (a campaign not marked ended stays resumable, which is safe)."""
    try:
        journal.finish(outcome)
    except ExpctlError:
        if not failing:
            raise


def same_value(current: Any, target: Any) -> bool:
    """Whether a device already reads its target (numbers to within rounding)."""
    if isinstance(current, int | float) and isinstance(target, int | float) \
            and not isinstance(current, bool) and not isinstance(target, bool):
        return math.isclose(current, target, rel_tol=1e-9, abs_tol=1e-12)
    return bool(current == target)
