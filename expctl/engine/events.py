"""Events the engine publishes; loggers, progress display and the journal subscribe.

The engine imports none of its subscribers: data leaves it only as these
frozen records on an :class:`EventBus`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from expctl.devices.protocols import RunRecord, ShotBlock
from expctl.errors import ExpctlError

__all__ = [
    "AnalysisDone",
    "CommentAdded",
    "EngineEvent",
    "EventBus",
    "FaultRaised",
    "RunContext",
    "RunStarted",
    "RunStopped",
    "ScanClosed",
    "ScanOpened",
    "ScanPointTaken",
    "ShotBlockTaken",
    "SpotConsumed",
    "StateChanged",
    "StateRestored",
    "StepFinished",
    "StepStarted",
]


@dataclass(frozen=True, slots=True)
class RunContext:
    """Why a run was taken: what downstream reduction selects and bins runs by."""

    sequence: str = ""
    sequence_file: str = ""
    step_path: str = ""
    label: str = ""
    loop: Mapping[str, Any] = field(default_factory=dict)
    params: Mapping[str, Any] = field(default_factory=dict)
    scan: Mapping[str, float] = field(default_factory=dict)
    sample_spot: Mapping[str, Any] | None = None


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
    """A run ended; ``outcome`` is ``completed``, ``aborted``, ``beamloss``, ``interrupted``
    (cut by an immediate pause, retaken on resume), ``stopped`` or ``failed``."""

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


EngineEvent = (
    StateChanged | StepStarted | StepFinished | RunStarted | ShotBlockTaken | RunStopped
    | AnalysisDone | FaultRaised | SpotConsumed | StateRestored | ScanOpened | ScanPointTaken
    | ScanClosed | CommentAdded
)


class EventBus:
    """Synchronous publish/subscribe; a subscriber that raises is reported, not fatal."""

    def __init__(self) -> None:
        self._subscribers: list[Callable[[EngineEvent], None]] = []
        self.errors: list[tuple[Callable[[EngineEvent], None], Exception]] = []

    def subscribe(self, fn: Callable[[EngineEvent], None]) -> Callable[[], None]:
        """Add ``fn``; returns a function that removes it again."""
        self._subscribers.append(fn)
        return lambda: self._subscribers.remove(fn)

    def publish(self, event: EngineEvent) -> None:
        for fn in self._subscribers:
            try:
                fn(event)
            except ExpctlError:
                raise
            except Exception as exc:  # a broken logger must not stop the beamtime
                self.errors.append((fn, exc))
