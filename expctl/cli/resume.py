"""``expctl resume``: continue the campaign that was started, exactly as it was started.

It opens the campaign's journal first: its profile and seed, its sequence text (the
copy kept in the journal, not the file on disk now) and its ``--set`` overrides.  It
says what it will skip and restore before anything moves and, on a terminal, asks
(``--yes`` does not), refuses when the file on disk was edited (``--use-current``
continues with the edited file, checked against what was done), and takes control of
the beamline like ``expctl run``.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from expctl.cli import Command
from expctl.errors import UserError

__all__ = ["COMMAND", "check_resumable", "resume_summary"]


def _configure(p: argparse.ArgumentParser) -> None:
    from expctl.cli.run import add_session_args

    p.add_argument("--campaign", default=None, help="campaign id (default: newest unfinished; "
                                                    "`expctl campaigns` lists them)")
    p.add_argument("--use-current", action="store_true",
                   help="continue with the sequence file as it is on disk now, when it was "
                        "edited since the campaign started (checked against what was done)")
    p.add_argument("--as-started", action="store_true",
                   help="finish the campaign from the copy of its sequence kept in its "
                        "journal, although the file on disk was edited since")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("-y", "--yes", action="store_true",
                   help="resume without asking (on a terminal, resume shows what it will do "
                        "and asks first)")
    add_session_args(p, control=True, profile_default=None)


def check_resumable(data_dir: Path, campaign: str | None) -> None:
    """A user error (exit 2) before anything connects when there is nothing to resume."""
    from expctl.engine.journal import scan_journals

    if campaign is not None:
        return
    done, unreadable = scan_journals(data_dir)
    if any(not c.finished for c in done):
        return
    latest = (f" The newest, {done[-1].id} ({done[-1].sequence}), ran to completion."
              if done else "")
    if unreadable:  # a damaged journal is set aside, never silently: say so
        names = ", ".join(str(e.path and Path(e.path).stem) for e in unreadable)
        latest += (f" {len(unreadable)} journal{'s' if len(unreadable) != 1 else ''} could "
                   f"not be read ({names}); `expctl check` says why.")
    raise UserError(f"nothing to resume: no unfinished campaign in {data_dir}.{latest}",
                    hint="Start one with `expctl run SEQUENCE`; `--data-dir DIR` looks "
                         "elsewhere.")


def resume_summary(plan: Any, units: dict[str, str]) -> list[str]:
    """What resume will do, in a few lines (values with units)."""
    info, walk = plan.info, plan.walk

    source = ("the file on disk now (--use-current)" if plan.use_current
              else "as started (the copy in its journal)")
    lines = [f"resuming campaign {info.id}: {info.sequence} from {info.sequence_file}, "
             f"{source}; profile {info.profile}, seed {info.seed}"]
    if info.overrides:
        lines.append("  with --set " + ", ".join(info.overrides))
    spots = ", ".join(f"{n} on {g}" for g, n in plan.spots.items()) or "none"
    done = f"  done: {walk.skipped} steps (skipped), {plan.kept} runs kept, spots used: {spots}"
    if plan.superseded:
        done += ("; superseded (their step is redone on a fresh spot): runs "
                 + ", ".join(str(r.run) for r in plan.superseded))
    lines.append(done)
    if walk.finished:
        lines.append("  next: nothing left but the end of the sequence")
    else:
        label = f" ({walk.next_label})" if walk.next_label else ""
        lines.append(f"  next: step {walk.next_path or '?'}{label}")
    if plan.restore:
        lines.append("  restores first: " + ", ".join(
            f"{n} {_value(now, units.get(n))} → {_value(then, units.get(n))}"
            for n, now, then in plan.restore))
    return lines


def _go_ahead(out: Any, read: Any = input) -> bool:
    """Ask before anything moves (only a terminal can answer; a script says --yes or is
    not asked)."""
    import sys

    if not sys.stdin.isatty():
        return True
    out.print("resume now? [y]es / [n]o: ", end="", markup=False, highlight=False)
    try:
        answer = read("")
    except (EOFError, KeyboardInterrupt):
        answer = "n"
    return answer.strip().lower().startswith("y")


def _value(v: Any, unit: str | None) -> str:
    text = f"{v:.7g}" if isinstance(v, float) else str(v)
    return f"{text} {unit}" if unit and isinstance(v, int | float) else text


def _run(args: argparse.Namespace) -> int:
    from expctl.cli.run import _print_json, console, open_session, show_notes, wait_for_plots
    from expctl.engine import Journal
    from expctl.engine.events import SafeStateReached, StateRestored
    from expctl.paths import resolve_data_dir
    from expctl.ui.progress import (
        ask_after_pause,
        pause_on_interrupt,
        print_note,
        safe_state_line,
    )
    from expctl.ui.report import outcome_text, plain
    from expctl.ui.views import print_warnings

    data_dir = resolve_data_dir(args.data_dir)
    check_resumable(data_dir, args.campaign)
    info = Journal.read(data_dir, args.campaign).info
    args.profile = args.profile or info.profile or "bl3"
    con = console()
    out = console(stderr=True) if args.json else con
    with open_session(args) as session:
        session.take_control(f"expctl resume {info.id}")
        plan = session.prepare_resume(info.id, use_current=args.use_current,
                                      as_started=args.as_started)
        units = {name: spec.units for name, spec in session.profile.devices.items()}
        for line in resume_summary(plan, units):
            out.print(line, markup=False, highlight=False)
        if not (args.yes or _go_ahead(out)):
            out.print(f"not resumed: nothing moved (`expctl resume --campaign {info.id}` when "
                      "ready)", markup=False, highlight=False)
            return 0
        notify = print_note(console(stderr=True))

        def say(event: Any) -> None:
            if isinstance(event, StateRestored):
                notify("restoring " + ", ".join(f"{n} → {_value(v, units.get(n))}"
                                                for n, v in event.targets))
            elif isinstance(event, SafeStateReached) and event.reason != "pause":
                notify(safe_state_line(event, units))

        unsubscribe = session.bus.subscribe(say, critical=False, name="resume notes")
        hook = ask_after_pause(out)
        with pause_on_interrupt(lambda: session.current_engine, notify, session.bus,
                                hook) as flags:
            summary = session.resume(plan=plan, pause_hook=hook)
        unsubscribe()
        if args.json:  # the object carries the plots' warnings: they are written first
            wait_for_plots(session, out)
            show_notes(session)
            _print_json({"ok": summary.outcome == "completed", "outcome": summary.outcome,
                         "campaign": info.id, "runs": [r.run for r in summary.runs],
                         "cut_runs": [r.run for r in summary.cut_runs],
                         "superseded": [r.run for r in plan.superseded],
                         "steps_skipped": summary.steps_skipped,
                         "results": plain(session.results),
                         "warnings": [w.text for w in session.bus.warnings]})
        else:
            con.print(f"campaign {info.id}: " + outcome_text(summary,
                                                              interrupted=flags["interrupted"]),
                      highlight=False)
            wait_for_plots(session, out)  # after the outcome: it is not held up by plots
            show_notes(session)
            print_warnings(console(stderr=True), session.bus.warnings)
    if summary.outcome == "completed":
        return 0
    return 130 if flags["interrupted"] else 1


COMMAND = Command("resume", "continue the newest unfinished campaign as it was started",
                  _configure, _run)
