"""Step scans: the plain building block, and the recorded scans users type at a console.

:func:`scan` visits positions of one axis and hands back what it read; rocking
curves and sequence ``scan:`` steps are made of it.  The recorded scans —
:func:`line_scan` (SPEC's ``ascan``/``a2scan``), :func:`rel_scan`
(``dscan``/``lup``), :func:`grid_scan` (``mesh``) and :func:`list_scan` — do the
same through one core that also

* checks every point of every axis against its limits before the first move
  (:class:`~expctl.plans.actions.CheckLimits`), so a scan never stops half-way
  at a limit,
* opens a numbered scan record and records each point as it is read, so a
  display prints rows as they arrive and the run log keeps the points even when
  the scan is stopped, and
* for relative scans, registers the way back (:class:`~expctl.plans.actions.Finally`):
  the axes return to where they started however the scan ends.

Positions are numbers in each axis' own units, or quantities (``"20 mdeg"``)
that the engine converts.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from expctl.errors import ArgumentError, SignalError
from expctl.plans.actions import (
    CheckLimits,
    CloseScan,
    Finally,
    FinallyDone,
    Move,
    OpenScan,
    Plan,
    Read,
    StepScan,
    Trigger,
    Units,
    Value,
)
from expctl.units import in_units

if TYPE_CHECKING:
    from expctl.analysis.scanstats import ScanStatsResult

__all__ = ["Position", "ScanData", "Signal", "axis_numbers", "grid_scan", "line_scan", "linspace",
           "list_scan", "rel_scan", "scan"]

Signal = str | Callable[[Mapping[str, Any]], float]
#: a position: a number in the axis' own units, or a quantity (``"20 mdeg"``, ``Quantity``)
Position = Value


@dataclass(frozen=True, slots=True)
class ScanData:
    """What a step scan saw: the axis positions and one reading dict per point.

    ``axis``/``positions`` are the first (or only) axis and where it was sent;
    ``axes`` all scanned axes.  A recorded scan also carries its ``number`` and
    the ``signal``/``i0`` its statistics are computed on.
    """

    axis: str
    positions: tuple[float, ...]
    readings: tuple[Mapping[str, Any], ...] = field(default_factory=tuple)
    number: int | None = None
    axes: tuple[str, ...] = ()
    signal: str | None = None
    i0: str | None = None

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

    def stats(self, signal: str | None = None, i0: str | None = None, *,
              fit: bool = True) -> ScanStatsResult:
        """cen, com, FWHM, max and the fitted peak of ``signal`` (/ ``i0``) along the first
        axis (the scan's own signal when not given)."""
        from expctl.analysis.scanstats import scan_stats

        name = signal or self.signal
        if name is None:
            raise SignalError(f"scan of {self.axis} has no signal to compute statistics on",
                              hint="Give one: data.stats('mpccd.roi0', i0='pd_i0').")
        norm = i0 if signal is not None else self.i0
        return scan_stats(self.column(self.axis) if self.readings and self.axis in
                          self.readings[0] else list(self.positions), self.column(name),
                          i0=self.column(norm) if norm else None, axis=self.axis,
                          signal=name if not norm else f"{name}/{norm}", fit=fit)


def scan(axis: str, points: Sequence[float], read: Iterable[str] = (),
         shots_per_point: int = 1) -> Plan:
    """Step ``axis`` through ``points``; at each, count ``read`` and record the readings.

    Each point (of a :class:`~expctl.plans.actions.StepScan`) begins with a checkpoint, so a
    pause or beam loss redoes only the interrupted point.  Nothing is checked ahead or
    recorded: this is the building block of rocking curves and sequence scans (see
    :func:`line_scan`).
    """
    devices = tuple(read)
    trigger = Trigger(devices, shots_per_point) if devices else None
    positions = tuple(map(float, points))
    readings = yield StepScan((axis,), tuple(zip(positions)), trigger,
                              Read((*devices, axis)))
    return ScanData(axis, positions, readings)


def linspace(start: float, stop: float, points: int) -> list[float]:
    """``points`` evenly spaced values from ``start`` to ``stop`` (both included)."""
    if points == 1:
        return [float(start)]
    return [start + (stop - start) * k / (points - 1) for k in range(points)]


def _count(points: int, what: str = "points") -> int:
    if isinstance(points, bool) or not isinstance(points, int) or points < 1:
        raise ArgumentError(f"a scan needs a whole number of {what} ≥ 1, got {points!r}")
    return points


def axis_numbers(values: Mapping[str, Sequence[Any]], what: str) -> Plan:
    """Positions as numbers in each axis' own units; quantities (``"20 mdeg"``) are
    converted with the units the engine declares (asked only when there are any)."""
    def plain(v: Any) -> bool:
        return isinstance(v, int | float) and not isinstance(v, bool)

    if all(plain(v) for vs in values.values() for v in vs):
        return {a: [float(v) for v in vs] for a, vs in values.items()}
    units = yield Units(tuple(values))
    out: dict[str, list[float]] = {}
    for axis, vs in values.items():
        converted = [in_units(v, units[axis]) for v in vs]
        bad = [v for v, c in zip(vs, converted, strict=True) if not plain(c)]
        if bad:
            raise ArgumentError(f"{what}: {bad[0]!r} for {axis} is not a number or a quantity "
                                f"such as '0.02 {units[axis] or 'mm'}'", device=axis)
        out[axis] = [float(c) for c in converted]  # type: ignore[arg-type]
    return out


def _visit(targets: Sequence[Mapping[str, float]], read: Iterable[str], *, kind: str,
           shots_per_point: int, signal: str | None, i0: str | None, command: str,
           shape: tuple[int, ...] = (), metadata: Mapping[str, Any] | None = None) -> Plan:
    """The recorded scan: check all points, open the record, visit, record, close."""
    if not targets:
        raise ArgumentError(f"{kind}: no points to scan")
    axes = tuple(targets[0])
    devices = tuple(read)
    _count(shots_per_point, "shots per point")
    yield CheckLimits({a: tuple(p[a] for p in targets) for a in axes})
    number = yield OpenScan(kind, axes, len(targets), devices, command or kind, signal, i0,
                            shape, dict(metadata or {}))
    trigger = Trigger(devices, shots_per_point) if devices else None
    readings = yield StepScan(axes, tuple(tuple(t[a] for a in axes) for t in targets), trigger,
                              Read((*devices, *axes)), record=True)
    yield CloseScan()
    first = axes[0]
    return ScanData(first, tuple(float(p[first]) for p in targets), readings,
                    number, axes, signal, i0)


def list_scan(points: Mapping[str, Sequence[Position]], read: Iterable[str] = (), *,
              shots_per_point: int = 1, signal: str | None = None, i0: str | None = None,
              kind: str = "list_scan", command: str = "",
              metadata: Mapping[str, Any] | None = None) -> Plan:
    """A recorded scan through given positions; several axes move together, point by point.

    Args:
        points: ``{axis: [positions…]}``, every list the same length.
        read: devices counted at each point.
        shots_per_point: shots integrated per point.
        signal: the signal peak statistics are computed on (``mpccd.roi0``).
        i0: the monitor ``signal`` is divided by.
        kind: the record's kind (what the shell verb was).
        command: how it was asked for, kept in the record.
        metadata: more to keep in the record.
    """
    lists = yield from axis_numbers(points, kind)
    lengths = {len(v) for v in lists.values()}
    if not lists or len(lengths) != 1:
        raise ArgumentError(f"{kind}: every axis needs the same number of points, got "
                            + ", ".join(f"{a}: {len(v)}" for a, v in lists.items()))
    n = lengths.pop()
    targets = [{a: lists[a][k] for a in lists} for k in range(n)]
    return (yield from _visit(targets, read, kind=kind, shots_per_point=shots_per_point,
                              signal=signal, i0=i0, command=command, metadata=metadata))


def line_scan(axes: Mapping[str, tuple[Position, Position]], points: int, read: Iterable[str] = (),
              **kwargs: Any) -> Plan:
    """A recorded absolute scan: each axis from its start to its stop in ``points`` steps
    together (SPEC ``ascan``, ``a2scan``; bluesky ``scan``).

    Args:
        axes: ``{axis: (start, stop)}``.
        points: points per axis (ends included).
        read, **kwargs: as for :func:`list_scan`.
    """
    n = _count(points)
    kwargs.setdefault("kind", "line_scan")
    ends = yield from axis_numbers(axes, kwargs["kind"])
    return (yield from list_scan({a: linspace(s, e, n) for a, (s, e) in ends.items()}, read,
                                 **kwargs))


def rel_scan(axes: Mapping[str, tuple[Position, Position]], points: int, read: Iterable[str] = (),
             **kwargs: Any) -> Plan:
    """A recorded scan relative to where the axes are, then back there (SPEC ``dscan``/``lup``).

    The way back is registered before the first move, so the axes return to
    their start also when the scan is stopped, aborted or fails.

    Args:
        axes: ``{axis: (start offset, stop offset)}``.
        points: points per axis (ends included).
        read, **kwargs: as for :func:`list_scan`.
    """
    n = _count(points)
    names = tuple(axes)
    kwargs.setdefault("kind", "rel_scan")
    offsets = yield from axis_numbers(axes, kwargs["kind"])
    here = yield Read(names)
    start = {a: float(here[a]) for a in names}
    metadata = {"start": start} | dict(kwargs.pop("metadata", None) or {})
    lists = {a: [start[a] + v for v in linspace(lo, hi, n)] for a, (lo, hi) in offsets.items()}
    yield Finally((Move(start),))
    data = yield from list_scan(lists, read, metadata=metadata, **kwargs)
    yield Move(start)
    yield FinallyDone()
    return data


def grid_scan(axes: Sequence[tuple[str, Position, Position, int]], read: Iterable[str] = (), *,
              snake: bool = False, **kwargs: Any) -> Plan:
    """A recorded scan over a grid: the first axis slowest, the last fastest (bluesky
    ``grid_scan``; SPEC's ``mesh`` names its fast axis first).

    Args:
        axes: ``[(axis, start, stop, points), …]``, slowest first.
        read: devices counted at each point.
        snake: run every other line of the faster axes backwards (less travel).
        **kwargs: as for :func:`list_scan`.
    """
    if not axes:
        raise ArgumentError("grid_scan needs at least one axis")
    kwargs.setdefault("kind", "grid_scan")
    ends = yield from axis_numbers({a: (s, e) for a, s, e, _ in axes}, kwargs["kind"])
    lines = [(a, linspace(ends[a][0], ends[a][1], _count(n))) for a, _, _, n in axes]
    targets: list[dict[str, float]] = [{}]
    for depth, (axis, values) in enumerate(lines):
        grown: list[dict[str, float]] = []
        for row, base in enumerate(targets):
            ordered = values[::-1] if snake and depth and row % 2 else values
            grown += [base | {axis: v} for v in ordered]
        targets = grown
    shape = tuple(len(v) for _, v in lines)
    return (yield from _visit(targets, read, shape=shape, **_defaults(kwargs)))


def _defaults(kwargs: dict[str, Any]) -> dict[str, Any]:
    return {"shots_per_point": 1, "signal": None, "i0": None, "command": ""} | kwargs
