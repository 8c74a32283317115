"""The shell's commands (SPEC / spock vocabulary) and the registry built from them.

Each handler takes the running :class:`~expctl.shell.app.Shell` and the
argument tokens; it parses with :mod:`expctl.shell.parse`, runs plans from
:mod:`expctl.plans.stubs` on the shell's engine (rehearsed on the simulated
twin first, so a bad target is refused before anything moves), and prints
through the shell.  ``runs``, ``show`` and ``reduce`` run the CLI's own
commands (handed in by :mod:`expctl.cli.shell`; the shell may not import the
CLI), so both surfaces behave identically.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from expctl.errors import ExpctlError, IllegalCommand, UserError
from expctl.shell.parse import (
    parse_amount,
    parse_assignments,
    parse_count,
    parse_relative,
    parse_targets,
)
from expctl.shell.registry import ArgKind, ArgSpec, CommandRegistry, Mode, ShellCommand

if TYPE_CHECKING:
    from expctl.shell.app import Shell

__all__ = ["build_registry", "describe_error", "format_peak"]

A = ArgSpec
K = ArgKind


# ---------------------------------------------------------------- where / motion
def _wa(sh: Shell, args: list[str]) -> None:
    from expctl.ui.views import print_devices

    print_devices(sh.console(), sh.session.where())


def _wm(sh: Shell, args: list[str]) -> None:
    session = sh.session
    rows = session.where()
    for name in args:
        if name not in rows:
            close = difflib.get_close_matches(name, list(rows), n=1, cutoff=0.6)
            raise UserError(f"unknown device {name!r}", device=name,
                            hint=f"Did you mean {close[0]!r}?" if close else "Type `wa`.")
    for name in args:
        row = rows[name]
        value = row["value"]
        shown = f"{value:.6g}" if isinstance(value, float) else str(value)
        units = f" {row['units']}" if row["units"] else ""
        limits = f"  limits {row['limits']}" if row["limits"] else ""
        sh.write(f"{name:<12} {shown}{units}{limits}  [{row['kind']}, {row['access']}]"
                 f"{'  ' + row['description'] if row['description'] else ''}")


def _move(sh: Shell, args: list[str], *, relative: bool, live: bool) -> None:
    from expctl.plans.stubs import mv, mvr

    session = sh.session
    specs = session.profile.devices
    if relative:
        steps = parse_relative(args, specs)
        targets = {n: float(sh.device(n).position) + d for n, d in steps.items()}
    else:
        targets = {n: float(v) for n, v in parse_targets(args, specs, "move",
                                                           session.access).items()}
    for name, value in targets.items():
        specs[name].limits.check(name, value)
    factory = (lambda: mvr(steps)) if relative else (lambda: mv(targets))
    if live:
        sh.write("  ".join(f"{n} {_num(sh.device(n).position)} → {_num(v)}"
                           for n, v in targets.items()))
    sh.run_plan(factory, watch=tuple(targets))
    if live:
        sh.write("  ".join(f"{n} {_num(sh.device(n).position)}{_unit(specs[n].units)}"
                           for n in targets))


def _num(v: Any) -> str:
    return f"{v:.6g}" if isinstance(v, float) else str(v)


def _unit(units: str) -> str:
    return f" {units}" if units else ""


def _set(sh: Shell, args: list[str]) -> None:
    from expctl.plans.stubs import put

    targets = parse_targets(args, sh.session.profile.devices, "set", sh.session.access)

    def plan() -> Any:
        for name, value in targets.items():
            yield from put(name, value)

    sh.run_plan(plan)
    sh.write("  ".join(f"{n} {_num(v)}" for n, v in targets.items()))


def _shutter(state: str) -> Any:
    def handler(sh: Shell, args: list[str]) -> None:
        from expctl.plans.stubs import close_shutter, open_shutter

        name = args[0] if args else sh.settings.shutter
        parse_targets([name, state], sh.session.profile.devices, "set", sh.session.access)
        sh.run_plan(lambda: (open_shutter if state == "open" else close_shutter)(name))
        sh.write(f"{name} {sh.device(name).state}")

    return handler


def _request(sh: Shell, args: list[str]) -> None:
    from expctl.plans.stubs import request

    targets = parse_targets(args, sh.session.profile.devices, "request", sh.session.access)

    def plan() -> Any:
        for name, value in targets.items():
            yield from request(name, value)

    sh.run_plan(plan)
    specs = sh.session.profile.devices
    sh.write("  ".join(f"{n} {_num(sh.device(n).read()[n])}{_unit(specs[n].units)} (applied)"
                       for n in targets))


# ---------------------------------------------------------------- counting and scans
def _detectors(sh: Shell, names: list[str]) -> tuple[str, ...]:
    from expctl.shell.complete import device_groups

    groups = device_groups(sh.session.profile.devices)[K.DETECTOR]
    for n in names:
        if n not in groups:
            raise UserError(f"{n} cannot be counted", device=n, allowed=", ".join(groups))
    return tuple(names) if names else tuple(g for g in groups if g in sh.settings.rock_read)


def _ct(sh: Shell, args: list[str]) -> None:
    from expctl.plans.stubs import count

    seconds = parse_amount(args[0], "s", "the count time") if args else 1.0
    rate = float(getattr(sh.session.beamline.daq, "rate_hz", 30.0))
    shots = max(1, round(seconds * rate))
    devices = _detectors(sh, [])
    reading = sh.run_plan(lambda: count(devices, shots)).value
    sh.write(f"counted {shots} shots ({seconds:g} s at {rate:g} Hz)")
    for key in sorted(reading):
        sh.write(f"  {key:<22} {_num(reading[key])}")


def _scan(sh: Shell, args: list[str]) -> None:
    from expctl.plans.stubs import scan

    axis = args[0]
    spec = _axis_spec(sh, axis)
    start = parse_amount(args[1], spec.units, "START")
    stop = parse_amount(args[2], spec.units, "STOP")
    points = parse_count(args[3], "POINTS", 2)
    devices = _detectors(sh, args[4:])
    xs = [start + (stop - start) * k / (points - 1) for k in range(points)]
    for x in (xs[0], xs[-1]):
        spec.limits.check(axis, x)
    data = sh.run_plan(lambda: scan(axis, xs, devices)).value
    keys = [k for k in sorted(data.readings[0]) if k != axis and k in _primary(data.readings[0])]
    sh.write("  ".join([f"{axis:>10}"] + [f"{k:>14}" for k in keys]))
    for x, r in zip(data.positions, data.readings, strict=True):
        sh.write("  ".join([f"{x:>10.6g}"] + [f"{_num(r[k]):>14}" for k in keys]))


def _primary(reading: Mapping[str, Any]) -> list[str]:
    return [k for k, v in reading.items() if isinstance(v, int | float)]


def _axis_spec(sh: Shell, axis: str) -> Any:
    from expctl.shell.complete import device_groups

    specs = sh.session.profile.devices
    motors = device_groups(specs)[K.MOTOR]
    if axis not in motors:
        raise UserError(f"{axis} is not an axis that can be scanned", device=axis,
                        allowed=", ".join(motors))
    return specs[axis]


def format_peak(name: str, peak: Any, units: str = "") -> str:
    """One line for a rocking-curve result: center, FWHM, height, ok or why not."""
    u = _unit(units)
    parts = [f"{name}: center {getattr(peak, 'center', math.nan):.6g}{u}"]
    fwhm = getattr(peak, "fwhm", None)
    if isinstance(fwhm, float) and math.isfinite(fwhm):
        parts.append(f"FWHM {fwhm:.3g}{u}")
    flags = sorted(getattr(peak, "flags", ()) or ())
    parts.append("ok" if getattr(peak, "ok", False) else "NOT usable: " +
                 (", ".join(flags) or "fit failed"))
    if flags and getattr(peak, "ok", False):
        parts.append(f"flags: {', '.join(flags)}")
    return ", ".join(parts)


def _rock(sh: Shell, args: list[str]) -> None:
    from expctl.plans.stubs import rocking_curve

    axis = args[0]
    spec = _axis_spec(sh, axis)
    span = parse_amount(args[1], spec.units, "SPAN")
    if span <= 0:
        raise UserError(f"SPAN must be positive, got {span:g}{_unit(spec.units)}")
    points = parse_count(args[2], "POINTS", 3)
    s = sh.settings
    shutter = sh.device(s.shutter)
    if shutter.state != "open":
        raise UserError(f"{s.shutter} is {shutter.state}: a rocking curve needs the beam",
                        device=s.shutter, hint="Type `open` first.")
    here = float(sh.device(axis).position)
    for x in (here - span / 2, here + span / 2):
        spec.limits.check(axis, x)
    peak = sh.run_plan(lambda: rocking_curve(axis, span, points, signal=s.rock_signal,
                                             read=s.rock_read, i0=s.rock_i0, name="rock")).value
    sh.last_rock = (axis, peak)
    sh.write(format_peak(f"rock {axis} ({points} points, {s.rock_signal}/{s.rock_i0})", peak,
                         spec.units))
    if getattr(peak, "ok", False):
        sh.write("type `peak` to move there")


def _peak(sh: Shell, args: list[str]) -> None:
    from expctl.plans.stubs import mv

    if sh.last_rock is None:
        raise IllegalCommand("peak", "no rocking curve yet", ["rock AXIS SPAN POINTS"])
    axis, peak = sh.last_rock
    if not getattr(peak, "ok", False) or not math.isfinite(getattr(peak, "center", math.nan)):
        flags = ", ".join(sorted(getattr(peak, "flags", ()) or ())) or "fit failed"
        raise UserError(f"the last rocking curve of {axis} has no usable peak ({flags})",
                        device=axis, hint="Rock again with a wider span or more points.")
    center = float(peak.center)
    sh.run_plan(lambda: mv({axis: center}), watch=(axis,))
    units = sh.session.profile.devices[axis].units
    sh.write(f"{axis} {_num(sh.device(axis).position)}{_unit(units)} (peak)")


def _take_run(sh: Shell, args: list[str]) -> None:
    from expctl.plans.stubs import take_run

    shots = parse_count(args[0], "SHOTS")
    label = args[1] if len(args) > 1 else ""
    comment = " ".join(args[2:])
    record = sh.run_plan(lambda: take_run(shots, label, comment)).value
    sh.write(f"run {record.run}{' ' + label if label else ''}: {record.shots} shots")


# ---------------------------------------------------------------- samples
def _mount(sh: Shell, args: list[str]) -> None:
    """``mount NAME`` (registered before) or ``mount new NAME [COMMENT…]``."""
    new = args[0] == "new"
    if new and len(args) < 2:
        raise UserError("mount new needs a NAME", hint="mount new xtal-7 Si(111) batch 3")
    name = args[1] if new else args[0]
    session = sh.session
    with session.control(f"expctl shell: mount {' '.join(args)}"):
        info = session.mount(name, new=new, comment=" ".join(args[2:]) if new else "")
    sh.write(f"{'registered and mounted' if new else 'mounted'} {info.name} on grid "
             f"{info.grid}: {info.fresh} of {info.spots} spots never exposed")


# ---------------------------------------------------------------- sequences
def _seq(sh: Shell, args: list[str]) -> None:
    from expctl.ui.views import print_dry_run, print_errors

    action, path = args[0], Path(args[1])
    if action not in ("run", "dry-run", "validate"):
        raise UserError(f"seq: unknown action {action!r}", allowed="run, dry-run, validate")
    if not path.is_file():
        raise UserError(f"no sequence file {str(path)!r}", device=None,
                        hint="Tab completes file names; sequences live in sequences/.")
    overrides = parse_assignments(args[2:])
    session = sh.session
    loaded = session.load(path, overrides)
    if not loaded.ok:
        print_errors(sh.console(), loaded.errors, str(loaded.path))
        return
    if action == "validate":
        params = ", ".join(f"{k}" for k in loaded.params)
        sh.write(f"{loaded.path}: ok ({loaded.name}; params: {params or 'none'})")
        return
    dry = session.dry_run(loaded)
    if action == "dry-run":
        print_dry_run(sh.console(), dry)
        return
    if not dry.ok:
        problems = list(dry.violations) + ([dry.error] if dry.error else [])
        print_errors(sh.console(), problems, f"{loaded.path}: refused before anything moved")
        return
    from expctl.ui.report import format_duration

    sh.write(f"running {loaded.name}: about {format_duration(dry.total_s)} of beamline time, "
             f"{dry.runs} runs (Ctrl-C pauses)")
    summary = sh.run_sequence(loaded, dry)  # the pre-flight check reuses this dry-run
    runs = (f"runs {summary.runs[0].run}–{summary.runs[-1].run}" if summary.runs else "no runs")
    sh.write(f"{loaded.name} {summary.outcome}: {len(summary.runs)} {runs}, "
             f"{format_duration(summary.duration)} of beamline time")


# ---------------------------------------------------------------- run log (CLI reuse)
def _delegate(name: str) -> Any:
    """``runs``/``show``/``reduce``: the CLI's own commands, handed to the shell by the CLI."""

    def handler(sh: Shell, args: list[str]) -> None:
        if sh.delegate is None:
            raise UserError(f"{name} is not available in this shell",
                            hint=f"Run `expctl {name}` from a terminal.")
        sh.delegate(name, args, sh.data_dir)

    return handler


# ---------------------------------------------------------------- engine control
def _control(name: str) -> Any:
    def handler(sh: Shell, args: list[str]) -> None:
        engine = sh.active_engine()
        if engine is None:
            raise IllegalCommand(name, "idle", [])
        getattr(engine, name)()
        sh.write(f"{name} requested (engine {engine.state.value})")

    return handler


def _history(sh: Shell, args: list[str]) -> None:
    n = parse_count(args[0], "N") if args else 20
    entries = sh.history_entries()
    first = max(0, len(entries) - n)
    for i, line in enumerate(entries[first:], start=first + 1):
        sh.write(f"{i:5d}  {line}")


def _help(sh: Shell, args: list[str]) -> None:
    sh.write(sh.registry.help_text(args[0] if args else None))


def _exit(sh: Shell, args: list[str]) -> None:
    sh.request_exit()


def build_registry() -> CommandRegistry:
    """Every shell command, in the order ``help`` lists them."""
    pairs_m = (A("DEV", K.MOTOR), A("POS", K.VALUE))
    imm = Mode.IMMEDIATE
    seq_args = (A("ACTION", K.CHOICE, choices=("run", "dry-run", "validate")),
                A("FILE", K.FILE), A("NAME=VALUE", K.PARAM, optional=True))
    cmds = [
        ShellCommand("wa", "where all: every device with value, units, limits, access", (),
                     _wa),
        ShellCommand("wm", "where motor: value, units, limits of the named devices",
                     (A("DEV", K.DEVICE),), _wm, repeat_from=0),
        ShellCommand("mv", "move axes to positions (all at once); units optional: mv delay 5 ps",
                     pairs_m, lambda sh, a: _move(sh, a, relative=False, live=False),
                     repeat_from=0, details="Ctrl-C asks to pause; twice pauses now."),
        ShellCommand("mvr", "move axes by steps", pairs_m,
                     lambda sh, a: _move(sh, a, relative=True, live=False), repeat_from=0),
        ShellCommand("umv", "move with live readback (toolbar) and report where they ended",
                     pairs_m, lambda sh, a: _move(sh, a, relative=False, live=True),
                     repeat_from=0),
        ShellCommand("set", "set discrete devices: set pd_gain high attenuator 200",
                     (A("DEV", K.SETTABLE), A("VALUE", K.VALUE)), _set, repeat_from=0),
        ShellCommand("ct", "count detectors and monitors for SECONDS (default 1 s)",
                     (A("SECONDS", K.NUMBER, optional=True),), _ct),
        ShellCommand("scan", "step scan: AXIS START STOP POINTS [DETECTOR…]",
                     (A("AXIS", K.MOTOR), A("START", K.NUMBER), A("STOP", K.NUMBER),
                      A("POINTS", K.INTEGER), A("DETECTOR", K.DETECTOR, optional=True)),
                     _scan, repeat_from=4),
        ShellCommand("rock", "rocking curve around the current position; fits the peak",
                     (A("AXIS", K.MOTOR), A("SPAN", K.NUMBER), A("POINTS", K.INTEGER)), _rock,
                     details="Signal mpccd.roi0 normalised by pd_i0; the shutter must be open."
                             "\nThe result is stored as `rock`; `peak` moves there."),
        ShellCommand("peak", "move the last rocked axis to the fitted peak", (), _peak),
        ShellCommand("open", "open a shutter (default xray_shutter)",
                     (A("SHUTTER", K.SHUTTER, optional=True),), _shutter("open")),
        ShellCommand("close", "close a shutter (default xray_shutter)",
                     (A("SHUTTER", K.SHUTTER, optional=True),), _shutter("closed")),
        ShellCommand("request", "ask the accelerator for a parameter: request pump on",
                     (A("DEV", K.REQUESTABLE), A("VALUE", K.VALUE)), _request, repeat_from=0),
        ShellCommand("take_run", "take a DAQ run: take_run SHOTS [LABEL [COMMENT…]]",
                     (A("SHOTS", K.INTEGER), A("LABEL", K.TEXT, optional=True),
                      A("COMMENT", K.TEXT, optional=True)), _take_run, repeat_from=2),
        ShellCommand("mount", "the sample now on the plate: mount NAME, or mount new NAME "
                     "[COMMENT…] for one never registered",
                     (A("NAME", K.TEXT), A("COMMENT", K.TEXT, optional=True)), _mount,
                     repeat_from=1, details="Spots exposed on a sample are never handed out "
                                            "again (`expctl sample show NAME`)."),
        ShellCommand("seq", "sequences: seq run|dry-run|validate FILE [NAME=VALUE…]",
                     seq_args, _seq, repeat_from=2),
        ShellCommand("runs", "list logged runs (runs --where 'label==pumped')",
                     (A("OPTIONS", K.TEXT, optional=True),), _delegate("runs"), repeat_from=0),
        ShellCommand("show", "show one run: catalog row and file contents",
                     (A("RUN", K.INTEGER),), _delegate("show")),
        ShellCommand("reduce", "reduce runs into a delay cube: reduce 12 14-20 [--bins N]",
                     (A("RUNS", K.TEXT),), _delegate("reduce"), repeat_from=0),
        ShellCommand("pause", "pause at the next checkpoint (again: pause now)", (),
                     _control("pause"), mode=imm),
        ShellCommand("resume", "resume a paused command or sequence", (), _control("resume"),
                     mode=imm),
        ShellCommand("stop", "end the running command after the current step", (),
                     _control("stop"), mode=imm),
        ShellCommand("abort", "end now and drive the safe state", (), _control("abort"),
                     mode=imm),
        ShellCommand("history", "the last N commands (default 20)",
                     (A("N", K.INTEGER, optional=True),), _history, mode=imm),
        ShellCommand("help", "list commands, or help CMD", (A("CMD", K.COMMAND, optional=True),),
                     _help, mode=imm),
        ShellCommand("exit", "leave the shell (after queued commands)", (), _exit,
                     aliases=("quit",)),
    ]
    return CommandRegistry(cmds)


def describe_error(exc: BaseException) -> str:
    """One paragraph for any exception: ExpctlErrors as they render, others with their type."""
    if isinstance(exc, ExpctlError):
        return f"error: {exc.paragraph()}"
    text = str(exc) or type(exc).__name__
    return (f"unexpected {type(exc).__name__}: {' '.join(text.split())} — the shell carries "
            "on; please report this with the command that caused it")
