"""Counting and scanning at the console, in SPEC's words.

``ascan``/``dscan``(``lup``)/``a2scan``/``d2scan``/``mesh`` take *intervals*
and an optional count time per point, as in SPEC; ``scan`` takes a number of
points.  Every scan is a numbered record (rows printed as points arrive, kept
in the catalog and a file even when the scan is stopped); relative scans and
``rock`` go back to where they started (``rock`` moves to the fitted peak
instead when the fit is usable).  ``cen``, ``pic``, ``com`` and ``peak`` move the
last scan's axis to its half-maximum centre, maximum, centre of mass or fitted
peak; ``plot`` draws a scan.  ``ct`` counts shot by shot and shows mean ± σ.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from expctl.errors import UserError
from expctl.shell.parse import parse_amount, parse_count
from expctl.shell.reading import scan_row, signal_units
from expctl.shell.registry import ArgKind
from expctl.ui.scanview import number_text, quantity_text

if TYPE_CHECKING:
    from expctl.shell.app import Shell

__all__ = ["count", "move_to_stat", "plot", "rock", "spec_scan", "scan_points", "take_run"]


def _axis_spec(sh: Shell, axis: str) -> Any:
    from expctl.shell.complete import device_groups

    specs = sh.session.profile.devices
    motors = device_groups(specs)[ArgKind.MOTOR]
    if axis not in motors:
        raise UserError(f"{axis} is not an axis that can be scanned", device=axis,
                        allowed=", ".join(motors))
    return specs[axis]


def _shots(sh: Shell, token: str | None) -> tuple[int, str]:
    """Shots per point from a count time (seconds; ``0.1`` or ``100 ms``): at least one."""
    rate = float(sh.session.profile.daq.rate_hz)
    if token is None:
        return 1, "1 shot per point"
    seconds = parse_amount(token, "s", "the count time")
    if not math.isfinite(seconds) or seconds <= 0:
        raise UserError(f"the count time must be positive, got {token!r}")
    shots = max(1, round(seconds * rate))
    return shots, f"{number_text(seconds)} s = {shots} shot{'s' if shots != 1 else ''} per point"


def _counters(sh: Shell) -> dict[str, Any]:
    s = sh.settings
    return {"signal": s.rock_signal, "i0": s.rock_i0}


def counted(sh: Shell, detectors: tuple[str, ...] | None = None) -> tuple[str, ...]:
    """What a console scan or count reads: the detectors (the profile's, unless named) and
    the beam monitor, so each point keeps the pulse energy and the toolbar's beam follows
    the shots while the command runs."""
    from expctl.devices.protocols import Readable

    read = detectors or sh.settings.rock_read
    beam = sh.session.profile.roles.beam
    if beam and beam not in read and isinstance(sh.session.beamline.devices.get(beam), Readable):
        read = (*read, beam)
    return tuple(read)


def spec_scan(sh: Shell, args: list[str], *, verb: str, axes: int, relative: bool,
              grid: bool = False) -> None:
    """``ascan``/``dscan``/``a2scan``/``d2scan`` (``M S E``… INTERVALS [TIME]) and ``mesh``
    (``M1 S1 E1 N1 M2 S2 E2 N2 [TIME]``, the first axis fastest, as in SPEC)."""
    from expctl.plans.stubs import grid_scan, line_scan, rel_scan

    group = 4 if grid else 3
    need = axes * group + (0 if grid else 1)
    if len(args) not in (need, need + 1):
        raise UserError(f"{verb}: expected {_usage(axes, grid)}, got {len(args)} arguments",
                        hint=f"See `help {verb}`.")
    ranges: dict[str, tuple[float, float]] = {}
    counts: dict[str, int] = {}
    for k in range(axes):
        name, *rest = args[k * group:(k + 1) * group]
        spec = _axis_spec(sh, name)
        if name in ranges:
            raise UserError(f"{verb}: {name} is given twice", device=name)
        ranges[name] = (parse_amount(rest[0], spec.units, "START"),
                        parse_amount(rest[1], spec.units, "END"))
        if grid:
            counts[name] = parse_count(rest[2], "INTERVALS") + 1
    intervals = None if grid else parse_count(args[need - 1], "INTERVALS")
    shots, per_point = _shots(sh, args[need] if len(args) > need else None)
    command = sh.line or " ".join([verb, *args])
    common: dict[str, Any] = {"kind": verb, "command": command, "shots_per_point": shots,
                              "metadata": {"count": per_point}} | _counters(sh)
    read = counted(sh)
    names = tuple(ranges)
    if grid:
        fast, slow = names[0], names[1]  # SPEC's mesh: the first motor is the inner loop
        order = [(slow, *ranges[slow], counts[slow]), (fast, *ranges[fast], counts[fast])]
        factory: Any = lambda: grid_scan(order, read, **common)  # noqa: E731
    elif relative:
        factory = lambda: rel_scan(ranges, (intervals or 0) + 1, read, **common)  # noqa: E731
    else:
        factory = lambda: line_scan(ranges, (intervals or 0) + 1, read, **common)  # noqa: E731
    start = {n: float(sh.device(n).position) for n in names}
    try:
        sh.run_plan(factory, watch=names)
    finally:
        if relative:
            specs = sh.session.profile.devices
            sh.write("back at the start: " + "  ".join(
                f"{n} {quantity_text(sh.device(n).position, specs[n].units)}" for n in names)
                if all(abs(sh.device(n).position - start[n]) < 1e-9 * max(1, abs(start[n]))
                       for n in names) else "NOT back at the start: " + "  ".join(
                f"{n} {quantity_text(sh.device(n).position, specs[n].units)} (start "
                f"{number_text(start[n])})" for n in names))


def _usage(axes: int, grid: bool) -> str:
    if grid:
        return "M1 S1 E1 N1 M2 S2 E2 N2 [TIME]"
    motors = " ".join(f"M{k + 1} S{k + 1} E{k + 1}" if axes > 1 else "MOTOR START END"
                      for k in range(axes))
    return f"{motors} INTERVALS [TIME]"


def scan_points(sh: Shell, args: list[str]) -> None:
    """``scan AXIS START STOP POINTS [DETECTOR…]``: absolute, by number of points."""
    from expctl.plans.stubs import line_scan
    from expctl.shell.complete import device_groups

    axis = args[0]
    spec = _axis_spec(sh, axis)
    start = parse_amount(args[1], spec.units, "START")
    stop = parse_amount(args[2], spec.units, "STOP")
    points = parse_count(args[3], "POINTS", 2)
    detectors = device_groups(sh.session.profile.devices)[ArgKind.DETECTOR]
    for name in args[4:]:
        if name not in detectors:
            raise UserError(f"{name} cannot be counted", device=name,
                            allowed=", ".join(detectors))
    read = counted(sh, tuple(args[4:]) or None)
    counters: dict[str, Any] = _counters(sh) if not args[4:] else {"signal": None, "i0": None}
    if counters["signal"] is None:
        counters["signal"] = next((f"{d}.roi0" for d in read if d in detectors
                                   and sh.session.profile.devices[d].kind == "mpccd"), None)
    sh.run_plan(lambda: line_scan({axis: (start, stop)}, points, read, kind="scan",
                                  command=sh.line or " ".join(["scan", *args]), **counters),
                watch=(axis,))


def rock(sh: Shell, args: list[str]) -> None:
    """``rock AXIS SPAN POINTS``: a recorded rocking curve around where the axis is; it
    moves to the fitted peak when the fit is usable, else back to the start."""
    from expctl.plans.stubs import align_to_peak

    axis = args[0]
    spec = _axis_spec(sh, axis)
    span = parse_amount(args[1], spec.units, "SPAN")
    if not math.isfinite(span) or span <= 0:
        raise UserError(f"SPAN must be positive, got {number_text(span)} {spec.units}".strip())
    points = parse_count(args[2], "POINTS", 3)
    s = sh.settings
    shutter = sh.device(s.shutter)
    if shutter.state != "open":
        raise UserError(f"{s.shutter} is {shutter.state}: a rocking curve needs the beam",
                        device=s.shutter, hint="Type `open` first.")
    start = float(sh.device(axis).position)
    command = sh.line or " ".join(["rock", *args])
    read = counted(sh)
    sh.run_plan(lambda: align_to_peak(axis, span, points, signal=s.rock_signal,
                                      read=read, i0=s.rock_i0, name="rock",
                                      record=True, command=command), watch=(axis,))
    here = float(sh.device(axis).position)
    where = quantity_text(here, spec.units)
    if abs(here - start) <= 1e-9 * max(1.0, abs(start)):
        sh.write(f"{axis} back at the start, {where}: no usable peak")
    else:
        sh.write(f"{axis} moved to the fitted peak, {where}")


# ---------------------------------------------------------------- acting on the last scan
_STATS = {"cen": ("cen", "half-maximum centre"), "com": ("com", "centre of mass"),
          "pic": ("max_x", "maximum"), "peak": ("peak", "fitted peak")}


def move_to_stat(which: str) -> Any:
    """``cen``/``pic``/``com``/``peak`` [SCAN]: move the scanned axis there."""
    def handler(sh: Shell, args: list[str]) -> None:
        from expctl.analysis.scanstats import ScanStatsResult
        from expctl.plans.actions import Analyze, Move
        from expctl.plans.stubs import AlignmentDecision

        row = scan_row(sh.data_dir, int(args[0]) if args else None)
        number = int(row["id"])
        result = row.get("result") or {}
        if "cen" not in result:  # a sequence's alignment scan keeps its fit only
            if which != "peak" or "center" not in result:
                raise UserError(f"scan {number} is a sequence's alignment scan: it keeps its "
                                "fitted peak only", hint=f"`peak {number}` moves there.")
            result = {"axis": row.get("axis", ""), "n_points": row.get("points", 0),
                      "fit": result, "flags": result.get("flags", []),
                      "cen": result.get("center")}
        stats = ScanStatsResult.from_dict(result)
        key, what = _STATS[which]
        target = stats.peak if key == "peak" else float(getattr(stats, key))
        axis = stats.axis
        flags = sorted(stats.flags)
        if which == "peak":
            usable = stats.fit is not None and stats.fit.ok and math.isfinite(target)
            why = ", ".join(flags) or ("no fit" if stats.fit is None else "fit not usable")
        else:
            usable = math.isfinite(target) and not {"no_peak", "too_few_points"} & set(flags)
            why = ", ".join(flags) or "not a number"
        if not usable:
            raise UserError(f"scan {number} of {axis} has no usable {what} ({why})", device=axis,
                            hint="Scan again, wider or with more points.")
        decision = AlignmentDecision(axis, True, target, f"{which} of scan {number}")

        def plan() -> Any:
            yield Analyze(f"scan{number}_{which}", lambda: decision, inputs={"scan": number})
            yield Move({axis: target})

        sh.run_plan(plan, watch=(axis,))
        unit = sh.session.profile.devices[axis].units
        note = f" (flags: {', '.join(flags)})" if flags else ""
        sh.write(f"{axis} {quantity_text(sh.device(axis).position, unit)} "
                 f"({which} of scan {number}){note}")

    return handler


def plot(sh: Shell, args: list[str]) -> None:
    """``plot [SCAN]``: the last scan (or SCAN) as a PNG beside its record and in the
    terminal."""
    from expctl.runlog.scans import read_scan_columns
    from expctl.ui.plots import plot_scan, scan_curve
    from expctl.ui.termplot import text_plot

    row = scan_row(sh.data_dir, int(args[0]) if args else None)
    if not row.get("file"):
        raise UserError(f"scan {row['id']} has no file")
    path = sh.data_dir / row["file"]
    scan = read_scan_columns(path)
    png = plot_scan(scan, path.with_suffix(".png"))
    x, y, label = scan_curve(scan)
    axis = scan.axes[0] if scan.axes else ""
    unit = scan.units.get(axis, "")
    cen = (scan.result or {}).get("cen")
    marks = [(float(cen), "|")] if isinstance(cen, float) else []
    width = sh.width()
    for line in text_plot(x.tolist(), y.tolist(), width=min(width, 100), height=14,
                          x_label=f"{axis} ({unit})" if unit else axis, y_label=label,
                          marks=marks):
        sh.write(line)
    sh.write(f"scan {scan.number} ({scan.outcome}, {len(x)} points) drawn in {png}")


# ---------------------------------------------------------------- counting and runs
def count(sh: Shell, args: list[str]) -> None:
    """``ct [TIME]``: count shot by shot for TIME (default 1 s); mean ± σ per signal with
    units, and the normalised signal."""
    from expctl.plans.stubs import count_shots
    from expctl.ui.counts import count_summary, format_counts

    seconds = parse_amount(args[0], "s", "the count time") if args else 1.0
    if not math.isfinite(seconds) or seconds <= 0:
        raise UserError(f"the count time must be positive, got {args[0]!r}")
    rate = float(sh.session.profile.daq.rate_hz)
    shots = max(1, round(seconds * rate))
    devices = counted(sh)
    readings = sh.run_plan(lambda: count_shots(devices, shots)).value
    s = sh.settings
    summary = count_summary(readings, s.rock_signal, s.rock_i0)
    ratio = f"{s.rock_signal}/{s.rock_i0}" if s.rock_i0 else None
    sh.write(f"ct {number_text(seconds)} s: {shots} shot{'s' if shots != 1 else ''} at "
             f"{number_text(rate)} Hz")
    units = signal_units(sh.session.beamline.devices, devices)
    for line in format_counts(summary, units, ratio=ratio):
        sh.write(line)


def take_run(sh: Shell, args: list[str]) -> None:
    """``take_run SHOTS [LABEL [COMMENT…]]``: one DAQ run, logged like a sequence's."""
    from expctl.plans.stubs import take_run as take_run_plan

    shots = parse_count(args[0], "SHOTS")
    label = args[1] if len(args) > 1 else ""
    comment = " ".join(args[2:])
    record = sh.run_plan(lambda: take_run_plan(shots, label, comment)).value
    sh.write(f"run {record.run}{' ' + label if label else ''}: {record.shots} shots")
