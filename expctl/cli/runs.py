"""``expctl runs`` (the catalog as a table) and ``expctl show RUN`` (one run in full)."""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Any

from expctl.cli import Command
from expctl.paths import DATA_DIR_HELP

__all__ = ["COMMAND", "COMMANDS", "SHOW_COMMAND"]

#: Table columns; everything else is in ``expctl show RUN`` and ``--json``.
_COLUMNS = ("run", "status", "outcome", "label", "shots", "scan", "sequence", "start_time")


def _data_dir(args: argparse.Namespace) -> Path:
    from expctl.runlog import default_data_dir

    return Path(args.data_dir) if args.data_dir else default_data_dir()


def _jsonable(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    return value


def _configure_runs(p: argparse.ArgumentParser) -> None:
    p.add_argument("--where", help="filter, e.g. 'label==pumped and delay>0' "
                                   "(columns, scan/loop/params values; and/or/not)")
    p.add_argument("--json", action="store_true", help="one JSON list on stdout")
    p.add_argument("--scans", action="store_true",
                   help="list logged alignment scans (rocking curves) instead of runs")
    p.add_argument("--data-dir", metavar="DIR", help=DATA_DIR_HELP)


def _scan_table(scans: list[dict[str, Any]]) -> Any:
    from rich.table import Table

    table = Table(title=f"{len(scans)} alignment scan{'s' if len(scans) != 1 else ''}",
                  box=None)
    for key in ("id", "name", "axis", "points", "center", "fwhm", "flags", "moved", "png"):
        table.add_column(key, no_wrap=True)
    for scan in scans:
        moved = scan.get("moved_to") or {}
        moved_txt = (f"→ {moved['target']:.6g}" if moved.get("moved")
                     else ("stayed" if moved else ""))
        table.add_row(str(scan["id"]), scan["name"], scan["axis"], str(scan["points"]),
                      "" if scan["center"] is None else f"{scan['center']:.6g}",
                      "" if scan["fwhm"] is None else f"{scan['fwhm']:.3g}",
                      ",".join(scan["flags"]) or "ok", moved_txt, scan.get("png") or "")
    return table


def _cell(key: str, value: Any) -> str:
    if key == "scan":
        return " ".join(f"{k}={v:g}" if isinstance(v, (int, float)) else f"{k}={v}"
                        for k, v in (value or {}).items())
    if key == "start_time" and isinstance(value, (int, float)):
        from datetime import datetime

        return datetime.fromtimestamp(value).strftime("%m-%d %H:%M:%S")
    return "" if value is None else str(value)


def _run_runs(args: argparse.Namespace) -> int:
    from expctl.runlog import Catalog, parse_where

    select = parse_where(args.where) if args.where else None
    with Catalog(_data_dir(args), readonly=True) as catalog:
        if args.scans:
            scans = [s for s in catalog.alignments() if select is None or select(s)]
        else:
            rows = [r.as_dict() for r in catalog.rows() if select is None or select(r.values)]
    if args.scans:
        if args.json:
            json.dump(_jsonable(scans), sys.stdout, indent=1)
            sys.stdout.write("\n")
        else:
            _console().print(_scan_table(scans))
        return 0
    if args.json:
        json.dump(_jsonable(rows), sys.stdout, indent=1)
        sys.stdout.write("\n")
        return 0
    from rich.table import Table

    table = Table(title=f"{len(rows)} run{'s' if len(rows) != 1 else ''}", box=None)
    for key in _COLUMNS:
        table.add_column("start" if key == "start_time" else key, no_wrap=True,
                         justify="right" if key in ("run", "shots", "status") else "left")
    for row in rows:
        table.add_row(*(_cell(k, row.get(k)) for k in _COLUMNS))
    _console().print(table)
    return 0


def _console() -> Any:
    """A rich console; piped output gets a wide page instead of 80 truncated columns."""
    from rich.console import Console

    return Console() if sys.stdout.isatty() else Console(width=160)


def _configure_show(p: argparse.ArgumentParser) -> None:
    p.add_argument("run", type=int, help="run number")
    p.add_argument("--json", action="store_true", help="catalog row and file summary as JSON")
    p.add_argument("--data-dir", metavar="DIR", help=DATA_DIR_HELP)


def _run_show(args: argparse.Namespace) -> int:
    from expctl.runlog import Catalog, run_summary

    data_dir = _data_dir(args)
    with Catalog(data_dir, readonly=True) as catalog:
        row = catalog.get(args.run).as_dict()
        path = catalog.file_of(args.run) if row["file"] else None
    summary = run_summary(path) if path is not None else None
    if args.json:
        json.dump(_jsonable({"catalog": row, "file": summary}), sys.stdout, indent=1,
                  default=str)
        sys.stdout.write("\n")
        return 0
    from rich.table import Table

    console = _console()
    head = Table(title=f"run {args.run}", box=None, show_header=False)
    for key, value in row.items():
        head.add_row(key, json.dumps(value) if isinstance(value, (dict, list)) else str(value))
    console.print(head)
    if summary is None:
        console.print("no run file")
        return 0
    data = Table(title="per-shot datasets", box=None)
    for col in ("name", "shape", "dtype"):
        data.add_column(col)
    for name, info in summary["datasets"].items():
        data.add_row(name, "×".join(map(str, info["shape"])), info["dtype"])
    console.print(data)
    for section in ("UserDataCfg", "epicsOnce", "Sums"):
        if summary[section]:
            console.print(f"[bold]{section}[/bold] {json.dumps(summary[section], default=str)}")
    return 0


COMMAND = Command(name="runs", help="list logged runs from the catalog",
                  configure=_configure_runs, run=_run_runs)
SHOW_COMMAND = Command(name="show", help="show one run: catalog row and run-file contents",
                       configure=_configure_show, run=_run_show)
COMMANDS = (COMMAND, SHOW_COMMAND)
