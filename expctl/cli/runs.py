"""``expctl runs`` (the catalog as a table) and ``expctl show RUN`` (one run in full).

Both only read (archives the user cannot write work too); every value from the
catalog or a file is shown inert (no rich markup, no terminal escapes), and
``show`` verifies the run file against the SHA-256 the catalog recorded.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Any

from expctl.cli import Command
from expctl.paths import DATA_DIR_HELP, resolve_data_dir

__all__ = ["COMMAND", "COMMANDS", "SHOW_COMMAND", "catalog_row", "known_names", "local_time",
           "open_catalog"]

#: Table columns; everything else is in ``expctl show RUN`` and ``--json``.
_COLUMNS = ("run", "status", "outcome", "label", "shots", "scan", "sequence", "start_time")
#: The facility's run status codes (dbpy ``read_runstatus``), in words.
_STATUS = {-1: "missing", 0: "stopped", 1: "paused", 2: "running"}


def open_catalog(data_dir: Path) -> Any:
    """The run catalog of ``data_dir``, read-only; a directory without one is a user error.

    Usually the wrong ``--data-dir`` (or ``EXPCTL_DATA_DIR``), or nothing run yet.
    """
    from expctl.errors import UserError
    from expctl.runlog import Catalog, catalog_path

    if not catalog_path(data_dir).exists():
        where = "" if data_dir.is_dir() else " (the directory does not exist)"
        raise UserError(f"no runs logged in {data_dir} yet: it has no run catalog{where}",
                        hint="Take runs with `expctl run SEQUENCE`, or give --data-dir DIR "
                             "(or set EXPCTL_DATA_DIR) for another beamtime's data.")
    return Catalog(data_dir, readonly=True)


def catalog_row(catalog: Any, run: int) -> Any:
    """``catalog.get(run)``; a run number nobody logged is the user's mistake (exit 2)."""
    from expctl.errors import DataError, UserError

    try:
        return catalog.get(run)
    except DataError as err:
        raise UserError(err.message, allowed=err.allowed,
                        hint="`expctl runs` lists the logged runs.") from None


def local_time(stamp: Any, *, date: bool = True) -> str:
    """A Unix time as local ISO time (``2026-01-15 09:00:11.867``); other values as text."""
    if not isinstance(stamp, (int, float)) or isinstance(stamp, bool) or not math.isfinite(stamp):
        return "" if stamp is None else str(stamp)
    from datetime import datetime

    moment = datetime.fromtimestamp(stamp)
    return moment.isoformat(" ", "milliseconds") if date else moment.strftime("%m-%d %H:%M:%S")


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
                   help="list scans instead of runs: console scan records (ascan, dscan, "
                        "mesh, rock …) and sequences' alignment scans")
    p.add_argument("--comments", action="store_true",
                   help="list the logbook (comments typed at the console) instead of runs")
    p.add_argument("--data-dir", metavar="DIR", help=DATA_DIR_HELP)


def _cells(*texts: object) -> list[Any]:
    """Table cells that show catalog text as it is (no markup, terminal controls inert)."""
    from rich.text import Text

    from expctl.ui.report import inert

    return [Text(inert(t)) for t in texts]


def _cell(key: str, value: Any, units: dict[str, str] | None = None) -> str:
    if key == "scan":
        units = units or {}
        return " ".join(
            f"{k}={v:g}{' ' + units[f'scan.{k}'] if units.get(f'scan.{k}') else ''}"
            if isinstance(v, (int, float)) else f"{k}={v}" for k, v in (value or {}).items())
    if key == "start_time":
        return local_time(value, date=False)
    if key == "status" and value in _STATUS:
        return _STATUS[value]
    return "" if value is None else str(value)


def _run_runs(args: argparse.Namespace) -> int:
    from expctl.runlog import parse_where

    if args.comments:
        return _comments(args)
    select = parse_where(args.where) if args.where else None
    with open_catalog(resolve_data_dir(args.data_dir)) as catalog:
        if args.scans:
            every = catalog.alignments()
            scans = [s for s in every if select is None or select(s)]
        else:
            every = [r.values for r in catalog.rows()]
            rows = [r.as_dict() for r in catalog.rows() if select is None or select(r.values)]
    shown = scans if args.scans else rows
    if select is not None and every and not shown:
        _print_no_match(args.where, every, "scans" if args.scans else "runs")
    if args.json:
        json.dump(_jsonable(shown), sys.stdout, indent=1)
        sys.stdout.write("\n")
        return 0
    if args.scans:
        from expctl.ui.scantable import scan_table

        _console().print(scan_table(scans))
        return 0
    from rich.table import Table

    table = Table(title=f"{len(rows)} run{'s' if len(rows) != 1 else ''}", box=None)
    for key in _COLUMNS:
        table.add_column("start" if key == "start_time" else key, no_wrap=True,
                         justify="right" if key in ("run", "shots") else "left")
    for row in rows:
        table.add_row(*_cells(*(_cell(k, row.get(k), row.get("units")) for k in _COLUMNS)))
    _console().print(table)
    return 0


def _comments(args: argparse.Namespace) -> int:
    from expctl.runlog.logbook import read_logbook
    from expctl.ui.scantable import comment_table

    rows = list(read_logbook(resolve_data_dir(args.data_dir)))
    if args.json:
        json.dump(_jsonable(rows), sys.stdout, indent=1)
        sys.stdout.write("\n")
        return 0
    _console().print(comment_table(rows))
    return 0


def known_names(rows: list[dict[str, Any]]) -> str:
    """The names a ``--where`` filter can use on these rows, grouped as the lookup finds them."""
    columns = sorted({k for row in rows for k in row})
    parts = ["columns: " + ", ".join(columns)]
    for section in ("scan", "loop", "params"):
        keys = sorted({k for row in rows if isinstance(row.get(section), dict)
                       for k in row[section]})
        if keys:
            parts.append(f"{section}: " + ", ".join(keys))
    return "; ".join(parts)


def _print_no_match(where: str, every: list[dict[str, Any]], noun: str) -> None:
    """Zero matches is an answer, not an error; say which words named nothing."""
    import re

    from expctl.units import UNITS

    names = {k for row in every for k in row} | {
        k for row in every for section in ("scan", "loop", "params")
        if isinstance(row.get(section), dict) for k in row[section]}
    unquoted = re.sub(r"'[^']*'|\"[^\"]*\"", " ", where)
    words = re.findall(r"[A-Za-z_µ%][\w.\[\]/µ%-]*", unquoted)
    unknown = [w for w in dict.fromkeys(words) if w not in names and w.split(".")[0] not in names
               and w not in UNITS and w not in ("and", "or", "not", "in")]
    text = f"none of the {len(every)} logged {noun} matches --where {where!r}."
    if unknown:
        text += (" Not a name here, so compared as text: " + ", ".join(map(repr, unknown))
                 + f". Names here: {known_names(every)}.")
    from expctl.ui.report import inert

    print(inert(text), file=sys.stderr)


def _console() -> Any:
    """The CLI's console: terminal width, ``COLUMNS`` when piped, else unwrapped."""
    from expctl.ui.output import console

    return console()  # (emoji off there: ":x:" in a label or file is text, not a picture)


def _configure_show(p: argparse.ArgumentParser) -> None:
    p.add_argument("run", type=int, nargs="?", help="run number")
    p.add_argument("--scan", type=int, metavar="N", help="show scan N instead of a run")
    p.add_argument("--json", action="store_true", help="catalog row and file summary as JSON")
    p.add_argument("--data-dir", metavar="DIR", help=DATA_DIR_HELP)


def _run_show(args: argparse.Namespace) -> int:
    from expctl.errors import UserError
    from expctl.runlog import run_summary

    if args.scan is not None:
        return _show_scan(args)
    if args.run is None:
        raise UserError("show: give a run number, or --scan N",
                        hint="`expctl runs` lists the runs, `expctl runs --scans` the scans.")
    with open_catalog(resolve_data_dir(args.data_dir)) as catalog:
        row = catalog_row(catalog, args.run).as_dict()
        path = catalog.verified_file(args.run) if row["file"] else None
    summary = run_summary(path) if path is not None else None
    if args.json:
        json.dump(_jsonable({"catalog": row, "file": summary}), sys.stdout, indent=1,
                  default=str)
        sys.stdout.write("\n")
        return 0
    console = _console()
    console.print(_key_table(f"run {args.run}", _show_items(row)))
    _print_comments(console, resolve_data_dir(args.data_dir), args.run)
    if summary is None:
        console.print("no run file")
        return 0
    from rich.table import Table

    data = Table(title="per-shot datasets", title_justify="left", box=None)
    for col in ("name", "shape", "dtype"):
        data.add_column(col)
    for name, info in summary["datasets"].items():
        data.add_row(*_cells(name, "×".join(map(str, info["shape"])), info["dtype"]))
    console.print(data)
    for section in ("UserDataCfg", "epicsOnce", "Sums"):
        if summary[section]:
            console.print(_key_table(section, _flat(summary[section])))
    return 0


def _print_comments(console: Any, data_dir: Path, run: int) -> None:
    from expctl.runlog.logbook import read_logbook

    comments = list(read_logbook(data_dir, run=run))
    if comments:
        from expctl.ui.scantable import comment_table

        console.print(comment_table(comments))


def _show_scan(args: argparse.Namespace) -> int:
    from expctl.errors import DataError, UserError
    from expctl.runlog.scans import read_scan_columns
    from expctl.ui.scantable import scan_items

    data_dir = resolve_data_dir(args.data_dir)
    with open_catalog(data_dir) as catalog:
        try:
            row = catalog.scan(args.scan)
        except DataError as err:
            raise UserError(err.message, allowed=err.allowed,
                            hint="`expctl runs --scans` lists the scans.") from None
    columns = None
    path = data_dir / row["file"] if row.get("file") else None
    if path is not None and path.exists() and row.get("kind", "alignment") != "alignment":
        scan = read_scan_columns(path)
        columns = {"units": dict(scan.units),
                   "columns": {k: v.tolist() for k, v in scan.columns.items()}}
    if args.json:
        json.dump(_jsonable({"catalog": row, "data": columns}), sys.stdout, indent=1,
                  default=str)
        sys.stdout.write("\n")
        return 0
    _console().print(_key_table(f"scan {args.scan}", scan_items(row, columns)))
    return 0


def _show_items(row: dict[str, Any]) -> list[tuple[str, str]]:
    """The catalog row for people: local times, run length, status in words, where in the
    sequence (1-based, with loop values), logged values with their units."""
    from expctl.ui.location import path_location

    loop = row.get("loop") or {}
    items: list[tuple[str, str]] = []
    for key, value in row.items():
        if key in ("loop", "params", "scan") and isinstance(value, dict):
            items.append((key, _context_text(value, _units_of(row, key))))
        elif key == "step_path" and value:
            items += [(key, str(value)),
                      ("location", path_location(str(value), loop, _units_of(row, "loop")))]
        elif key in ("start_time", "stop_time"):
            items.append((key, local_time(value)))
            if key == "stop_time" and isinstance(value, (int, float)) \
                    and isinstance(row.get("start_time"), (int, float)):
                items.append(("duration", f"{value - row['start_time']:.3f} s"))
        elif key == "status" and value in _STATUS:
            items.append((key, f"{value} ({_STATUS[value]})"))
        else:
            items.append((key, _value_text(value)))
    return items


def _context_text(values: dict[str, Any], units: dict[str, str]) -> str:
    """Logged context values for people: ``delay = 0.5 ps, spot = 0`` (loop indices left
    out; a unit where the catalog records one)."""
    return ", ".join(f"{name} = {_value_text(value)}{' ' + units[name] if units.get(name) else ''}"
                     for name, value in values.items() if not name.startswith("i_"))


def _units_of(row: dict[str, Any], section: str) -> dict[str, str]:
    """``{name: unit}`` of one context section, from the catalog's ``units`` column
    (``{"scan.delay": "ps"}``) where the catalog records one."""
    units = row.get("units")
    if not isinstance(units, dict):
        return {}
    return {key.split(".", 1)[1]: unit for key, unit in units.items()
            if key.startswith(section + ".") and isinstance(unit, str)}


def _flat(tree: dict[str, Any], prefix: str = "") -> list[tuple[str, str]]:
    """Nested sections as ``a.b.c  value`` lines (8 significant digits, as motors need)."""
    items: list[tuple[str, str]] = []
    for key, value in tree.items():
        if isinstance(value, dict) and value:
            items += _flat(value, f"{prefix}{key}.")
        else:
            items.append((f"{prefix}{key}", _value_text(value)))
    return items


def _value_text(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.8g}"
    if isinstance(value, list):
        return "[" + ", ".join(_value_text(v) for v in value) + "]"
    if isinstance(value, dict):
        return json.dumps(value, default=str)
    return "" if value is None else str(value)


def _key_table(title: str, items: list[tuple[str, str]]) -> Any:
    from rich.table import Table

    table = Table(title=title, title_justify="left", title_style="bold", box=None,
                  show_header=False)
    table.add_column(no_wrap=True, style="dim")
    table.add_column(overflow="fold")
    for key, text in items:
        table.add_row(*_cells(key, text))
    return table


COMMAND = Command(name="runs", help="list logged runs from the catalog",
                  configure=_configure_runs, run=_run_runs)
SHOW_COMMAND = Command(name="show", help="show one run: catalog row and run-file contents",
                       configure=_configure_show, run=_run_show)
COMMANDS = (COMMAND, SHOW_COMMAND)
