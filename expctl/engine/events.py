"""Events the engine publishes; loggers, progress display and the journal subscribe.

The engine imports none of its subscribers: data leaves it only as these
frozen records on an :class:`EventBus`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from expctl.devices.protocols import RunRecord, ShotBlock
from expctl.errors import ExpctlError, storage_error

__all__ = [
    "AnalysisDone",
    "CommentAdded",
    "EngineEvent",
    "EventBus",
    "FaultRaised",
    "GoingLive",
    "RunContext",
    "RunStarted",
    "RunStopped",
    "RunSuperseded",
    "SafeStateReached",
    "ScanClosed",
    "ScanOpened",
    "ScanPointTaken",
    "ShotBlockTaken",
    "SpotConsumed",
    "StateChanged",
    "StateRestored",
    "StepFinished",
    "StepStarted",
    "SubscriberWarning",
    "cut_by_condition",
]

#: How the engine itself ends runs; any other outcome names the condition that cut a run.
ENGINE_OUTCOMES = frozenset({"completed", "aborted", "interrupted", "stopped", "failed"})


def cut_by_condition(outcome: str) -> bool:
    """Whether a run with ``outcome`` was cut by a suspension (no beam, a lost link …) and
    is retaken."""
    return outcome not in ENGINE_OUTCOMES


@dataclass(frozen=True, slots=True)
class RunContext:
    """Why a run was taken: what downstream reduction selects and bins runs by.

    ``scan`` holds the scan variables the enclosing steps declared (a ``for`` over a
    device's values, ``stubs.step(scan=…)``), ``scan_step`` the index of the innermost
    one's value (smalldata's ``scan/varStep``).  Every number is in its log unit
    (:data:`expctl.units.LOG_UNITS`); ``units`` names it per ``section.name``
    (``{"scan.delay": "ps", "params.span": "deg"}``).
    """

    sequence: str = ""
    sequence_file: str = ""
    step_path: str = ""
    label: str = ""
    loop: Mapping[str, Any] = field(default_factory=dict)
    params: Mapping[str, Any] = field(default_factory=dict)
    scan: Mapping[str, float] = field(default_factory=dict)
    sample_spot: Mapping[str, Any] | None = None
    units: Mapping[str, str] = field(default_factory=dict)
    scan_step: int | None = None


@dataclass(frozen=True, slots=True)
class StateChanged:
    old: str
    new: str
    time: float
    reason: str = ""


@dataclass(frozen=True, slots=True)
class StepStarted:
    path: str
    label: str
    time: float
    context: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class StepFinished:
    """A step ended; ``results`` is the transcript the journal needs to replay it.

    ``results`` holds ``(action type, result)`` for the result-bearing actions
    (Read, TakeRun, NextSpot, Analyze) directly inside the step, in order;
    it is filled only when the engine has a journal.
    """

    path: str
    time: float
    skipped: bool = False
    results: tuple[tuple[str, Any], ...] = ()


@dataclass(frozen=True, slots=True)
class RunStarted:
    record: RunRecord
    context: RunContext
    time: float
    snapshot: Mapping[str, Any] = field(default_factory=dict)
    config: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ShotBlockTaken:
    block: ShotBlock
    context: RunContext
    time: float


@dataclass(frozen=True, slots=True)
class RunStopped:
    """A run ended; ``outcome`` is ``completed``, ``aborted``, ``interrupted`` (cut by an
    immediate pause, retaken on resume), ``stopped``, ``failed``, or — cut by a
    suspension and retaken — the condition that cut it: ``beamloss``, ``disconnected``
    (a suspender's ``outcome``; see :func:`cut_by_condition`)."""

    record: RunRecord
    outcome: str
    time: float
    context: RunContext = field(default_factory=RunContext)


@dataclass(frozen=True, slots=True)
class AnalysisDone:
    name: str
    result: Any
    time: float
    inputs: Mapping[str, Any] = field(default_factory=dict)
    context: RunContext = field(default_factory=RunContext)


@dataclass(frozen=True, slots=True)
class FaultRaised:
    action: str
    error: ExpctlError
    policy: str
    attempt: int
    time: float
    step_path: str = ""


@dataclass(frozen=True, slots=True)
class SpotConsumed:
    grid: str
    index: int
    position: tuple[float, float]
    time: float


@dataclass(frozen=True, slots=True)
class StateRestored:
    """On resume, devices were driven back to what the completed (replayed) steps had set.

    ``targets`` holds ``(device, value)`` for each device that differed, in the
    order they are driven; ``step_path`` is the step about to run live.
    """

    targets: tuple[tuple[str, Any], ...]
    time: float
    step_path: str = ""

    @property
    def text(self) -> str:
        """``restoring xray_shutter → open, pump → on`` (what a display shows)."""
        shown = ", ".join(f"{name} → {value:.7g}" if isinstance(value, float)
                          else f"{name} → {value}" for name, value in self.targets)
        return f"restoring {shown}"


@dataclass(frozen=True, slots=True)
class ScanOpened:
    """A recorded scan began (see :class:`~expctl.plans.actions.OpenScan` for the fields).

    ``number`` is the scan's number for the record (the catalog's when the run
    log is attached); ``units`` the declared unit of each axis and signal the
    engine knows of, so a display or a file can label every column.
    """

    number: int
    kind: str
    axes: tuple[str, ...]
    points: int
    time: float
    detectors: tuple[str, ...] = ()
    command: str = ""
    signal: str | None = None
    i0: str | None = None
    shape: tuple[int, ...] = ()
    metadata: Mapping[str, Any] = field(default_factory=dict)
    units: Mapping[str, str] = field(default_factory=dict)
    context: RunContext = field(default_factory=RunContext)


@dataclass(frozen=True, slots=True)
class ScanPointTaken:
    """One point of scan ``number`` (``index`` counts from 0): the values read there."""

    number: int
    index: int
    values: Mapping[str, Any]
    time: float


@dataclass(frozen=True, slots=True)
class ScanClosed:
    """Scan ``number`` ended: ``completed``, or ``stopped``/``aborted``/``failed`` with the
    points taken so far kept."""

    number: int
    outcome: str
    points: int
    time: float


@dataclass(frozen=True, slots=True)
class CommentAdded:
    """An operator's comment for the logbook (the console's ``comment``), published by the
    console on the session's bus; the run log files it with the run, scan and step
    current at that moment.  ``time`` is the session clock's."""

    text: str
    time: float
    author: str = ""


@dataclass(frozen=True, slots=True)
class GoingLive:
    """Published once per plan, just before its first device action (replayed steps do
    not count): from here on the beamline has been touched.  A journal creates its
    file only then, so a plan interrupted during its rehearsal or before it moved
    anything leaves no campaign to resume."""

    time: float


@dataclass(frozen=True, slots=True)
class SafeStateReached:
    """The engine drove the safe state (``reason``: ``pause``, ``abort`` or ``failure``).

    ``changes`` holds ``(device, before, after)`` for each device it changed, in
    order; ``failed`` one line per device that could not be made safe.
    ``step_path``/``step_label`` say where the plan was when it happened.
    """

    reason: str
    changes: tuple[tuple[str, Any, Any], ...]
    time: float
    step_path: str = ""
    step_label: str = ""
    failed: tuple[str, ...] = ()

    def describe(self, units: Mapping[str, str] | None = None) -> str:
        """``xray_shutter open → closed, pump on → off`` (what a display shows)."""
        def shown(name: str, value: Any) -> str:
            text = f"{value:.7g}" if isinstance(value, float) else str(value)
            unit = (units or {}).get(name, "")
            return f"{text} {unit}" if unit and isinstance(value, int | float) else text

        parts = [f"{n} {shown(n, b)} → {shown(n, a)}" for n, b, a in self.changes]
        parts += [f"NOT SAFE: {why}" for why in self.failed]
        return ", ".join(parts) if parts else "nothing to change (already safe)"


@dataclass(frozen=True, slots=True)
class RunSuperseded:
    """A finished run no longer counts: its step was redone on resume (a crash or an
    abort came before the step completed), so the catalog marks it ``superseded``."""

    run: int
    time: float
    step_path: str = ""
    campaign: str = ""


EngineEvent = (
    StateChanged | StepStarted | StepFinished | RunStarted | ShotBlockTaken | RunStopped
    | AnalysisDone | FaultRaised | SpotConsumed | StateRestored | SafeStateReached
    | RunSuperseded | GoingLive | ScanOpened | ScanPointTaken | ScanClosed | CommentAdded
)


@dataclass(frozen=True, slots=True)
class SubscriberWarning:
    """A non-critical subscriber (display, plots, alignment log) failed; work went on.

    ``count`` is how many events it failed on (the first failure's text is kept).
    """

    subscriber: str
    error: str
    event: str
    time: float
    count: int = 1

    @property
    def text(self) -> str:
        """``alignment log failed on AnalysisDone: … (3 times)`` (what a display shows)."""
        times = f" ({self.count} times)" if self.count > 1 else ""
        return f"{self.subscriber} failed on {self.event}: {self.error}{times}"


@dataclass
class _Subscriber:
    fn: Callable[[EngineEvent], None]
    name: str
    critical: bool


class EventBus:
    """Synchronous publish/subscribe with a failure policy per subscriber.

    A *critical* subscriber (the journal, the run writer, the catalog: the
    default) that raises makes :meth:`publish` raise, so the engine stops
    through the safe state; an :class:`OSError` becomes the matching
    :class:`~expctl.errors.StorageError`.  A *non-critical* one (progress
    display, plots, alignment log) that raises is reported in :attr:`warnings`,
    which the CLI and the shell print and the run summary carries; it is never
    dropped silently, and never stops data taking.
    """

    def __init__(self) -> None:
        self._subscribers: list[_Subscriber] = []
        self.warnings: list[SubscriberWarning] = []

    def subscribe(self, fn: Callable[[EngineEvent], None], *, critical: bool = True,
                  name: str | None = None, first: bool = False) -> Callable[[], None]:
        """Add ``fn``; returns a function that removes it again.

        Args:
            fn: called with every published event, in subscription order.
            critical: whether its failure must stop data taking (see the class).
            name: how warnings and errors name it (the function's name by default).
            first: call it before the subscribers already there (the journal records a
                run's end before the catalog marks it completed).
        """
        sub = _Subscriber(fn, name or _name_of(fn), critical)
        self._subscribers.insert(0, sub) if first else self._subscribers.append(sub)
        return lambda: self._subscribers.remove(sub)

    def publish(self, event: EngineEvent) -> None:
        """Deliver ``event`` to every subscriber, applying each one's failure policy."""
        for sub in tuple(self._subscribers):
            try:
                sub.fn(event)
            except Exception as exc:
                if not sub.critical:
                    self._warn(sub.name, exc, event)
                elif isinstance(exc, OSError) and not isinstance(exc, ExpctlError):
                    # a bare OS error from a logger: say which file, why, what to do
                    raise storage_error(exc, f"record data ({sub.name})") from exc
                else:  # expctl errors as they are; a bug keeps its traceback
                    raise

    def _warn(self, name: str, exc: Exception, event: EngineEvent) -> None:
        text = exc.paragraph() if isinstance(exc, ExpctlError) else (
            f"{type(exc).__name__}: {exc}")
        kind = type(event).__name__
        for i, seen in enumerate(self.warnings):
            if seen.subscriber == name and seen.error == text:
                self.warnings[i] = replace(seen, count=seen.count + 1)
                return
        when = getattr(event, "time", 0.0)
        self.warnings.append(SubscriberWarning(name, text, kind, float(when)))


def _name_of(fn: Callable[..., Any]) -> str:
    name = getattr(fn, "subscriber_name", None) or getattr(fn, "__qualname__", None)
    return str(name or type(fn).__name__)
