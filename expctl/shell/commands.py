"""The shell's commands (SPEC / spock vocabulary) and the registry built from them.

Each handler takes the running :class:`~expctl.shell.app.Shell` and the
argument tokens; it parses with :mod:`expctl.shell.parse`, runs plans from
:mod:`expctl.plans.stubs` on the shell's engine (rehearsed on the simulated
twin first, so a bad target is refused before anything moves), and prints
through the shell.  Motion lives in :mod:`expctl.shell.motion`, counting and
scanning in :mod:`expctl.shell.scanning`; sequences, the run log, engine
control and the console itself here.  ``runs``, ``show`` and ``reduce`` run the CLI's own
commands (handed in by :mod:`expctl.cli.shell`; the shell may not import the
CLI), so both surfaces behave identically.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from expctl.errors import ExpctlError, IllegalCommand, UserError
from expctl.shell.motion import (
    move,
    request,
    set_devices,
    shutter,
    tweak,
    where_all,
    where_motor,
)
from expctl.shell.parse import parse_assignments, parse_count
from expctl.shell.registry import (
    ArgKind,
    ArgSpec,
    CommandRegistry,
    Frame,
    Mode,
    ShellCommand,
)
from expctl.shell.scanning import (
    count,
    move_to_stat,
    plot,
    rock,
    scan_points,
    spec_scan,
    take_run,
)

if TYPE_CHECKING:
    from expctl.shell.app import Shell

__all__ = ["build_registry", "describe_error"]

A = ArgSpec
K = ArgKind


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
    summary = _run_sequence(sh, loaded, dry)
    runs = (f"runs {summary.runs[0].run}–{summary.runs[-1].run}" if summary.runs else "no runs")
    sh.write(f"{loaded.name} {summary.outcome}: {len(summary.runs)} {runs}, "
             f"{format_duration(summary.duration)} of beamline time")


def _run_sequence(sh: Shell, loaded: Any, dry: Any) -> Any:
    """Run a checked sequence through the session (journal, run log, safe state): a line per
    run and result as `expctl run` prints them, the toolbar following its step and ETA."""
    from expctl.sequence.dryrun import written_path
    from expctl.ui.eta import Eta, leaf_seconds
    from expctl.ui.location import StepTracker, loop_totals
    from expctl.ui.runlines import EventLines

    session = sh.session
    tracker = StepTracker(loop_totals(loaded.report.outline) if loaded.report else {},
                          dict(loaded.params), session.results)
    eta = Eta(dry.total_s, leaf_seconds(dry.tree), session.clock.now, written_path)
    speed = getattr(session.clock, "speed", None)
    units = {name: spec.units for name, spec in session.profile.devices.items()}
    lines = EventLines(lambda text: sh.write("  " + text), tracker, units, sh.width() - 2,
                       states=False)
    sh.board.progress = lambda: (tracker.location(), eta.text(speed))
    sh.sequence_running = True
    unsubscribe = [session.bus.subscribe(s, critical=False, name=name) for name, s in
                   (("step tracker", tracker), ("ETA", eta), ("shell display", lines))]
    seen = len(session.bus.warnings)
    try:
        with session.control(f"expctl shell: {sh.busy or 'seq run'}"):
            return session.run(loaded, rehearsal=dry)  # the pre-flight reuses this dry-run
    finally:
        for off in unsubscribe:
            off()
        sh.board.progress = None
        sh.sequence_running = False
        for warning in session.bus.warnings[seen:]:  # a display or plot that failed
            sh.write(f"warning: {warning.text}")


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


def _comment(sh: Shell, args: list[str]) -> None:
    """``comment TEXT``: into the logbook, filed with the run, scan and step going on now."""
    text = " ".join(args).strip()
    if not text:
        raise UserError("comment: nothing to write", hint="comment beam steered by the MCR")
    sh.add_comment(text)


def _help(sh: Shell, args: list[str]) -> None:
    sh.write(sh.registry.help_text(args[0] if args else None))


def _exit(sh: Shell, args: list[str]) -> None:
    sh.request_exit()


def _scan_command(verb: str, summary: str, axes: int, relative: bool, example: str,
                  aliases: tuple[str, ...] = (), grid: bool = False) -> ShellCommand:
    group: tuple[ArgSpec, ...] = (A("MOTOR", K.MOTOR), A("START", K.NUMBER),
                                  A("END", K.NUMBER))
    if grid:
        group += (A("INTERVALS", K.INTEGER),)
    slots = group * axes + (() if grid else (A("INTERVALS", K.INTEGER),)) + (
        A("TIME", K.NUMBER, optional=True),)
    return ShellCommand(
        verb, summary, slots,
        lambda sh, a: spec_scan(sh, a, verb=verb, axes=axes, relative=relative, grid=grid),
        frame=Frame.RELATIVE if relative else Frame.ABSOLUTE, aliases=aliases,
        example=example, details=_SCAN_DETAILS + (_BACK if relative else ""),
        group="counting and scans")


_SCAN_DETAILS = ("INTERVALS as in SPEC (points = intervals + 1); TIME is the count time "
                 "per point\n(seconds or e.g. 100 ms; one shot per point without it). "
                 "Rows print as points\narrive; the scan is a numbered record (runs --scans, "
                 "show --scan N), kept\nwith its points when Ctrl-C stops it. "
                 "cen, pic, com, peak and plot act on it.")
_BACK = "\nThe axes go back to where they started, also when the scan is stopped."


#: the heading each command is listed under by ``help``
_GROUPS = {name: group for group, names in (
    ("where and motion", ("wa", "wm", "mv", "mvr", "umv", "umvr", "tw", "set", "open",
                          "close", "request")),
    ("counting and scans", ("ct", "scan", "cen", "pic", "com", "peak", "plot", "rock")),
    ("runs, samples and sequences", ("take_run", "mount", "comment", "seq", "runs", "show",
                                     "reduce")),
    ("engine and console", ("pause", "resume", "stop", "abort", "history", "help", "exit")),
) for name in names}


def build_registry() -> CommandRegistry:
    """Every shell command, in the order ``help`` lists them."""
    pairs_m = (A("DEV", K.MOTOR), A("POS", K.VALUE))
    imm, read = Mode.IMMEDIATE, Mode.READ
    absolute, relative = Frame.ABSOLUTE, Frame.RELATIVE
    seq_args = (A("ACTION", K.CHOICE, choices=("run", "dry-run", "validate")),
                A("FILE", K.FILE), A("NAME=VALUE", K.PARAM, optional=True))
    cmds = [
        ShellCommand("wa", "where all: every device with value, units, limits, access", (),
                     where_all, mode=read, example="wa"),
        ShellCommand("wm", "where motor: value, units, limits of the named devices",
                     (A("DEV", K.DEVICE),), where_motor, repeat_from=0, mode=read,
                     example="wm theta sample_x"),
        ShellCommand("mv", "move axes to positions (all at once); units optional",
                     pairs_m, lambda sh, a: move(sh, a, relative=False, live=False),
                     repeat_from=0, frame=absolute, aliases=("mov",),
                     details="Ctrl-C stops the axes at once.",
                     example="mv theta 11.41\nmv delay 5 ps sample_x 1 mm"),
        ShellCommand("mvr", "move axes by steps", pairs_m,
                     lambda sh, a: move(sh, a, relative=True, live=False), repeat_from=0,
                     frame=relative, aliases=("movr",), example="mvr theta -20 mdeg"),
        ShellCommand("umv", "move with live readback and report where the axes ended",
                     pairs_m, lambda sh, a: move(sh, a, relative=False, live=True),
                     repeat_from=0, frame=absolute,
                     details="The toolbar shows the readback; Ctrl-C stops the axes at once "
                             "and\nprints where they stopped.",
                     example="umv sample_x 2.5"),
        ShellCommand("umvr", "move by steps with live readback", pairs_m,
                     lambda sh, a: move(sh, a, relative=True, live=True), repeat_from=0,
                     frame=relative, example="umvr sample_y 0.1 mm"),
        ShellCommand("tw", "tweak an axis by a step: + or -, Enter repeats, q ends",
                     (A("DEV", K.MOTOR), A("STEP", K.NUMBER)), tweak, frame=relative,
                     example="tw theta 2 mdeg\n+        (theta +0.002 deg)\n"
                             "         (Enter: again)\n-\n0.5 mdeg (new step)\nq"),
        ShellCommand("set", "set discrete devices: set pd_gain high attenuator 200",
                     (A("DEV", K.SETTABLE), A("VALUE", K.VALUE)), set_devices,
                     repeat_from=0, example="set attenuator 200 um pd_gain high"),
        ShellCommand("ct", "count: mean ± σ of every signal and the normalised signal",
                     (A("TIME", K.NUMBER, optional=True),), count,
                     details="Counts shot by shot for TIME (default 1 s) at the beam rate.",
                     example="ct\nct 0.5\nct 200 ms"),
        _scan_command("ascan", "absolute scan: MOTOR START END INTERVALS [TIME]", 1, False,
                      "ascan theta 11.39 11.41 20 0.1   (21 points, 3 shots each)"),
        _scan_command("dscan", "relative scan around here, then back: MOTOR START END "
                      "INTERVALS [TIME]", 1, True,
                      "dscan theta -10 mdeg 10 mdeg 20\ncen     (then move to its centre)",
                      aliases=("lup",)),
        _scan_command("a2scan", "two axes together, absolute: M1 S1 E1 M2 S2 E2 INTERVALS "
                      "[TIME]", 2, False, "a2scan sample_x 0 1 sample_y 0 0.5 10"),
        _scan_command("d2scan", "two axes together, relative, then back", 2, True,
                      "d2scan sample_x -0.5 0.5 sample_y -0.2 0.2 10"),
        _scan_command("mesh", "grid scan: M1 S1 E1 N1 M2 S2 E2 N2 [TIME], M1 fastest", 2,
                      False, "mesh sample_x -1 1 10 sample_y -1 1 4 0.1   (11 × 5 points)",
                      grid=True),
        ShellCommand("scan", "absolute scan by POINTS: AXIS START STOP POINTS [DETECTOR…]",
                     (A("AXIS", K.MOTOR), A("START", K.NUMBER), A("STOP", K.NUMBER),
                      A("POINTS", K.INTEGER), A("DETECTOR", K.DETECTOR, optional=True)),
                     scan_points, repeat_from=4, frame=absolute,
                     details="Like ascan, but counts points (not intervals).",
                     example="scan theta 11.39 11.41 21 mpccd pd_i0"),
        ShellCommand("rock", "rocking curve here; moves to the fitted peak if usable, "
                     "else back", (A("AXIS", K.MOTOR), A("SPAN", K.NUMBER),
                                   A("POINTS", K.INTEGER)), rock, frame=relative,
                     details="Signal and I0 come from the profile's roles; the shutter must "
                             "be open.\nA recorded scan: rows as they arrive, peak "
                             "statistics, back at the start\nwhen stopped or when no "
                             "usable peak was found.",
                     example="open\nrock theta 20 mdeg 41"),
        ShellCommand("cen", "move the last scan's axis to its half-maximum centre",
                     (A("SCAN", K.INTEGER, optional=True),), move_to_stat("cen"),
                     example="dscan theta -10 mdeg 10 mdeg 30\ncen"),
        ShellCommand("pic", "move the last scan's axis to its maximum",
                     (A("SCAN", K.INTEGER, optional=True),), move_to_stat("pic"),
                     example="ascan sample_x -1 1 40\npic"),
        ShellCommand("com", "move the last scan's axis to its centre of mass",
                     (A("SCAN", K.INTEGER, optional=True),), move_to_stat("com"),
                     example="ascan theta 11.39 11.41 40\ncom"),
        ShellCommand("peak", "move the last scan's axis to its fitted peak (if usable)",
                     (A("SCAN", K.INTEGER, optional=True),), move_to_stat("peak"),
                     example="ascan theta 11.39 11.41 40\npeak\npeak 12   (scan 12's)"),
        ShellCommand("plot", "draw the last scan (or SCAN): a PNG and a terminal plot",
                     (A("SCAN", K.INTEGER, optional=True),), plot, mode=read,
                     example="plot\nplot 12"),
        ShellCommand("open", "open a shutter (default: the profile's shutter)",
                     (A("SHUTTER", K.SHUTTER, optional=True),), shutter("open"),
                     example="open"),
        ShellCommand("close", "close a shutter (default: the profile's shutter)",
                     (A("SHUTTER", K.SHUTTER, optional=True),), shutter("closed"),
                     example="close"),
        ShellCommand("request", "ask the accelerator for a parameter: request pump on",
                     (A("DEV", K.REQUESTABLE), A("VALUE", K.VALUE)), request,
                     repeat_from=0, example="request pump on\nrequest pump_delay 0.5 ps"),
        ShellCommand("take_run", "take a DAQ run: take_run SHOTS [LABEL [COMMENT…]]",
                     (A("SHOTS", K.INTEGER), A("LABEL", K.TEXT, optional=True),
                      A("COMMENT", K.TEXT, optional=True)), take_run, repeat_from=2,
                     example="take_run 300 reference beam stable"),
        ShellCommand("mount", "the sample now on the plate: mount NAME, or mount new NAME "
                     "[COMMENT…] for one never registered",
                     (A("NAME", K.TEXT), A("COMMENT", K.TEXT, optional=True)), _mount,
                     repeat_from=1, details="Spots exposed on a sample are never handed out "
                                            "again (`expctl sample show NAME`).",
                     example="mount new xtal-7 Si(111) batch 3\nmount xtal-6"),
        ShellCommand("comment", "write a comment into the logbook (with the current run)",
                     (A("TEXT", K.TEXT),), _comment, repeat_from=0, mode=imm,
                     details="Filed with the run being taken (or the last one), the last "
                             "scan and\nthe sequence step; `runs --comments` lists them.",
                     example="comment sample 3 cracked at spot 12"),
        ShellCommand("seq", "sequences: seq run|dry-run|validate FILE [NAME=VALUE…]",
                     seq_args, _seq, repeat_from=2,
                     details="Ctrl-C during `seq run` pauses at the next checkpoint; again "
                             "pauses now.",
                     example="seq dry-run sequences/small.yaml shots=10\n"
                             "seq run sequences/small.yaml shots=10"),
        ShellCommand("runs", "list logged runs (runs --scans, runs --where 'label==pumped')",
                     (A("OPTIONS", K.TEXT, optional=True),), _delegate("runs"),
                     repeat_from=0, mode=read,
                     example="runs\nruns --scans\nruns --where 'delay > 1 ps'"),
        ShellCommand("show", "show one run (or --scan N): catalog row and file contents",
                     (A("RUN", K.TEXT),), _delegate("show"), repeat_from=0, mode=read,
                     example="show 12\nshow --scan 3"),
        ShellCommand("reduce", "reduce runs into a delay cube: reduce 12 14-20 [--bins N]",
                     (A("RUNS", K.TEXT),), _delegate("reduce"), repeat_from=0, mode=read,
                     example="reduce 1-40 --bin scan/delay"),
        ShellCommand("pause", "pause at the next checkpoint (again: pause now)", (),
                     _control("pause"), mode=imm, example="pause"),
        ShellCommand("resume", "resume a paused command or sequence", (), _control("resume"),
                     mode=imm, example="resume"),
        ShellCommand("stop", "end the running command after the current step", (),
                     _control("stop"), mode=imm, example="stop"),
        ShellCommand("abort", "end now and drive the safe state", (), _control("abort"),
                     mode=imm, example="abort"),
        ShellCommand("history", "the last N commands (default 20)",
                     (A("N", K.INTEGER, optional=True),), _history, mode=imm,
                     example="history 50"),
        ShellCommand("help", "list commands, or help CMD", (A("CMD", K.COMMAND, optional=True),),
                     _help, mode=imm, example="help dscan"),
        ShellCommand("exit", "leave the shell (after queued commands)", (), _exit,
                     aliases=("quit",),
                     details="With the shutter open it asks first (close it, leave it, "
                             "or stay).", example="exit"),
    ]
    return CommandRegistry(replace(c, group=c.group or _GROUPS[c.name]) for c in cmds)


def describe_error(exc: BaseException) -> str:
    """One paragraph for any exception: ExpctlErrors as they render, others with their type."""
    if isinstance(exc, ExpctlError):
        return f"error: {exc.paragraph()}"
    text = str(exc) or type(exc).__name__
    return (f"unexpected {type(exc).__name__}: {' '.join(text.split())} — the shell carries "
            "on; please report this with the command that caused it")
