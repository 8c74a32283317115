"""``expctl resume``: continue the newest unfinished campaign after a crash or abort.

Completed steps are skipped (the journal replays their results) and exposed
sample spots are never reused.
"""

from __future__ import annotations

import argparse

from expctl.cli import Command

__all__ = ["COMMAND"]


def _configure(p: argparse.ArgumentParser) -> None:
    from expctl.cli.run import add_session_args

    p.add_argument("--campaign", default=None, help="campaign id (default: newest unfinished)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    add_session_args(p)


def _run(args: argparse.Namespace) -> int:
    from expctl.cli.run import _print_json, console, open_session
    from expctl.ui.progress import ask_after_pause, pause_on_interrupt
    from expctl.ui.report import plain

    con = console()
    with open_session(args) as session:
        with pause_on_interrupt(lambda: session._engine, con) as flags:
            summary = session.resume(args.campaign, pause_hook=ask_after_pause(con))
        journal = session.journal
        if args.json:
            _print_json({"ok": summary.outcome == "completed", "outcome": summary.outcome,
                         "campaign": journal.info.id if journal else None,
                         "runs": [r.run for r in summary.runs],
                         "steps_skipped": summary.steps_skipped,
                         "results": plain(session.results)})
        else:
            con.print(f"[bold]{summary.outcome}[/]: resumed campaign "
                      f"{journal.info.id if journal else '?'}, skipped "
                      f"{summary.steps_skipped} completed steps, took {len(summary.runs)} runs")
    if summary.outcome == "completed":
        return 0
    return 130 if flags["interrupted"] else 1


COMMAND = Command("resume", "continue the newest unfinished campaign", _configure, _run)
