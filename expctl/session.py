"""The one explicit Session: profile, beamline, clock, engine, bus, results, journal, catalog.

The CLI, the shell and Python users all work through a Session; there is no
module-level state anywhere else.  The beamline is connected lazily, so
validating a sequence needs only the profile (fast, no backend).  What a session
shares with every other one on the same data directory — control of the beamline
(one controller at a time), the sample registry, campaigns to resume — lives in
:mod:`expctl.beamtime`::

    from expctl.session import Session
    with Session.open("bl3") as s:
        print(s.validate("sequences/pumpprobe.yaml").errors)
        summary = s.run("sequences/small.yaml", overrides=["shots=10"])
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from expctl.beamtime.runlogdesk import RunLogDesk
from expctl.beamtime.spots import SampleDesk
from expctl.clock import Clock, VirtualClock, WallClock
from expctl.devices.access import AccessLevel
from expctl.devices.profile import Profile
from expctl.devices.registry import BackendRegistry
from expctl.errors import BackendError, ExpctlError
from expctl.paths import default_data_dir

if TYPE_CHECKING:
    from expctl.beamtime.campaign import ResumePlan
    from expctl.beamtime.faults import FaultSpec
    from expctl.beamtime.lock import BeamlineLock, LockHolder
    from expctl.beamtime.samples import SampleInfo, SampleRegistry
    from expctl.devices.protocols import Beamline
    from expctl.engine import Engine, Estimate, EventBus, Journal, RunSummary, Suspender
    from expctl.plans.actions import Plan
    from expctl.runlog.attach import RunLogHandle
    from expctl.sequence.dryrun import DryRun
    from expctl.sequence.load import LoadedSequence
    from expctl.sequence.registry import VerbRegistry

__all__ = ["Session", "default_data_dir"]


class Session:
    """Everything one user's work with one beamline needs, held explicitly.

    Build with :meth:`open`.  Attributes other code may use: ``profile``,
    ``registry``, ``clock``, ``data_dir``, ``access``, ``results`` (named
    analysis results), ``verbs`` (sequence verbs), ``log`` (run log and plots), and
    lazily ``beamline``, ``bus``, ``engine``.

    Args:
        profile: the beamline profile.
        registry: the backend registry that connects it.
        clock: the clock the beamline runs on.
        data_dir: where journals, run files and the catalog go.
        access: the requester's access level.
        seed: simulator seed override.
        beamline: an already connected beamline (tests, embedding); else connected on demand.
        suspenders: install the profile's suspenders (``suspenders:``) in every engine.
        faults: a fault schedule to rehearse (simulators; see :mod:`expctl.beamtime.faults`),
            armed when the session's first plan starts.
        plots: draw alignment-scan PNGs (on a background thread, see
            :mod:`expctl.beamtime.runlogdesk`).
    """

    def __init__(self, profile: Profile, registry: BackendRegistry, clock: Clock,
                 data_dir: Path, *, access: AccessLevel = AccessLevel.USER,
                 seed: int | None = None, beamline: Beamline | None = None,
                 suspenders: bool = True, faults: Iterable[FaultSpec] = (),
                 plots: bool = True) -> None:
        self.profile = profile
        self.registry = registry
        self.clock = clock
        self.data_dir = Path(data_dir)
        self.access = access
        self.seed = seed
        self.results: dict[str, Any] = {}
        #: the step kinds this session's sequences may use (None: the shipped verbs)
        self.verbs: VerbRegistry | None = None
        self.journal: Journal | None = None
        self._beamline = beamline
        self._bus: EventBus | None = None
        self._engine: Engine | None = None
        #: the engine the last sequence ran on (its journal, safe state, pause hook)
        self._sequence_engine: Engine | None = None
        self.use_suspenders = suspenders
        self._suspenders: list[Suspender] | None = None
        self.faults = tuple(faults)
        #: run files, catalog, scan records and the alignment plots drawn beside them
        self.log = RunLogDesk(lambda: self.bus, self.data_dir, profile, clock, plots)
        self._lock: BeamlineLock | None = None
        self._hold_control = False
        #: things the user should hear about (a sample registered for them, a stale lock)
        self.notes: list[str] = []
        self.desk = SampleDesk(self.data_dir, profile.beamline, lambda: self.beamline,
                               self.notes)

    @classmethod
    def open(cls, profile: str | Path = "bl3", data_dir: Path | str | None = None,
             seed: int | None = None, *, speed: float | None = None,
             access: AccessLevel | str = AccessLevel.USER,
             registry: BackendRegistry | None = None,
             beamline: Beamline | None = None, suspenders: bool = True,
             faults: Iterable[str] = (), plots: bool = True) -> Session:
        """Open a session on a profile (name or YAML path).

        Args:
            profile: profile name (``bl3``) or path to a profile file.
            data_dir: data directory; ``$EXPCTL_DATA_DIR`` or ``./expctl-data`` by default.
            seed: simulator seed (the profile's seed by default).
            speed: run a simulated beamline on a wall clock sped up this much; a
                virtual clock (time jumps) is used for simulators otherwise.
            access: ``user``, ``staff`` (or an AccessLevel).
            registry: backends to use; entry points by default.
            beamline: a connected beamline to use instead of connecting (tests).
            suspenders: install the profile's suspenders (beam, signal bands).
            faults: ``--fault`` schedules to rehearse on a simulator, e.g.
                ``"beam_loss@120s+30s"`` (bad ones are user errors before anything connects).
            plots: draw alignment-scan PNGs (``--no-plots``: scan files and rows only).
        """
        specs = []
        if texts := tuple(faults):  # (the fault module imports the engine: only if needed)
            from expctl.beamtime.faults import parse_fault

            specs = [parse_fault(text) for text in texts]
        registry = registry or BackendRegistry()
        prof = registry.find_profile(profile)
        if seed is not None:
            prof = prof.with_seed(seed)
        if beamline is not None:
            clock: Clock = beamline.clock
        elif speed is not None:
            if speed <= 0:
                raise BackendError(f"--speed must be positive, got {speed:g}")
            clock = WallClock(speed=speed)
        elif prof.backend == "sim":
            clock = VirtualClock()
        else:
            clock = WallClock()
        level = AccessLevel.parse(access) if isinstance(access, str) else access
        return cls(prof, registry, clock, Path(data_dir) if data_dir else default_data_dir(),
                   access=level, seed=seed, beamline=beamline, suspenders=suspenders,
                   faults=specs, plots=plots)

    # -- lazily built parts ------------------------------------------------------------
    @property
    def beamline(self) -> Beamline:
        """The connected beamline (connected on first use)."""
        if self._beamline is None:
            beamline = self.registry.connect(self.profile, self.clock, data_dir=self.data_dir,
                                             seed=self.seed)
            if self.faults:  # (the fault module imports the engine: only if needed)
                from expctl.beamtime.faults import check_faults

                try:
                    check_faults(self.faults, beamline)
                except ExpctlError:
                    beamline.close()
                    raise
            self._beamline = beamline
            self.desk.tell(beamline)
        return self._beamline

    @property
    def suspenders(self) -> list[Suspender]:
        """What the backend says data taking needs (an EPICS link up), which always holds,
        then the profile's suspenders (unless the session was opened without them): a lost
        link is named as the reason before the beam that cannot be read through it."""
        if self._suspenders is None:
            from expctl.engine.suspenders import backend_conditions, suspenders_from_profile

            declared = (suspenders_from_profile(self.profile.suspenders, self.beamline.devices)
                        if self.use_suspenders else [])
            self._suspenders = [*backend_conditions(self.beamline), *declared]
        return self._suspenders

    @property
    def bus(self) -> EventBus:
        """The event bus every subscriber (run log, journal, progress) hangs on."""
        if self._bus is None:
            from expctl.engine import EventBus

            self._bus = EventBus()
            if self.faults:
                from expctl.beamtime.faults import arm_when_started

                arm_when_started(self._bus, self.faults, lambda: self.beamline)
        return self._bus

    @property
    def engine(self) -> Engine:
        """The engine for plans (built on first use, with the session's bus, results and
        suspenders); sequences run on one of their own (:meth:`run`)."""
        if self._engine is None:
            from expctl.engine import Engine

            self._engine = Engine(self.beamline, bus=self.bus, access=self.access,
                                  results=self.results, suspenders=self.suspenders,
                                  scan_numbers=self.next_scan_number)
        return self._engine

    @property
    def current_engine(self) -> Engine | None:
        """The engine already built (the one running a sequence), without building one.

        Ctrl-C handlers and the shell's pause/abort ask this: they must reach the
        engine ``run()`` made for the sequence, and must not create one while idle.
        """
        return self._sequence_engine or self._engine

    def attach_runlog(self) -> RunLogHandle:
        """Subscribe the run writer, catalog and alignment log (once)."""
        return self.log.attach()

    @property
    def runlog(self) -> RunLogHandle | None:
        """The attached run log (None until :meth:`attach_runlog`)."""
        return self.log.handle

    def next_scan_number(self) -> int:
        """A new scan-record number, reserved in the catalog (engines number scans by it)."""
        return self.log.attach().scans.reserve()

    # -- control: one controller per beamline ---------------------------------------------
    @contextmanager
    def control(self, purpose: str) -> Iterator[None]:
        """Hold the beamline's control lock while the block runs (reentrant); the run log is
        attached under it, so recovering a crashed session's runs never races a live one.

        Raises:
            ControllerBusyError: another process controls the beamline (exit code 2).
        """
        from expctl.beamtime.lock import BeamlineLock
        from expctl.paths import check_layout

        check_layout(self.data_dir, writing=True)  # before the lock: nothing written to it
        if self._lock is None:
            self._lock = BeamlineLock(self.data_dir, self.profile.beamline, self.profile.name)
        taken_here = not self._lock.held
        if taken_here:
            stale = self._lock.acquire(purpose)
            if stale is not None:
                self.notes.append(f"took over control of beamline {self.profile.beamline}: "
                                  f"{stale.describe()} ended without giving it back")
        try:
            self.attach_runlog()
            yield
        finally:
            if taken_here and not self._hold_control:
                self._lock.release()

    def take_control(self, purpose: str) -> None:
        """Hold the control lock until the session closes (``expctl run``, ``resume``)."""
        with self.control(purpose):
            self._hold_control = True

    @property
    def controller(self) -> LockHolder | None:
        """Who controls this beamline now (this session or another process), if anyone."""
        from expctl.beamtime.lock import BeamlineLock

        lock = self._lock or BeamlineLock(self.data_dir, self.profile.beamline)
        return lock.holder()

    # -- samples ---------------------------------------------------------------------------
    @property
    def samples(self) -> SampleRegistry:
        """The data directory's sample registry (shared with every other session)."""
        return self.desk.registry

    def mounted_sample(self, grid: str, *, create: bool = False) -> str | None:
        """The sample on ``grid`` now; with ``create``, one is registered if none is."""
        return self.desk.mounted(grid, create=create)

    def mount(self, name: str, *, grid: str | None = None, new: bool = False,
              comment: str = "") -> SampleInfo:
        """Mount sample ``name`` (registering it first if ``new``) on ``grid`` (the only
        spot grid by default); the beamline is told, so a simulator restores its damage."""
        return self.desk.mount(name, grid=grid, new=new, comment=comment)

    def fresh_spots(self) -> dict[str, tuple[str | None, int]]:
        """grid -> (mounted sample, its never-exposed spots) (a whole grid if none is mounted)."""
        return self.desk.fresh()

    # -- sequences --------------------------------------------------------------------
    def load(self, path: Path | str, overrides: Iterable[str] | Mapping[str, Any] = ()
             ) -> LoadedSequence:
        """Read and check a sequence against this session's profile (no backend needed)."""
        from expctl.sequence.load import load_sequence

        return load_sequence(path, self.profile, overrides, access=self.access,
                             verbs=self.verbs)

    def validate(self, path: Path | str, overrides: Iterable[str] | Mapping[str, Any] = ()
                 ) -> LoadedSequence:
        """:meth:`load`, plus: does the mounted sample have the spots it needs?  (Without
        connecting: only a sample whose size the registry knows is checked.)"""
        from expctl.beamtime.spots import spot_shortages, spots_needed

        loaded = self.load(path, overrides)
        if loaded.ok and loaded.report is not None:
            needed = spots_needed(loaded.report.outline)
            loaded.errors += spot_shortages(needed, self.desk.known_fresh(needed))
        return loaded

    def dry_run(self, seq: LoadedSequence | Path | str,
                overrides: Iterable[str] | Mapping[str, Any] = ()) -> DryRun:
        """Rehearse a sequence on the beamline's simulated twin; nothing real moves."""
        from expctl.beamtime.spots import spot_shortages, spots_needed
        from expctl.sequence.dryrun import dry_run

        loaded = seq if not isinstance(seq, Path | str) else self.load(seq, overrides)
        dry = dry_run(loaded, self.beamline)
        if loaded.report is not None:
            dry.violations += spot_shortages(spots_needed(loaded.report.outline),
                                             self.fresh_spots())
        return dry

    def rehearse(self, plan: Callable[[], Plan]) -> Estimate:
        """Rehearse a Python plan (``plan``: a function that makes it) on the simulated twin
        before it runs for real: its duration and every limit and access problem, nothing
        moving (:func:`~expctl.beamtime.preflight.rehearse_plan`)."""
        from expctl.beamtime.preflight import rehearse_plan

        return rehearse_plan(plan, self.beamline, self.access)

    def run(self, seq: LoadedSequence | Path | str,
            overrides: Iterable[str] | Mapping[str, Any] = (), *,
            pause_hook: Callable[[Engine], None] | None = None,
            journal: Journal | None = None, source_file: str | None = None,
            rehearsal: DryRun | None = None) -> RunSummary:
        """Run a sequence for real: checked first, under control of the beamline, journaled
        (from its first device action on), logged, safe state declared, spots taken from
        the sample registry.

        The pre-flight check is one rehearsal on the simulated twin: ``rehearsal`` when the
        caller has dry-run ``seq`` already (the CLI and the shell show it to the user), else
        a sampled one made here.  Its results stay in the rehearsal; ``results`` holds only
        what the real run finds.

        Args:
            seq: a checked sequence or its file.
            overrides: ``NAME=VALUE`` strings for a file.
            pause_hook: called when the engine has paused (asks what next).
            journal: the campaign journal to continue (resume); a new campaign otherwise.
            source_file: the sequence file to name in run contexts (resume loads a copy).
            rehearsal: a :meth:`dry_run` of this very sequence (same loaded object).

        Raises:
            ExpctlError: the sequence has errors or its rehearsal found problems (nothing
                moves), another process controls the beamline, or the run failed.
        """
        from expctl.beamtime.campaign import campaign_context, new_campaign
        from expctl.beamtime.preflight import preflight_sequence
        from expctl.beamtime.spots import SpotRunRecorder, pump_of, spots_needed
        from expctl.engine import Engine

        loaded = seq if not isinstance(seq, Path | str) else self.load(seq, overrides)
        loaded.raise_errors()
        preflight_sequence(loaded, self.beamline, rehearsal)
        source = source_file or str(loaded.path.resolve())
        with self.control(f"Session.run {source}"):
            for grid in spots_needed(loaded.report.outline) if loaded.report else {}:
                self.mounted_sample(grid, create=True)  # (recorded in the journal header)
            if journal is None:
                journal = new_campaign(self.data_dir, loaded, source, self.profile,
                                       {g: n for g in self.beamline.spot_grids
                                        if (n := self.mounted_sample(g)) is not None})
            if self.journal is not None and self.journal is not journal:
                self.journal.close()
            self.journal = journal
            if self._lock is not None:
                self._lock.update(campaign=journal.info.id)
            # one engine per sequence run: its safe state is the sequence's own
            engine = self._sequence_engine = Engine(
                self.beamline, bus=self.bus, journal=journal, access=self.access,
                spots=self.desk.spot_book(journal.info.id), safe_state=loaded.safe_actions(),
                results=self.results, pause_hook=pause_hook, suspenders=self.suspenders,
                scan_numbers=self.next_scan_number)
            context = campaign_context(loaded, source)
            recorder = self.bus.subscribe(SpotRunRecorder(self.samples, pump_of(self.profile)))
            try:  # a plan: the engine runs it as it is (the pre-flight check was above)
                return engine.run(loaded.plan_factory()(), context)
            finally:
                recorder()

    def preflight(self, plan_factory: Callable[[], Plan]) -> Estimate:
        """:meth:`rehearse`, and refuse the plan (an AggregateError, before anything moves)
        if the rehearsal found limit or access violations."""
        from expctl.beamtime.preflight import refuse_problems

        found = self.rehearse(plan_factory)
        refuse_problems(found.violations)
        return found

    def run_plan(self, plan_factory: Callable[[], Plan], *,
                 rehearsal: Estimate | None = None) -> RunSummary:
        """Run a Python plan on :attr:`engine`, after its pre-flight check (``rehearsal``:
        one :meth:`preflight` already made of it)."""
        if rehearsal is None:
            self.preflight(plan_factory)
        return self.engine.run(plan_factory())

    def prepare_resume(self, campaign_id: str | None = None, *, use_current: bool = False,
                       as_started: bool = False) -> ResumePlan:
        """Work out what resuming a campaign will do, before anything moves (see
        :func:`expctl.beamtime.campaign.plan_resume`); nothing is written.

        Raises:
            UserError: nothing to resume, another profile or seed than the campaign's,
                the sequence changed on disk (without ``use_current``), or it does not
                match what was done.
        """
        from expctl.beamtime.campaign import check_campaign, plan_resume
        from expctl.engine import Journal

        journal = Journal.read(self.data_dir, campaign_id)
        info = journal.info
        if info.seed is not None and info.seed != self.profile.seed and self.seed is None \
                and self._beamline is None:  # honour the campaign's seed
            self.profile = self.profile.with_seed(info.seed)
        check_campaign(info, self.profile)
        return plan_resume(info, journal, self.load, self.beamline, use_current=use_current,
                           as_started=as_started)

    def resume(self, campaign_id: str | None = None, *, use_current: bool = False,
               as_started: bool = False, pause_hook: Callable[[Engine], None] | None = None,
               plan: ResumePlan | None = None) -> RunSummary:
        """Continue the newest unfinished campaign (or ``campaign_id``) as it was started.

        Completed steps are skipped (their results replayed from the journal), exposed
        sample spots are never reused, and runs of a step that is redone are marked
        ``superseded`` in the catalog.

        Args:
            campaign_id: the campaign (the newest unfinished one by default).
            use_current: continue with the sequence file as it is on disk now.
            as_started: continue from the journal's copy even if the file was edited.
            pause_hook: as for :meth:`run`.
            plan: a :meth:`prepare_resume` result already shown to the user.
        """
        from expctl.engine import Journal
        from expctl.engine.events import RunSuperseded

        plan = plan or self.prepare_resume(campaign_id, use_current=use_current,
                                           as_started=as_started)
        info = plan.info
        with self.control(f"resume {info.id}"):
            journal = Journal.resume(self.data_dir, info.id)
            for old in journal.superseded_runs():
                self.bus.publish(RunSuperseded(old.run, self.clock.now(), old.step, info.id))
            return self.run(plan.loaded, pause_hook=pause_hook, journal=journal,
                            source_file=plan.source_file)

    # -- devices ---------------------------------------------------------------------
    def where(self, *, passive: bool = False) -> dict[str, dict[str, Any]]:
        """Every device's current reading, units and limits (``wa`` / where-all).

        Args:
            passive: read only devices that can be set (positions, states, accelerator
                parameters), not instruments — reading a detector or monitor may take
                shot data, which must not happen beside a command that is running.
        """
        from expctl.devices.readings import device_readings

        return device_readings(self.profile, self.beamline.devices, passive=passive)

    def close(self) -> None:
        """Close the run log, the journal, the registry and the beamline; give back control."""
        if self.journal is not None:
            self.journal.close()
            self.journal = None
        self.desk.close()
        self.log.close()
        if self._beamline is not None:
            self._beamline.close()
            self._beamline = None
        self._engine = self._sequence_engine = None
        if self._lock is not None:
            self._lock.release()
            self._hold_control = False

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
