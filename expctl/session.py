"""The one explicit Session: profile, beamline, clock, engine, bus, results, journal, catalog.

The CLI, the shell and Python users all work through a Session; there is no
module-level state anywhere else.  The beamline is connected lazily, so
validating a sequence needs only the profile (fast, no backend)::

    from expctl.session import Session
    with Session.open("bl3") as s:
        print(s.validate("sequences/pumpprobe.yaml").errors)
        summary = s.run("sequences/small.yaml", overrides=["shots=10"])
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from expctl.clock import Clock, VirtualClock, WallClock
from expctl.devices.access import AccessLevel
from expctl.devices.profile import Profile
from expctl.devices.registry import BackendRegistry
from expctl.errors import ArgumentError, BackendError, ExpctlError
from expctl.paths import default_data_dir

if TYPE_CHECKING:
    from expctl.devices.protocols import Beamline
    from expctl.engine import Engine, Estimate, EventBus, Journal, RunSummary
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
    analysis results), ``verbs`` (sequence verbs), and lazily ``beamline``, ``bus``,
    ``engine``.

    Args:
        profile: the beamline profile.
        registry: the backend registry that connects it.
        clock: the clock the beamline runs on.
        data_dir: where journals, run files and the catalog go.
        access: the requester's access level.
        seed: simulator seed override.
        beamline: an already connected beamline (tests, embedding); else connected on demand.
    """

    def __init__(self, profile: Profile, registry: BackendRegistry, clock: Clock,
                 data_dir: Path, *, access: AccessLevel = AccessLevel.USER,
                 seed: int | None = None, beamline: Beamline | None = None) -> None:
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
        self._runlog: RunLogHandle | None = None

    @classmethod
    def open(cls, profile: str | Path = "bl3", data_dir: Path | str | None = None,
             seed: int | None = None, *, speed: float | None = None,
             access: AccessLevel | str = AccessLevel.USER,
             registry: BackendRegistry | None = None,
             beamline: Beamline | None = None) -> Session:
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
        """
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
                   access=level, seed=seed, beamline=beamline)

    # -- lazily built parts ------------------------------------------------------------
    @property
    def beamline(self) -> Beamline:
        """The connected beamline (connected on first use)."""
        if self._beamline is None:
            self._beamline = self.registry.connect(self.profile, self.clock,
                                                   data_dir=self.data_dir, seed=self.seed)
        return self._beamline

    @property
    def bus(self) -> EventBus:
        """The event bus every subscriber (run log, journal, progress) hangs on."""
        if self._bus is None:
            from expctl.engine import EventBus

            self._bus = EventBus()
        return self._bus

    @property
    def engine(self) -> Engine:
        """The engine (built on first use, with the session's bus and results)."""
        if self._engine is None:
            from expctl.engine import Engine

            self._engine = Engine(self.beamline, bus=self.bus, access=self.access,
                                  results=self.results, scan_numbers=self.next_scan_number)
        return self._engine

    @property
    def current_engine(self) -> Engine | None:
        """The engine already built (the one running a sequence), without building one.

        Ctrl-C handlers and the shell's pause/abort ask this: they must reach the
        engine ``run()`` made for the sequence, and must not create one while idle.
        """
        return self._engine

    def attach_runlog(self) -> RunLogHandle:
        """Subscribe the run writer, catalog and alignment log (once)."""
        if self._runlog is None:
            from expctl.runlog.attach import attach
            from expctl.ui.plots import plot_alignment

            self._runlog = attach(self.bus, self.data_dir, alignment_plotter=plot_alignment)
        return self._runlog

    @property
    def runlog(self) -> RunLogHandle | None:
        """The attached run log (None until :meth:`attach_runlog`)."""
        return self._runlog

    def next_scan_number(self) -> int:
        """A new scan-record number, reserved in the catalog (engines number scans by it)."""
        return self.attach_runlog().scans.reserve()

    # -- sequences --------------------------------------------------------------------
    def load(self, path: Path | str, overrides: Iterable[str] | Mapping[str, Any] = ()
             ) -> LoadedSequence:
        """Read and check a sequence against this session's profile (no backend needed)."""
        from expctl.sequence.load import load_sequence

        return load_sequence(path, self.profile, overrides, access=self.access,
                             verbs=self.verbs)

    validate = load

    def dry_run(self, seq: LoadedSequence | Path | str,
                overrides: Iterable[str] | Mapping[str, Any] = ()) -> DryRun:
        """Rehearse a sequence on the beamline's simulated twin; nothing real moves."""
        from expctl.sequence.dryrun import dry_run

        loaded = seq if not isinstance(seq, Path | str) else self.load(seq, overrides)
        return dry_run(loaded, self.beamline)

    def rehearse(self, plan: Callable[[], Plan]) -> Estimate:
        """Rehearse a Python plan on the beamline's simulated twin before it runs for real:
        how long it takes and every limit and access problem, with nothing moving.

        Args:
            plan: a function that makes the plan (``lambda: rel_scan(...)``): the
                rehearsal uses one plan up, the real run needs a fresh one.

        Raises:
            ArgumentError: ``plan`` is a plan already made (a generator), not a function.
        """
        from types import GeneratorType

        from expctl.engine.estimate import estimate

        if isinstance(plan, GeneratorType) or not callable(plan):
            raise ArgumentError(
                "rehearse needs a function that makes the plan, not a plan already made",
                hint="Write session.rehearse(lambda: my_plan(...)); the real run then needs "
                     "its own plan, e.g. session.engine.run(lambda: my_plan(...)).")
        return estimate(plan, self.beamline, access=self.access)

    def run(self, seq: LoadedSequence | Path | str,
            overrides: Iterable[str] | Mapping[str, Any] = (), *,
            pause_hook: Callable[[Engine], None] | None = None,
            journal: Journal | None = None) -> RunSummary:
        """Run a sequence for real: checked first, journaled, logged, safe state declared.

        Raises:
            ExpctlError: the sequence has errors (nothing moves), or it failed.
        """
        from expctl.engine import Engine, Journal
        from expctl.engine.events import RunContext

        loaded = seq if not isinstance(seq, Path | str) else self.load(seq, overrides)
        loaded.raise_errors()
        self.attach_runlog()
        if journal is None:
            journal = Journal.create(
                self.data_dir, sequence=loaded.name, sequence_file=str(loaded.path.resolve()),
                params={k: v.raw for k, v in loaded.overrides.items()},
                profile=self.profile.name, seed=self.seed,
                extra={"overrides": _override_texts(loaded)})
        if self.journal is not None and self.journal is not journal:
            self.journal.close()
        self.journal = journal
        # one engine per sequence run: its safe state is the sequence's own
        engine = self._engine = Engine(self.beamline, bus=self.bus, journal=journal,
                                       access=self.access, safe_state=loaded.safe_actions(),
                                       results=self.results, pause_hook=pause_hook,
                                       scan_numbers=self.next_scan_number)
        context = RunContext(sequence=loaded.name, sequence_file=str(loaded.path),
                             params={k: _plain(v) for k, v in loaded.params.items()})
        return engine.run(loaded.plan_factory(self.results), context)

    def resume(self, campaign_id: str | None = None, *,
               pause_hook: Callable[[Engine], None] | None = None) -> RunSummary:
        """Continue the newest unfinished campaign (or ``campaign_id``) after a crash.

        Completed steps are skipped (their results replayed from the journal)
        and exposed sample spots are never reused.
        """
        from expctl.engine import Journal

        journal = Journal.resume(self.data_dir, campaign_id)
        info = journal.info
        overrides = list(info.extra.get("overrides", []))
        if not info.sequence_file:
            raise ExpctlError(f"campaign {info.id} was not started from a sequence file")
        return self.run(Path(info.sequence_file), overrides, pause_hook=pause_hook,
                        journal=journal)

    # -- devices ---------------------------------------------------------------------
    def where(self, *, passive: bool = False) -> dict[str, dict[str, Any]]:
        """Every device's current reading, units and limits (``wa`` / where-all).

        Args:
            passive: read only devices that can be set (positions, states, accelerator
                parameters), not instruments — reading a detector or monitor may take
                shot data, which must not happen beside a command that is running.
        """
        from expctl.devices.protocols import Readable

        out: dict[str, dict[str, Any]] = {}
        for name, spec in self.profile.devices.items():
            device = self.beamline.devices.get(name)
            value: Any = None
            if passive and not (callable(getattr(device, "set", None))
                                or callable(getattr(device, "request", None))):
                value = "(busy)"
            elif isinstance(device, Readable):
                try:
                    value = device.read().get(name)
                except ExpctlError as exc:
                    value = f"unreadable: {exc.message}"
            out[name] = {"kind": spec.kind, "value": value, "units": spec.units,
                         "limits": spec.limits.describe() if _has_limits(spec) else "",
                         "access": spec.access.label, "description": spec.description}
        return out

    def close(self) -> None:
        """Close the run log, the journal and the beamline."""
        if self.journal is not None:
            self.journal.close()
            self.journal = None
        if self._runlog is not None:
            self._runlog.close()
            self._runlog = None
        if self._beamline is not None:
            self._beamline.close()
            self._beamline = None
        self._engine = None

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _has_limits(spec: Any) -> bool:
    lim = spec.limits
    return lim.choices is not None or lim.low != float("-inf") or lim.high != float("inf")


def _plain(value: Any) -> Any:
    from expctl.units import Quantity

    if isinstance(value, Quantity):
        return value.value
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _override_texts(loaded: LoadedSequence) -> list[str]:
    out = []
    for name, arg in loaded.overrides.items():
        raw = arg.raw
        text = "[" + ", ".join(str(v) for v in raw) + "]" if isinstance(raw, list) else str(raw)
        out.append(f"{name}={text}")
    return out
