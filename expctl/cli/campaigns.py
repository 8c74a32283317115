"""``expctl campaigns``: the campaigns ``expctl resume`` could continue (``--all``: every one).

Read-only: it never takes control of the beamline and works on any data directory.
"""

from __future__ import annotations

import argparse
from typing import Any

from expctl.cli import Command
from expctl.paths import DATA_DIR_HELP

__all__ = ["COMMAND", "campaign_rows"]


def _configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("--all", action="store_true", help="also list campaigns that completed")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--data-dir", default=None, metavar="DIR", help=DATA_DIR_HELP)


def campaign_rows(data_dir: Any, *, everything: bool = False) -> list[dict[str, Any]]:
    """One dict per campaign (newest last): id, sequence, state, progress, edited files."""
    from expctl.beamtime.campaign import source_changes
    from expctl.engine.journal import Journal, list_campaigns

    rows = []
    for info in list_campaigns(data_dir):
        if info.finished and not everything:
            continue
        journal = Journal.read(data_dir, info.id)
        done = sum(1 for _ in journal.completed_paths())
        rows.append({
            "id": info.id, "sequence": info.sequence, "file": info.sequence_file,
            "started": info.started, "state": info.outcome or "crashed",
            "profile": info.profile, "seed": info.seed, "overrides": list(info.overrides),
            "steps_done": done, "runs_kept": len(journal.campaign_runs()),
            "spots_used": sum(len(journal.consumed_spots(g)) for g in journal.grids()),
            "samples": dict(info.samples),
            "edited": bool(info.sources) and bool(source_changes(info.sources)),
        })
    return rows


def _run(args: argparse.Namespace) -> int:
    import time

    from rich.table import Table

    from expctl.cli.run import _print_json, console
    from expctl.paths import resolve_data_dir

    data_dir = resolve_data_dir(args.data_dir)
    rows = campaign_rows(data_dir, everything=args.all)
    if args.json:
        _print_json({"data_dir": str(data_dir), "campaigns": rows})
        return 0
    con = console()
    if not rows:
        con.print(f"no {'' if args.all else 'unfinished '}campaigns in {data_dir}",
                  highlight=False)
        return 0
    table = Table(title=f"{len(rows)} {'' if args.all else 'unfinished '}campaign"
                        f"{'s' if len(rows) != 1 else ''} in {data_dir}")
    for col in ("campaign", "sequence", "started", "state", "steps", "runs", "spots"):
        table.add_column(col, justify="right" if col in ("steps", "runs", "spots") else "left",
                         no_wrap=col in ("campaign", "started", "state"))
    for r in rows:
        table.add_row(r["id"], r["sequence"] + ("*" if r["edited"] else ""),
                      time.strftime("%m-%d %H:%M", time.localtime(r["started"])), r["state"],
                      str(r["steps_done"]), str(r["runs_kept"]), str(r["spots_used"]))
    con.print(table)
    if any(r["edited"] for r in rows):
        con.print("* its sequence file was edited since it started (resume says how)",
                  highlight=False)
    if not args.all:
        con.print("`expctl resume` continues the newest; `--campaign ID` another.",
                  highlight=False)
    return 0


COMMAND = Command("campaigns", "list campaigns that can be resumed (--all: every one)",
                  _configure, _run)
