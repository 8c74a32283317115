"""``expctl run SEQ``: check, dry-run (``--dry-run``) or run a YAML sequence.

Nothing heavy is imported at module level: ``expctl --help`` must stay fast.
A real run is preceded by a (sampled) rehearsal on the simulated twin, which
gives the ETA and refuses to move anything if it finds a limit or access
problem.  Ctrl-C pauses; the user then chooses resume, stop or abort.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from expctl.cli import Command
from expctl.paths import DATA_DIR_HELP

__all__ = ["COMMAND", "add_session_args", "check_sequence_path", "open_session",
           "show_notes", "wait_for_plots"]


def add_session_args(p: argparse.ArgumentParser, *, seeds: bool = True,
                     control: bool = False, profile_default: str | None = "bl3") -> None:
    """The options every session-opening command shares (``control``: the options of
    commands that drive the beamline: suspenders and rehearsed faults)."""
    p.add_argument("--profile", default=profile_default, metavar="NAME",
                   help="beamline profile name or YAML file (default: "
                        f"{profile_default or 'the one the campaign was started with'})")
    p.add_argument("--data-dir", default=None, metavar="DIR", help=DATA_DIR_HELP)
    p.add_argument("--access", choices=("user", "staff"), default="user",
                   help="access level of this session (default: user)")
    if seeds:
        p.add_argument("--seed", type=int, default=None, metavar="N",
                       help="simulator seed" + ("" if profile_default else
                                                " (default: the campaign's)"))
        p.add_argument("--speed", type=float, default=None, metavar="X",
                       help="run the simulator on a wall clock sped up X times "
                            "(default: virtual clock, time jumps)")
    if control:
        p.add_argument("--no-suspenders", dest="suspenders", action="store_false",
                       help="do not install the profile's suspenders (beam loss then fails "
                            "a run instead of suspending and retaking it)")
        p.add_argument("--fault", dest="faults", action="append", default=[],
                       metavar="KIND@TIME[+DUR][:DEVICE]",
                       help="rehearse a fault on the simulator, counted from the start, e.g. "
                            "beam_loss@120s+30s, stall@300s:theta, timeout@5min:mpccd, "
                            "dropout@60s:mpccd, refuse@0:pump_delay (repeatable)")
        p.add_argument("--no-plots", dest="plots", action="store_false",
                       help="draw no alignment-scan PNGs (scan files and catalog rows are "
                            "still written)")


def open_session(args: argparse.Namespace) -> Any:
    """A Session from the shared options."""
    from expctl.session import Session

    return Session.open(args.profile, args.data_dir, getattr(args, "seed", None),
                        speed=getattr(args, "speed", None), access=args.access,
                        suspenders=getattr(args, "suspenders", True),
                        faults=getattr(args, "faults", ()), plots=getattr(args, "plots", True))


def check_sequence_path(text: str) -> None:
    """A missing sequence file, with the likely intended one, before anything connects."""
    import difflib
    from pathlib import Path

    from expctl.errors import Location, UserError

    path = Path(text)
    if path.exists():
        return
    folder = path.parent
    found = sorted(p.name for p in folder.glob("*.y*ml")) if folder.is_dir() else []
    close = difflib.get_close_matches(path.name, found, n=1)
    hint = (f"Did you mean {folder / close[0]}?" if close
            else f"Sequences in {folder}: {', '.join(found)}." if found
            else f"There is no directory {folder}." if not folder.is_dir()
            else f"{folder} holds no .yaml files.")
    raise UserError("no such sequence file", location=Location(str(path)), hint=hint)


def console(stderr: bool = False) -> Any:
    """A rich console: the terminal's width, ``COLUMNS`` when piped, else no wrapping
    (see :mod:`expctl.ui.output`)."""
    from expctl.ui.output import console as make_console

    return make_console(stderr)  # (emoji off: ":x:" in a file stays text)


def _configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("sequence", metavar="SEQ", help="YAML sequence file")
    p.add_argument("--dry-run", action="store_true",
                   help="check and rehearse on the simulated twin; nothing moves")
    p.add_argument("--set", dest="overrides", action="append", default=[],
                   metavar="NAME=VALUE", help="override a parameter (repeatable)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    add_session_args(p, control=True)


def _print_json(data: dict[str, Any]) -> None:
    json.dump(data, sys.stdout, indent=2, allow_nan=False, default=str)
    sys.stdout.write("\n")


def _run(args: argparse.Namespace) -> int:
    from expctl.ui.report import dry_run_dict, validation_dict
    from expctl.ui.views import print_dry_run, print_errors

    check_sequence_path(args.sequence)
    with open_session(args) as session:
        loaded = session.load(args.sequence, args.overrides)
        if not loaded.ok:
            if args.json:
                _print_json(validation_dict(loaded) | {"estimated_duration_s": None,
                                                       "steps": []})
            else:
                print_errors(console(stderr=True), loaded.errors, str(loaded.path))
            return 2
        if not args.dry_run:  # refused at once if another process controls the beamline
            session.take_control(f"expctl run {args.sequence}")
        dry = session.dry_run(loaded)
        if args.dry_run:
            if args.json:
                _print_json(dry_run_dict(dry))
            else:
                print_dry_run(console(), dry)
            if dry.error is not None:
                return dry.error.exit_code
            return 0 if dry.ok else 2
        if not dry.ok:
            problems = list(dry.violations) + ([dry.error] if dry.error else [])
            print_errors(console(stderr=True), problems,
                         f"{loaded.path}: refused before anything moved")
            return 2
        return _execute(session, loaded, dry, args.json)


def _execute(session: Any, loaded: Any, dry: Any, as_json: bool) -> int:
    from expctl.ui.progress import pause_on_interrupt
    from expctl.ui.report import outcome_text, plain
    from expctl.ui.views import print_warnings

    show_notes(session)
    units = {name: spec.units for name, spec in session.profile.devices.items()}
    if as_json:  # stdout keeps the object; rich (for stderr) is imported only if needed
        hook: Any = _ask_on_stderr
        notify = _note_on_stderr
        displays: dict[str, Any] = {}
    else:  # (the displays' modules are imported only for them)
        from expctl.sequence.dryrun import written_path
        from expctl.ui.eta import Eta, leaf_seconds
        from expctl.ui.location import StepTracker, loop_totals
        from expctl.ui.output import fit_line, line_width
        from expctl.ui.progress import RunProgress, ask_after_pause
        from expctl.ui.report import format_duration
        from expctl.ui.runlines import EventLines

        con = console()
        tracker = StepTracker(loop_totals(loaded.report.outline), dict(loaded.params),
                              session.results)
        eta = Eta(dry.total_s, leaf_seconds(dry.tree), session.clock.now, written_path)
        progress = RunProgress(con, loaded.report.outline, dry.total_s, session.clock, units,
                               tracker=tracker, eta=eta)
        # suspensions, pauses and the safe state are the progress display's own lines
        lines = EventLines(lambda text: con.print(text, markup=False, highlight=False,
                                                  soft_wrap=True),
                           tracker, units, line_width(), states=False)
        hook = ask_after_pause(con, progress)
        notify = progress.notify
        displays = {"step tracker": tracker, "ETA": eta, "run lines": lines,
                    "progress display": progress}
        con.print(fit_line(f"running {loaded.name}: about {format_duration(dry.total_s)} of "
                           f"beamline time, {dry.runs} runs, {dry.shots} shots (Ctrl-C pauses)",
                           line_width()), markup=False, highlight=False, soft_wrap=True)
    unsubscribe = [session.bus.subscribe(s, critical=False, name=name)
                   for name, s in displays.items()]
    try:
        with pause_on_interrupt(lambda: session.current_engine, notify, session.bus,
                                hook) as flags:
            if as_json:
                summary = session.run(loaded, pause_hook=hook, rehearsal=dry)
            else:
                with progress.live():
                    summary = session.run(loaded, pause_hook=hook, rehearsal=dry)
    finally:
        for off in unsubscribe:
            off()
    started = session.journal is not None and session.journal.live
    if as_json:  # the object carries the plots' warnings: they are written first
        wait_for_plots(session)
        show_notes(session)
        _print_json({"ok": summary.outcome == "completed", "outcome": summary.outcome,
                     "runs": [r.run for r in summary.runs],
                     "cut_runs": [r.run for r in summary.cut_runs],
                     "duration_s": round(summary.duration, 3),
                     "results": plain(session.results),
                     "safe_state": _safe_state_text(session, units),
                     "journal": str(session.journal.path) if started else None,
                     "warnings": [w.text for w in session.bus.warnings]})
    else:  # the outcome at once (after Ctrl-C too), then the plots still being drawn
        con.print(outcome_text(summary, interrupted=flags["interrupted"]), highlight=False)
        if not started:
            con.print("nothing had moved yet: no campaign was started (nothing to resume)")
        wait_for_plots(session, con)
        show_notes(session)
        print_warnings(console(stderr=True), session.bus.warnings)
    if summary.outcome == "completed":
        return 0
    return 130 if flags["interrupted"] else 1


def _ask_on_stderr(engine: Any) -> None:
    """The pause question of a ``--json`` run, asked on stderr (rich imported only now)."""
    from expctl.ui.progress import ask_after_pause

    ask_after_pause(console(stderr=True))(engine)


def _note_on_stderr(message: str) -> None:
    """A Ctrl-C note of a ``--json`` run, on stderr (rich imported only now)."""
    from expctl.ui.progress import print_note

    print_note(console(stderr=True))(message)


def wait_for_plots(session: Any, con: Any = None) -> None:
    """Before the command exits: the alignment PNGs still being drawn are written, with a
    progress bar (on a terminal: ``con``, or stderr's) while some are left."""
    left = session.log.plots_pending
    terminal = con.is_terminal if con is not None else sys.stderr.isatty()
    if not left or not terminal:  # (a piped bar would leave a blank line in the log)
        session.log.finish_plots()
        return
    con = con or console(stderr=True)
    from rich.progress import Progress

    with Progress(console=con, transient=True) as bar:
        task = bar.add_task("writing alignment plots", total=left)
        session.log.finish_plots(lambda done, total: bar.update(task, completed=done, total=total))


def show_notes(session: Any) -> None:
    """Print (on stderr) what the session wants the user to know, once."""
    from expctl.ui.output import print_plain

    for note in session.notes:
        print_plain(f"note: {note}", stderr=True)
    session.notes.clear()


def _safe_state_text(session: Any, units: dict[str, str]) -> str | None:
    """What the last safe-state drive did (``None`` if the engine never drove it)."""
    engine = session.current_engine
    reached = engine.last_safe_state if engine is not None else None
    return reached.describe(units) if reached is not None else None


COMMAND = Command("run", "run a YAML sequence (--dry-run: check and estimate only)",
                  _configure, _run)
