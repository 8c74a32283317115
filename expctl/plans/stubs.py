"""Plan stubs: short verbs that yield actions and return what the engine sent back.

Compose them with ``yield from``::

    def align(theta="theta"):
        yield from put("attenuator", 200.0)
        peak = yield from rocking_curve(theta, 0.01, 41, signal="mpccd.roi0", read=("mpccd",))
        return peak

A stub never touches a device, a file or the clock; the engine (real or
estimating) does, and the same stream of actions drives both.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from expctl.errors import ArgumentError, Location
from expctl.plans.actions import (
    Analyze,
    Checkpoint,
    FaultPolicy,
    Finally,
    FinallyDone,
    Move,
    NextSpot,
    Plan,
    Read,
    Request,
    Set,
    Sleep,
    StepBegin,
    StepEnd,
    TakeRun,
    Trigger,
    Value,
)
from expctl.plans.scans import (
    ScanData,
    Signal,
    axis_numbers,
    grid_scan,
    line_scan,
    list_scan,
    rel_scan,
    scan,
)

__all__ = [
    "AlignmentDecision",
    "ScanData",
    "align_to_peak",
    "checkpoint",
    "close_shutter",
    "count",
    "count_shots",
    "decide_alignment",
    "grid_scan",
    "line_scan",
    "list_scan",
    "mv",
    "mvr",
    "next_spot",
    "open_shutter",
    "put",
    "read",
    "rel_scan",
    "request",
    "rocking_curve",
    "scan",
    "step",
    "take_run",
    "wait",
]

def mv(targets: Mapping[str, Value]) -> Plan:
    """Move every axis in ``targets`` at once and wait until all have arrived."""
    yield Move(dict(targets))


def mvr(targets: Mapping[str, Value]) -> Plan:
    """Move every axis in ``targets`` by the given amounts, in parallel."""
    yield Move(dict(targets), relative=True)


def put(device: str, value: Value) -> Plan:
    """Set a discrete or continuous device (attenuator, PD gain, shutter) and wait."""
    yield Set(device, value)


def open_shutter(device: str = "xray_shutter") -> Plan:
    """Open a shutter (``Set(device, "open")``)."""
    yield Set(device, "open")


def close_shutter(device: str = "xray_shutter") -> Plan:
    """Close a shutter (``Set(device, "closed")``)."""
    yield Set(device, "closed")


def request(device: str, value: Value) -> Plan:
    """Ask the accelerator for a parameter value and wait until it is applied."""
    yield Request(device, value)


def read(devices: Iterable[str]) -> Plan:
    """Read devices now; returns ``{signal: value}`` over all of them."""
    return (yield Read(tuple(devices)))


def count(devices: Iterable[str], shots: int = 1) -> Plan:
    """Acquire ``shots`` shots on the triggerable ones among ``devices``, then read all."""
    devices = tuple(devices)
    yield Trigger(devices, shots)
    return (yield Read(devices))


def count_shots(devices: Iterable[str], shots: int) -> Plan:
    """Count ``shots`` single shots on ``devices``; returns one reading per shot, so a
    console can show the mean, the shot-to-shot spread and a normalised signal."""
    devices = tuple(devices)
    trigger, read_all = Trigger(devices, 1), Read(devices)
    readings = []
    for _ in range(shots):
        yield trigger
        readings.append((yield read_all))
    return tuple(readings)


def take_run(shots: int, label: str = "", comment: str = "", full_frames: bool = False) -> Plan:
    """Take one DAQ run; returns its RunRecord (a retaken one if beam loss cut the first)."""
    return (yield TakeRun(shots, label, comment, full_frames))


def next_spot(grid: str = "sample") -> Plan:
    """Move to a never-exposed sample spot; returns ``(index, x, y)``."""
    return (yield NextSpot(grid))


def wait(seconds: float) -> Plan:
    """Let ``seconds`` of beamline time pass."""
    yield Sleep(float(seconds))


def checkpoint() -> Plan:
    """Mark a safe place to pause; resume and retakes restart from here."""
    yield Checkpoint()


def step(path: str, label: str = "", plan: Plan | None = None,
         context: Mapping[str, Any] | None = None, *, on_fault: FaultPolicy | None = None,
         location: Location | None = None, scan: Mapping[str, Any] | None = None,
         scan_step: int | None = None) -> Plan:
    """Run ``plan`` as the named step ``path`` (journal key, timing unit, run context).

    The step opens with a checkpoint: a deferred pause requested during any
    step lands before the next one starts, and since the checkpoint is inside
    the step, resuming after an abort or a crash redoes that step.

    Args:
        path: unique step path, ``/``-separated for nesting (``delay[3]/spot[1]``).
        label: a human name for progress displays.
        plan: the body; its return value is returned.
        context: loop variables that runs inside are tagged with.
        on_fault: fault policy for device actions inside.
        location: where the step was written, for error messages.
        scan: the scan variables this step sets, by name: a Quantity, or a number in
            the unit of the device of that name (``{"delay": Quantity(0.5, "ps")}``).
        scan_step: the index of this step's value in its scan.
    """
    yield StepBegin(path, label, dict(context or {}), on_fault, location, dict(scan or {}),
                    scan_step)
    yield Checkpoint()
    value = None
    if plan is not None:
        value = yield from plan
    yield StepEnd(path)
    return value


#: what to check and set when a rocking curve's I0 is unusable (YAML and Python spelling)
_I0_HINT = ("Is the shutter open? To leave out shots with bad I0, give an I0 window: "
           "`i0_window: [low, high]` in the rocking_curve step "
           "(`i0_window=(low, high)` from Python).")

Window = tuple[float | None, float | None]


def _fit_peak(x: Sequence[float], y: Sequence[float], i0: Sequence[float] | None = None,
              method: str = "fit", i0_window: Window | None = None, name: str = "rock") -> Any:
    """The rocking-curve analysis: the project's peak finder (imported when first used).

    An analysis error names the rocking curve; one about I0 (no beam: zero
    or negative charge) also says what to check and how to exclude bad shots.
    """
    from expctl.analysis import AnalysisError, I0Error, find_peak

    try:
        return find_peak(x, y, i0=i0, i0_window=i0_window, method=method)
    except I0Error as err:
        raise AnalysisError(f"rocking_curve {name}: {err.problem}", hint=_I0_HINT) from None
    except AnalysisError as err:
        raise AnalysisError(f"rocking_curve {name}: {err.message}", hint=err.hint) from None


def rocking_curve(axis: str, span: float, points: int, *, signal: Signal,
                  read: Iterable[str], i0: str | None = None, i0_window: Window | None = None,
                  center: float | None = None, shots_per_point: int = 1, name: str = "rock",
                  method: str = "fit", record: bool = False, command: str = "") -> Plan:
    """Scan ``axis`` over ``span`` around ``center`` (default: where it is) and fit the peak.

    The fit (a ``PeakResult``: center, fwhm, flags, ok) is stored as result
    ``name``, so later steps can use ``${rock.center}``.

    Args:
        axis: the rocking axis (``theta``).
        span: full width of the scan in the axis' units.
        points: number of points (≥ 3).
        signal: a signal name, or a function of each point's reading dict.
        read: devices counted at each point.
        i0: an I0 signal to normalise by (the peak finder divides by it).
        i0_window: ``(low, high)`` I0 limits (either may be None); shots outside
            are left out of the fit.
        center: the middle of the scan; the current position when omitted.
        shots_per_point: shots integrated per point.
        name: the result name.
        method: the peak finder's method (``fit``; ``cen`` needs no numba, for rehearsals).
        record: make it a numbered scan record (the console's ``rock``): limits of every
            point checked first, points recorded as they are read, the fit kept with them.
        command: how it was asked for, kept in the record.
    """
    peak, _ = yield from _rock(axis, span, points, signal=signal, read=read, i0=i0,
                               i0_window=i0_window, center=center,
                               shots_per_point=shots_per_point, name=name, method=method,
                               record=record, command=command)
    return peak


def _rock(axis: str, span: float, points: int, *, signal: Signal, read: Iterable[str],
          i0: str | None, i0_window: Window | None, center: float | None,
          shots_per_point: int, name: str, method: str, record: bool, command: str) -> Plan:
    """:func:`rocking_curve`, returning ``(peak, scan number or None)``."""
    given = [span] if center is None else [span, center]
    if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in given):
        (span, *rest) = (yield from axis_numbers({axis: given}, "rocking_curve"))[axis]
        center = rest[0] if rest else None
    if points < 3 or not math.isfinite(span) or span <= 0:
        raise ArgumentError(f"a rocking curve needs span > 0 and ≥ 3 points, got {span}, "
                            f"{points}", device=axis)
    if center is None:
        center = float((yield Read((axis,)))[axis])
    start = center - span / 2.0
    xs = [start + span * k / (points - 1) for k in range(points)]
    devices = tuple(read)
    label = signal if isinstance(signal, str) else getattr(signal, "__name__", "signal")
    data: ScanData
    if record:
        data = yield from list_scan({axis: xs}, devices, shots_per_point=shots_per_point,
                                    signal=label, i0=i0, kind="rock", command=command,
                                    metadata={"center": center, "span": span})
    else:
        data = yield from scan(axis, xs, devices, shots_per_point)
    y = data.column(signal)
    norm = data.column(i0) if i0 is not None else None
    inputs = {"axis": axis, "x": data.positions, "y": tuple(y), "signal": label,
              "i0": None if norm is None else tuple(norm)}
    result = yield Analyze(
        name, _fit_peak, (data.positions, y),
        {"i0": norm, "method": method, "i0_window": i0_window, "name": name},
        inputs=inputs if data.number is None else inputs | {"scan": data.number},
    )
    return result, data.number


@dataclass(frozen=True, slots=True)
class AlignmentDecision:
    """Whether an alignment moved its axis to the fitted peak, and why not if it did not."""

    axis: str
    moved: bool
    target: float
    reason: str


def decide_alignment(axis: str, peak: Any, start: float) -> AlignmentDecision:
    """Move to the fitted center only when the fit is usable; say why otherwise."""
    if getattr(peak, "ok", False) and math.isfinite(getattr(peak, "center", math.nan)):
        return AlignmentDecision(axis, True, float(peak.center), "fit ok")
    flags = ", ".join(sorted(getattr(peak, "flags", ()) or ())) or "fit not usable"
    return AlignmentDecision(axis, False, start, f"stayed at {start:g}: {flags}")


def align_to_peak(axis: str, span: float, points: int, *, signal: Signal,
                  read: Iterable[str], i0: str | None = None, i0_window: Window | None = None,
                  center: float | None = None, shots_per_point: int = 1, name: str = "rock",
                  method: str = "fit", record: bool = False, command: str = "") -> Plan:
    """Rocking curve, then move ``axis`` to the fitted center — or back where it was.

    The decision is stored as result ``<name>_align`` (an AlignmentDecision),
    so the log says why an alignment did not move.  A recorded one (``record``,
    the console's ``rock``) also returns to the start when it is stopped or fails.
    """
    start = float((yield Read((axis,)))[axis])
    if record:
        yield Finally((Move({axis: start}),))
    peak, scan_number = yield from _rock(
        axis, span, points, signal=signal, read=read, i0=i0, i0_window=i0_window,
        center=start if center is None else center, shots_per_point=shots_per_point,
        name=name, method=method, record=record, command=command)
    decision: AlignmentDecision = yield Analyze(
        f"{name}_align", decide_alignment, (axis, peak, start),
        inputs={} if scan_number is None else {"scan": scan_number})
    yield Move({axis: decision.target})
    if record:
        yield FinallyDone()
    return peak
