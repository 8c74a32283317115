"""The message vocabulary: frozen action dataclasses that plans yield.

A plan is a generator of these; the engine's interpreter acts on each and sends
the result back (``result = yield Read(("pd_i0",))``).  Dry-run, real run,
progress display and logging all consume the same stream, and plan code never
touches a device, a file or the clock itself.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from expctl.errors import Location
from expctl.units import Quantity

__all__ = [
    "Action",
    "Analyze",
    "CheckLimits",
    "Checkpoint",
    "CloseScan",
    "FaultPolicy",
    "Finally",
    "FinallyDone",
    "Move",
    "NextSpot",
    "OpenScan",
    "Plan",
    "Read",
    "RecordPoint",
    "Request",
    "Set",
    "Sleep",
    "StepBegin",
    "StepEnd",
    "StepScan",
    "TakeRun",
    "Trigger",
    "Units",
    "Value",
    "one_by_one",
]

#: a target: a number in the device's own units, a state (``"open"``), or a quantity
#: (``"20 mdeg"``, ``Quantity``) the engine converts to the device's units
Value = float | str | Quantity


@dataclass(frozen=True, slots=True)
class Move:
    """Move several axes in parallel (absolute or relative) and wait for all."""

    targets: Mapping[str, Value]
    relative: bool = False


@dataclass(frozen=True, slots=True)
class Set:
    """Set a discrete or continuous device (attenuator, PD gain, shutter) and wait."""

    device: str
    value: Value


@dataclass(frozen=True, slots=True)
class Request:
    """Request an accelerator parameter (pump on/off, pump–probe delay); wait until applied."""

    device: str
    value: Value


@dataclass(frozen=True, slots=True)
class Trigger:
    """Acquire ``shots`` shots on detectors/monitors (``ct``) and wait."""

    devices: tuple[str, ...]
    shots: int = 1


@dataclass(frozen=True, slots=True)
class Read:
    """Read devices; the result is ``{signal: value}`` over all of them."""

    devices: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Sleep:
    """Let time pass on the engine's clock."""

    seconds: float


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """A safe place to pause; resume and suspend-retake restart from the latest one."""


@dataclass(frozen=True, slots=True)
class TakeRun:
    """Take one DAQ run of ``shots`` shots; the result is the run's RunRecord.

    The engine retakes it (new run number) if beam loss or an immediate pause
    cuts it, and marks the cut run as such.
    """

    shots: int
    label: str = ""
    comment: str = ""
    full_frames: bool = False


@dataclass(frozen=True, slots=True)
class NextSpot:
    """Move the sample stage of ``grid`` to a never-exposed spot; result: (index, x, y)."""

    grid: str = "sample"


@dataclass(frozen=True, slots=True)
class Analyze:
    """Run a pure analysis function and store its result under ``name``.

    The result is published as an event (for logging and plots) and is what
    later steps refer to, e.g. ``${rock.center}``.
    """

    name: str
    fn: Callable[..., Any]
    args: tuple[Any, ...] = ()
    kwargs: Mapping[str, Any] = field(default_factory=dict)
    #: what the analysis looked at, by name (axis, x, y, i0 …), for alignment logs
    inputs: Mapping[str, Any] = field(default_factory=dict)
    #: the analysis reads the facility: the engine adds ``archive=`` (the beamline's
    #: facility archive; a dry-run twin's own) and ``daq_config=`` (the DAQ's reduction
    #: settings) to ``kwargs``
    facility: bool = False


@dataclass(frozen=True, slots=True)
class CheckLimits:
    """Check every target a plan will move to, before it moves at all.

    ``targets`` maps each axis to all the positions it will be sent to (a
    scan's points); the engine refuses the plan with every violation at once,
    so a scan's last point out of limits is found before the first move.
    """

    targets: Mapping[str, tuple[Value, ...]]


@dataclass(frozen=True, slots=True)
class OpenScan:
    """Begin a recorded scan; the result is its number (the catalog's, or the engine's own).

    From here until :class:`CloseScan` every :class:`RecordPoint` is one row of
    the scan record; a scan cut by stop, abort or failure is closed by the
    engine with that outcome, so its points are kept and marked.

    Args:
        kind: what made it (``ascan``, ``dscan``, ``mesh``, ``rock``, ``list_scan`` …).
        axes: the scanned axes, in column order.
        points: the number of points planned.
        detectors: the devices counted at each point.
        command: how it was asked for (the shell line, or the plan call).
        signal: the signal its peak statistics are computed on (``mpccd.roi0``).
        i0: the monitor ``signal`` is divided by, if any.
        shape: points per axis for grid scans (``(11, 5)``); ``()`` for a line.
        metadata: anything else worth keeping (start positions, count time, units).
    """

    kind: str
    axes: tuple[str, ...]
    points: int
    detectors: tuple[str, ...] = ()
    command: str = ""
    signal: str | None = None
    i0: str | None = None
    shape: tuple[int, ...] = ()
    metadata: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class RecordPoint:
    """One point of the open scan: the values read there (``{signal: value}``)."""

    values: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class StepScan:
    """A step scan's points in one message; the result is the tuple of readings.

    At each point (``positions``: one number per axis of ``axes``): a checkpoint, a
    move, a trigger (when there are detectors), a read and, when ``record``, a
    :class:`RecordPoint` of the reading — :meth:`plan`, the same as actions.  The
    engine does exactly what it does for those actions yielded one by one (pause at
    each checkpoint, suspenders, fault policies, journal transcripts) without a round
    trip through the plan for each: a scan's points are most of what it does.
    Readers of plans that take one action at a time see them through
    :func:`one_by_one`.
    """

    axes: tuple[str, ...]
    positions: tuple[tuple[float, ...], ...]
    trigger: Trigger | None
    read: Read
    record: bool = False

    def move(self, position: tuple[float, ...]) -> Move:
        """The move to one point."""
        return Move(dict(zip(self.axes, position, strict=True)))

    def point(self, position: tuple[float, ...]) -> tuple[Action, ...]:
        """One point's actions up to its read."""
        if self.trigger is None:
            return (CHECKPOINT, self.move(position), self.read)
        return (CHECKPOINT, self.move(position), self.trigger, self.read)

    def plan(self) -> Plan:
        """The scan as actions one by one."""
        readings = []
        for position in self.positions:
            for action in self.point(position)[:-1]:  # noqa: UP028 (a tuple takes no send())
                yield action
            reading = yield self.read
            readings.append(reading)
            if self.record:
                yield RecordPoint(reading)
        return tuple(readings)


@dataclass(frozen=True, slots=True)
class CloseScan:
    """End the open scan as completed."""


@dataclass(frozen=True, slots=True)
class Finally:
    """Actions to run if the plan ends early (stopped, aborted, failed): a relative scan's
    way back to its start.  Frames nest; the innermost runs first."""

    actions: tuple[Action, ...]


@dataclass(frozen=True, slots=True)
class FinallyDone:
    """The plan did its own clean-up: forget the innermost :class:`Finally`."""


@dataclass(frozen=True, slots=True)
class Units:
    """Ask for the declared units of ``devices``; the result is ``{device: unit}``.

    Plans that do arithmetic on positions given with units (``"20 mdeg"``) use it to
    convert them to each axis' own units first.
    """

    devices: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class FaultPolicy:
    """What the engine does when a device action inside a step fails.

    ``retry`` repeats the action up to ``retries`` times and then aborts;
    ``skip`` records the fault and goes on (the action's result is ``None``);
    ``abort`` (the default) drives the safe state and fails the sequence.
    """

    action: Literal["retry", "skip", "abort"] = "abort"
    retries: int = 0


@dataclass(frozen=True, slots=True)
class StepBegin:
    """Enter a named step: ``path`` identifies it for journal, timing and run context.

    ``context`` carries loop variables and indices (``{"delay": 1.5, "i_spot": 2}``)
    that runs taken inside the step are tagged with.  ``scan`` names what the step
    scans and its value here (``{"delay": Quantity(0.5, "ps")}``; a plain number is
    in the unit of the device of that name), ``scan_step`` that value's index: runs
    inside log them as ``scan/<name>`` and ``scan/varStep``.
    """

    path: str
    label: str = ""
    context: Mapping[str, Any] = field(default_factory=dict)
    #: fault policy for the device actions inside (the innermost step's wins)
    on_fault: FaultPolicy | None = None
    #: where the step was written (YAML file and line), for violations found in it
    location: Location | None = None
    scan: Mapping[str, Any] = field(default_factory=dict)
    scan_step: int | None = None


@dataclass(frozen=True, slots=True)
class StepEnd:
    """Leave the step entered by the matching :class:`StepBegin`."""

    path: str


Action = (
    Move | Set | Request | Trigger | Read | Sleep | Checkpoint | TakeRun | NextSpot | Analyze
    | StepBegin | StepEnd | CheckLimits | OpenScan | RecordPoint | CloseScan | Finally
    | FinallyDone | Units | StepScan
)

#: A plan: yields actions, receives each action's result, may return a value.
Plan = Generator[Action, Any, Any]

#: the checkpoint a scan point begins with (actions are frozen: one will do)
CHECKPOINT = Checkpoint()


def one_by_one(plan: Plan) -> Plan:
    """``plan`` with every :class:`StepScan` yielded as its actions, for readers of a plan
    that take one action at a time (the journal's resume walk, recorders)."""
    result: Any = None
    try:
        while True:
            try:
                action = plan.send(result)
            except StopIteration as done:
                return done.value
            if type(action) is StepScan:
                result = yield from action.plan()
            else:
                result = yield action
    finally:
        plan.close()
