"""``expctl resume``: continue the newest unfinished campaign after a crash or abort.

Completed steps are skipped (the journal replays their results) and exposed
sample spots are never reused.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from expctl.cli import Command
from expctl.errors import UserError

__all__ = ["COMMAND", "check_resumable"]


def _configure(p: argparse.ArgumentParser) -> None:
    from expctl.cli.run import add_session_args

    p.add_argument("--campaign", default=None, help="campaign id (default: newest unfinished)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    add_session_args(p, control=True)


def check_resumable(data_dir: Path, campaign: str | None) -> None:
    """A user error (exit 2) before anything connects when there is nothing to resume."""
    from expctl.engine.journal import find_unfinished, list_campaigns

    if campaign is not None or find_unfinished(data_dir) is not None:
        return
    done = list_campaigns(data_dir)
    latest = (f" The newest, {done[-1].id} ({done[-1].sequence}), ran to completion."
              if done else "")
    raise UserError(f"nothing to resume: no unfinished campaign in {data_dir}.{latest}",
                    hint="Start one with `expctl run SEQUENCE`; `--data-dir DIR` looks "
                         "elsewhere.")


def _run(args: argparse.Namespace) -> int:
    from expctl.cli.run import _print_json, console, open_session
    from expctl.engine.events import StateRestored
    from expctl.paths import resolve_data_dir
    from expctl.ui.progress import ask_after_pause, pause_on_interrupt, print_note
    from expctl.ui.report import outcome_text, plain

    check_resumable(resolve_data_dir(args.data_dir), args.campaign)
    con = console()
    with open_session(args) as session:
        notify = print_note(console(stderr=True))
        say_restored = session.bus.subscribe(
            lambda e: notify(e.text) if isinstance(e, StateRestored) else None)
        hook = ask_after_pause(con)
        with pause_on_interrupt(lambda: session.current_engine, notify, session.bus,
                                hook) as flags:
            summary = session.resume(args.campaign, pause_hook=hook)
        say_restored()
        journal = session.journal
        if args.json:
            _print_json({"ok": summary.outcome == "completed", "outcome": summary.outcome,
                         "campaign": journal.info.id if journal else None,
                         "runs": [r.run for r in summary.runs],
                         "steps_skipped": summary.steps_skipped,
                         "results": plain(session.results)})
        else:
            con.print(f"resumed campaign {journal.info.id if journal else '?'} "
                      f"(skipped {summary.steps_skipped} completed steps); "
                      + outcome_text(summary, interrupted=flags["interrupted"]),
                      highlight=False)
    if summary.outcome == "completed":
        return 0
    return 130 if flags["interrupted"] else 1


COMMAND = Command("resume", "continue the newest unfinished campaign", _configure, _run)
