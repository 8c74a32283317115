"""The interpreter: executes a plan's actions one at a time on the caller's thread.

It dispatches every action through a ``{action type: handler}`` table and acts
on what comes back: commands from other threads (pause, stop, abort) between
actions, suspenders around triggers and runs, the fault policy of the step an
action fails in, the safe state on pause, abort and failure, and replay of the
steps a journal says are complete.  The common case — no command pending,
outside journaled steps — is one handler call.  Devices, runs, spots, replay,
steps and the safe state are the components beside it (:mod:`expctl.engine`);
:class:`~expctl.engine.engine.Engine` adds user commands and runs plans.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, MutableMapping
from typing import Any

from expctl.clock import Clock
from expctl.devices.access import AccessLevel
from expctl.devices.protocols import Beamline, RunRecord
from expctl.engine.devices import DeviceTable
from expctl.engine.events import (
    AnalysisDone,
    EventBus,
    FaultRaised,
    GoingLive,
    RunContext,
    SafeStateReached,
    StateChanged,
    StateRestored,
)
from expctl.engine.interrupts import (
    RECOVERABLE,
    AbortRequested,
    StopRequested,
    SuspendRequested,
    WaitInterrupted,
)
from expctl.engine.lifecycle import Lifecycle
from expctl.engine.motion import DeviceActions
from expctl.engine.points import ScanMove, ScanPoints
from expctl.engine.replay import MARKERS, RECORDED, JournalLike, Replay, SpotBook
from expctl.engine.runcontext import logged_params
from expctl.engine.runs import RunTaker
from expctl.engine.safestate import drive_safe_state
from expctl.engine.scanning import Cleanups, ScanActions
from expctl.engine.scans import ScanBook, ScanNumbers
from expctl.engine.spots import SpotTaker, spot_context
from expctl.engine.states import EngineState
from expctl.engine.steps import StepStack
from expctl.engine.suspenders import Suspender, condition
from expctl.errors import (
    AggregateError,
    BeamLossError,
    ConditionLostError,
    DataError,
    DeviceError,
    ExpctlError,
    SequenceError,
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
    Read,
    RecordPoint,
    Request,
    Set,
    Sleep,
    StepBegin,
    StepEnd,
    StepScan,
    TakeRun,
    Trigger,
    Units,
)

__all__ = ["RECOVERABLE", "Interpreter"]

S = EngineState


class Interpreter(ScanPoints):
    """The action-level machinery under :class:`~expctl.engine.engine.Engine` (which sets
    its settings and calls :meth:`_wire`)."""

    # set by the Engine, which documents them
    beamline: Beamline
    clock: Clock
    bus: EventBus
    journal: JournalLike | None
    spots: SpotBook | None
    access: AccessLevel
    safe_state: tuple[Action, ...]
    suspenders: tuple[Suspender, ...]
    results: MutableMapping[str, Any]
    default_policy: FaultPolicy
    block_seconds: float
    poll_seconds: float
    suspend_timeout: float | None
    scan_numbers: ScanNumbers | None

    def _wire(self) -> None:
        """Build the state machine, the components and the handler table (once the
        settings above are set)."""
        self._life = Lifecycle(self._on_state_change)
        steps = self._steps = StepStack(self.bus, self.clock)
        self._attention = False
        beamline = self.beamline
        profile = beamline.profile
        self._devices = DeviceTable(beamline.devices, profile.name if profile else "",
                                    self.access)
        motion = self._motion = DeviceActions(self._devices, self.clock, self.access,
                                              self._cut, self._remember, self._refuse)
        self._handlers: dict[type, Callable[[Any], Any]] = {
            Move: motion.move, Set: motion.set, Request: motion.request,
            Trigger: self._do_trigger if self.suspenders else motion.trigger,
            Read: motion.read, Sleep: motion.sleep,
            Checkpoint: self._do_checkpoint, StepScan: self._do_scan,
            TakeRun: self._do_take_run,
            NextSpot: self._do_next_spot, Analyze: self._do_analyze,
            StepBegin: steps.begin, StepEnd: steps.end,
        }
        scans = self._scan_actions = ScanActions(
            self._devices, ScanBook(self.scan_numbers), self.bus, self.clock,
            self._run_context, self._refuse_limits)
        cleanups = self._cleanups = Cleanups()
        self._handlers.update({
            CheckLimits: scans.check_limits, OpenScan: scans.open_scan,
            RecordPoint: scans.record_point, CloseScan: scans.close_scan, Units: scans.units,
            Finally: cleanups.push, FinallyDone: cleanups.pop,
        })
        #: True while the safe state is driven: no command may cut its waits short
        self._shielded = False
        self.last_safe_state: SafeStateReached | None = None
        self._reset_run_state(RunContext())

    @property
    def state(self) -> EngineState:
        """The lifecycle state now."""
        return self._life.state

    @property
    def driving_safe_state(self) -> bool:
        """True while the safe state is being driven (nothing can interrupt it)."""
        return self._shielded

    def where(self) -> tuple[str, str]:
        """(path, label) of the innermost step running now (empty outside steps)."""
        return self._steps.where()

    def _fire(self, trigger: str, *, reason: str = "") -> None:
        self._life.fire(trigger, reason)

    def _on_state_change(self, old: EngineState, new: EngineState, reason: str) -> None:
        self.bus.publish(StateChanged(old.value, new.value, self.clock.now(), reason))

    def _reset_run_state(self, context: RunContext) -> None:
        self._context = logged_params(context)
        self._since_checkpoint: list[Action | ScanMove] = []
        #: how to undo the safe state of the pause(s) since the last resume
        self._undo: list[Set | Request] = []
        self._replaying = False
        self._spot: Mapping[str, Any] | None = None
        self._replay = (Replay(self.journal, self.spots, self.beamline.spot_grids, self.bus,
                               self.clock) if self.journal is not None else None)
        self._steps.reset(self._replay)
        self._spot_taker = SpotTaker(self.beamline.spot_grids, self.journal, self.spots,
                                     self.bus, self.clock)
        self._taker = RunTaker(self.beamline.daq, self.bus, self.clock, self.block_seconds,
                               self._motion.wait, self._watch_run, self._cut_outcome,
                               bool(self.suspenders))
        self._faults: list[FaultRaised] = []
        self._live = False
        self._cleanups.frames = []

    def _execute_special(self, action: Action) -> Any:
        """An action when a command is pending or a step is replayed or transcribed (the
        common case is just :meth:`_attempt`: see the engine's ``_drive``)."""
        kind = type(action)
        if kind is StepScan:  # its points look at what needs looking at, action by action
            return self._do_scan(action)  # type: ignore[arg-type]
        steps = self._steps
        if self._attention:
            self._service()
            if not steps.replaying and kind not in MARKERS:
                if not self._live:
                    self._live = True
                    self.bus.publish(GoingLive(self.clock.now()))
                if self._replay is not None and self._replay.targets:
                    self._restore_replayed()
        if steps.replaying:
            return self._replayed(action)
        result = self._attempt(action)
        if steps.transcribe and kind in RECORDED:
            steps.top.transcript.append((kind.__name__, result))
        return result

    def _attempt(self, action: Action) -> Any:
        """Run one action under suspenders, commands and the fault policy."""
        handler = self._handlers.get(type(action))
        if handler is None:
            raise SequenceError(f"the engine does not know the action {action!r}")
        try:
            return handler(action)
        except RECOVERABLE as err:
            return self._recover(action, handler, err)

    def _recover(self, action: Action, handler: Callable[[Any], Any], err: Exception) -> Any:
        """After ``action`` raised ``err``: suspend, obey a command or apply the fault
        policy, and try again as long as that says to."""
        attempt = 0
        while True:
            if isinstance(err, SuspendRequested):
                self._suspended(err.reason)
            elif isinstance(err, WaitInterrupted):
                self._service()
            elif isinstance(err, UserError | AggregateError):
                if err.exit_code != 2:
                    raise err
                self._refuse(err)
                return None
            elif isinstance(err, DeviceError):
                if not (isinstance(err, ConditionLostError) and self.suspenders):
                    attempt += 1
                    policy = self._steps.policy(self.default_policy)
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
            except RECOVERABLE as again:
                err = again

    def _refuse(self, err: ExpctlError) -> None:
        """What the engine does with an action it must refuse (a limit, access, a bad
        device): a real run raises it, before anything of that action moves.  (A
        rehearsal, :mod:`expctl.engine.estimate`, collects it and goes on.)"""
        raise err

    def _refuse_limits(self, err: ExpctlError) -> None:
        """A scan's targets its axes' limits refuse (CheckLimits): raised like any refusal
        (a rehearsal also stops reporting those axes at each point)."""
        raise err

    def _fault(self, action: Action, err: ExpctlError, policy: str, attempt: int) -> None:
        ev = FaultRaised(type(action).__name__, err, policy, attempt, self.clock.now(),
                         self._steps.path)
        self._faults.append(ev)
        self.bus.publish(ev)

    # ------------------------------------------------------------------ commands seen
    def _service(self) -> None:
        """Act on the state other threads put us in; return once running again."""
        while True:
            state = self.state
            if state in (S.RUNNING, S.PAUSING, S.SUSPENDED):
                # restore replayed state / announce going live before the next live action
                self._attention = bool(self._replay and self._replay.targets) or not self._live
                return
            if state is S.PAUSED:
                self._paused()
                continue
            if state is S.ABORTING:
                raise AbortRequested()
            raise StopRequested()

    def _paused(self) -> None:
        """Drive the safe state, ask (pause hook), wait for a command; on resume undo it.

        A resume cut short by another immediate pause keeps what is still to be
        undone, so the next resume restores the state from before the first pause.
        """
        undo = self._drive_safe_state("pause")
        known = {a.device for a in self._undo}
        self._undo += [a for a in undo if a.device not in known]
        if self.state is S.PAUSED:
            self._on_paused()
        self._life.wait_while(S.PAUSED)
        if self.state is S.RUNNING or self.state is S.PAUSING:  # resumed (maybe re-paused)
            try:
                self._restore(self._undo)
            except WaitInterrupted:
                return  # paused, stopped or aborted again while restoring: _service decides
            self._undo = []

    def _restore(self, restore: Iterable[Action]) -> None:
        """Undo the safe state, then re-establish device state since the last checkpoint."""
        self._replaying = True
        try:
            for act in restore:
                self._handlers[type(act)](act)
            for done in self._since_checkpoint:
                act = done[0].move(done[1]) if isinstance(done, tuple) else done  # a ScanMove
                self._handlers[type(act)](act)
        finally:
            self._replaying = False

    def _suspended(self, reason: str) -> None:
        """Wait (suspended) until every suspender has been good for its settle time.

        A pause asked for before the suspension (still waiting for its checkpoint) is
        asked for again on recovery: the beam dropping must not swallow an operator's
        Ctrl-C.
        """
        pause_pending = self.state is S.PAUSING
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
            devices = self.beamline.devices
            bad = [r for s in self.suspenders if (r := condition(s, devices)[0])]
            if bad:
                good_since = None
            elif good_since is None:
                good_since = now
            if good_since is not None and now - good_since >= settle:
                break
            self.clock.sleep(self.poll_seconds)
        self._fire("recover", reason="condition good again")
        if pause_pending:
            self._fire("pause", reason="the pause asked for before the suspension")
        try:
            self._restore([])
        except WaitInterrupted:
            self._service()  # a command came while restoring; resuming restores again

    def _check_suspenders(self) -> None:
        devices = self.beamline.devices
        for s in self.suspenders:
            reason, outcome = condition(s, devices)
            if reason:
                raise SuspendRequested(reason, outcome)

    # ------------------------------------------------------------------ safe state
    def _drive_safe_state(self, reason: str) -> list[Set | Request]:
        """Put the safe-state devices to their safe values; return how to undo it.

        Nothing interrupts it once started: commands (pause, stop, abort) take
        effect only after it (waits are shielded), and a KeyboardInterrupt that
        arrives meanwhile redoes the device it cut and is re-raised once every
        device has been driven.  What it did is published as
        :class:`SafeStateReached` (and kept in ``last_safe_state``).
        """
        self._shielded = self._replaying = True
        try:
            done = drive_safe_state(self.safe_state, self._devices,
                                    lambda act: self._handlers[type(act)](act),
                                    lambda act, err: self._fault(act, err, "safe-state", 1))
        finally:
            self._shielded = self._replaying = False
        changes = done.changes
        if reason != "pause":  # an abort after a pause: say what the pause made safe, too
            changed = {c[0] for c in changes}
            changes[:0] = [(a.device, a.value, self._safe_value(a.device))
                           for a in self._undo if a.device not in changed]
        path, label = self.where()
        self.last_safe_state = SafeStateReached(reason, tuple(changes), self.clock.now(), path,
                                                label, tuple(done.failed))
        self.bus.publish(self.last_safe_state)
        if done.held is not None:
            raise done.held
        return done.undo

    def _safe_value(self, name: str) -> Any:
        return next((getattr(a, "value", None) for a in self.safe_state
                     if getattr(a, "device", None) == name), None)

    # ------------------------------------------------------------------ handlers
    def _cut(self) -> bool:
        """Whether a command cuts the wait going on (never while the safe state is driven)."""
        return self._attention and not self._shielded \
            and self.state not in (S.RUNNING, S.PAUSING)

    def _remember(self, action: Action) -> None:
        if not self._replaying:
            self._since_checkpoint.append(action)

    def _do_trigger(self, action: Trigger) -> None:
        """A trigger between suspender checks (the handler only when there are
        suspenders: without, triggers go straight to the devices)."""
        self._check_suspenders()
        self._motion.trigger(action)
        self._check_suspenders()

    def _do_checkpoint(self, action: Checkpoint) -> None:
        self._since_checkpoint.clear()
        if self.state is S.PAUSING:
            self._fire("halt", reason="checkpoint")
            self._service()

    def _do_next_spot(self, action: NextSpot) -> tuple[int, float, float]:
        index, x, y = self._spot_taker.take(action.grid, self._steps.path)
        grid = self._spot_taker.grid(action.grid)
        self._spot = spot_context(self.spots, action.grid, index, x, y)
        self._motion.move(Move({grid.x_axis: x, grid.y_axis: y}))
        return index, x, y

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

    # ------------------------------------------------------------------ replay
    def _replayed(self, action: Action) -> Any:
        """Inside a step the journal says is complete: hand back its recorded results."""
        replay = self._replay
        if replay is None:  # (steps are replayed only from a journal)
            raise DataError("a step is replayed without a journal")
        if isinstance(action, StepBegin | StepEnd):
            if isinstance(action, StepBegin):
                replay.check_nested(action)
            return self._handlers[type(action)](action)
        if type(action) not in RECORDED:
            if isinstance(action, Move | Set | Request):
                self._collect(action)
            return None
        value = replay.next_result(action, self._steps.top)
        if isinstance(action, Analyze):
            self.results[action.name] = value
        elif isinstance(action, NextSpot):
            self._spot = spot_context(self.spots, action.grid, *value)
            grid = self.beamline.spot_grids.get(action.grid)
            if grid is not None:
                self._collect(Move({grid.x_axis: value[1], grid.y_axis: value[2]}))
        return value

    def _collect(self, action: Move | Set | Request) -> None:
        if self._replay is not None:
            self._replay.collect(action)
        self._attention = True  # looked at before the next action: is it live yet?

    def _restore_replayed(self) -> None:
        """Before the first live action after replayed steps, drive back what they set.

        An abort's safe state, a crash (a fresh process starts from defaults) or
        someone at the hutch may have changed devices since those steps ran;
        skipping them must not skip the state they set up.  Devices that differ
        are published (:class:`StateRestored`), then driven like any action
        (limits, access, fault policy).
        """
        if self._replay is None:
            return
        changed, actions = self._replay.to_restore(self._devices)
        if not changed:
            return
        self.bus.publish(StateRestored(tuple(changed), self.clock.now(), self._steps.path))
        for act in actions:
            self._attempt(act)

    # ------------------------------------------------------------------ runs
    def _run_context(self, label: str) -> RunContext:
        profile = self.beamline.profile
        units = {name: spec.units for name, spec in profile.devices.items()} if profile else {}
        return self._steps.run_context(self._context, label, self._spot, units)

    def _do_take_run(self, action: TakeRun) -> RunRecord:
        if self.suspenders:
            self._check_suspenders()
        return self._taker.take(action, self._run_context(action.label),
                                self._devices.snapshot)

    def _watch_run(self) -> None:
        """Between a run's shot blocks: a command or a suspender may cut it."""
        if self._attention and self.state not in (S.RUNNING, S.PAUSING):
            raise WaitInterrupted()
        if self.suspenders:
            self._check_suspenders()

    def _cut_outcome(self) -> str:
        return {S.ABORTING: "aborted", S.IDLE: "stopped"}.get(self.state, "interrupted")

    def _on_paused(self) -> None:
        """Told on the engine thread that the plan has paused (the Engine asks its hook)."""
