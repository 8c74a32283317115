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
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from expctl.errors import ArgumentError, Location, SignalError
from expctl.plans.actions import (
    Analyze,
    Checkpoint,
    FaultPolicy,
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
)

__all__ = [
    "AlignmentDecision",
    "ScanData",
    "align_to_peak",
    "checkpoint",
    "close_shutter",
    "count",
    "decide_alignment",
    "mv",
    "mvr",
    "next_spot",
    "open_shutter",
    "put",
    "read",
    "request",
    "rocking_curve",
    "scan",
    "step",
    "take_run",
    "wait",
]

Signal = str | Callable[[Mapping[str, Any]], float]


def mv(targets: Mapping[str, float]) -> Plan:
    """Move every axis in ``targets`` at once and wait until all have arrived."""
    yield Move(dict(targets))


def mvr(targets: Mapping[str, float]) -> Plan:
    """Move every axis in ``targets`` by the given amounts, in parallel."""
    yield Move(dict(targets), relative=True)


def put(device: str, value: float | str) -> Plan:
    """Set a discrete or continuous device (attenuator, PD gain, shutter) and wait."""
    yield Set(device, value)


def open_shutter(device: str = "xray_shutter") -> Plan:
    """Open a shutter (``Set(device, "open")``)."""
    yield Set(device, "open")


def close_shutter(device: str = "xray_shutter") -> Plan:
    """Close a shutter (``Set(device, "closed")``)."""
    yield Set(device, "closed")


def request(device: str, value: float | str) -> Plan:
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


@dataclass(frozen=True, slots=True)
class ScanData:
    """What a step scan saw: the axis positions and one reading dict per point."""

    axis: str
    positions: tuple[float, ...]
    readings: tuple[Mapping[str, Any], ...] = field(default_factory=tuple)

    def column(self, signal: Signal) -> list[float]:
        """Values of ``signal`` (a name, or a function of a reading) at every point."""
        if callable(signal):
            return [float(signal(r)) for r in self.readings]
        try:
            return [float(r[signal]) for r in self.readings]
        except KeyError:
            known = sorted(self.readings[0]) if self.readings else []
            raise SignalError(
                f"signal {signal!r} was not read in the scan of {self.axis}; read: {known}",
                device=signal) from None


def scan(axis: str, points: Sequence[float], read: Iterable[str] = (),
         shots_per_point: int = 1) -> Plan:
    """Step ``axis`` through ``points``; at each, count ``read`` and record the readings.

    Each point begins with a checkpoint, so a pause or beam loss redoes only
    the interrupted point.
    """
    devices = tuple(read)
    readings: list[Mapping[str, Any]] = []
    checkpoint, read_all = Checkpoint(), Read((*devices, axis))  # frozen: one of each will do
    trigger = Trigger(devices, shots_per_point) if devices else None
    for p in points:
        yield checkpoint
        yield Move({axis: float(p)})
        if trigger is not None:
            yield trigger
        readings.append((yield read_all))
    return ScanData(axis, tuple(float(p) for p in points), tuple(readings))


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
                  method: str = "fit") -> Plan:
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
    """
    if points < 3 or not math.isfinite(span) or span <= 0:
        raise ArgumentError(f"a rocking curve needs span > 0 and ≥ 3 points, got {span}, "
                            f"{points}", device=axis)
    if center is None:
        center = float((yield Read((axis,)))[axis])
    start = center - span / 2.0
    xs = [start + span * k / (points - 1) for k in range(points)]
    devices = tuple(read)
    data: ScanData = yield from scan(axis, xs, devices, shots_per_point)
    y = data.column(signal)
    norm = data.column(i0) if i0 is not None else None
    label = signal if isinstance(signal, str) else getattr(signal, "__name__", "signal")
    result = yield Analyze(
        name, _fit_peak, (data.positions, y),
        {"i0": norm, "method": method, "i0_window": i0_window, "name": name},
        inputs={"axis": axis, "x": data.positions, "y": tuple(y), "signal": label,
                "i0": None if norm is None else tuple(norm)},
    )
    return result


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
                  method: str = "fit") -> Plan:
    """Rocking curve, then move ``axis`` to the fitted center — or back where it was.

    The decision is stored as result ``<name>_align`` (an AlignmentDecision),
    so the log says why an alignment did not move.
    """
    start = float((yield Read((axis,)))[axis])
    peak = yield from rocking_curve(axis, span, points, signal=signal, read=read, i0=i0,
                                    i0_window=i0_window,
                                    center=start if center is None else center,
                                    shots_per_point=shots_per_point, name=name,
                                    method=method)
    decision: AlignmentDecision = yield Analyze(f"{name}_align", decide_alignment,
                                                (axis, peak, start))
    yield Move({axis: decision.target})
    return peak
