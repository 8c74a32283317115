"""Scans and the logbook as tables (``expctl runs --scans``, ``--comments``, ``show --scan``).

Values carry their units (the scanned axis' unit is kept with each scan
record); labels typed by people are shown as text, never interpreted as markup.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from expctl.ui.scanview import number_text, quantity_text

__all__ = ["comment_table", "scan_items", "scan_table"]


def _points(row: Mapping[str, Any]) -> str:
    planned = row.get("planned")
    taken = row.get("points") or 0
    return f"{taken}/{planned}" if planned and planned != taken else str(taken)


def _moved(row: Mapping[str, Any]) -> str:
    moved = row.get("moved_to") or {}
    if not moved:
        return ""
    target = quantity_text(float(moved.get("target", math.nan)), row.get("unit") or "")
    return f"→ {target}" if moved.get("moved") else "stayed"


def scan_table(rows: Sequence[Mapping[str, Any]]) -> Any:
    """Every logged scan: console scan records and sequences' alignment scans, one line each."""
    from rich.table import Table

    n = len(rows)
    table = Table(title=f"{n} scan{'s' if n != 1 else ''}", box=None, title_justify="left")
    for key in ("scan", "kind", "axis", "points", "outcome", "center", "fwhm", "flags",
                "moved"):
        table.add_column(key, no_wrap=key != "flags",
                         justify="right" if key in ("scan", "points") else "left")
    for row in rows:
        unit = row.get("unit") or ""
        table.add_row(str(row["id"]), row.get("kind") or row.get("name") or "",
                      row.get("axis") or "", _points(row), row.get("outcome") or "completed",
                      "" if row.get("center") is None else quantity_text(row["center"], unit),
                      "" if row.get("fwhm") is None else quantity_text(row["fwhm"], unit, 3),
                      ", ".join(row.get("flags") or []) or "ok", _moved(row))
    return table


def scan_items(row: Mapping[str, Any], columns: Mapping[str, Any] | None
               ) -> list[tuple[str, str]]:
    """``show --scan N``: the record in words (units on every number)."""
    unit = row.get("unit") or ""
    items = [("scan", str(row["id"])), ("kind", str(row.get("kind") or row.get("name"))),
             ("command", str(row.get("command") or "")),
             ("axes", ", ".join(row.get("axes") or [row.get("axis") or ""])),
             ("points", _points(row)), ("outcome", str(row.get("outcome") or "completed")),
             ("signal", str(row.get("signal") or "")), ("sequence", str(row.get("sequence") or "")),
             ("step", str(row.get("step_path") or "")), ("file", str(row.get("file") or "")),
             ("checksum", str(row.get("checksum") or ""))]
    result = row.get("result") or {}
    for key, label in (("cen", "cen"), ("com", "com"), ("fwhm", "fwhm"), ("max_x", "max at")):
        if isinstance(result.get(key), int | float):
            items.append((label, quantity_text(result[key], unit)))
    if isinstance(result.get("max_y"), int | float):
        items.append(("max", number_text(result["max_y"])))
    fit = result.get("fit") or ({} if "cen" in result else result)
    if isinstance(fit.get("center"), int | float):
        err = fit.get("center_err")
        items.append(("fit centre", f"{number_text(fit['center'], 8)} ± "
                      f"{quantity_text(err, unit, 2)}" if isinstance(err, int | float)
                      else quantity_text(fit["center"], unit, 8)))
    items.append(("flags", ", ".join(row.get("flags") or []) or "none"))
    if _moved(row):
        items.append(("moved", f"{_moved(row)} ({(row.get('moved_to') or {}).get('reason')})"))
    if columns:
        units = columns.get("units", {})
        for name, values in columns.get("columns", {}).items():
            u = units.get(name, "")
            items.append((f"column {name}", f"{len(values)} values"
                          + (f", {u}" if u else "")))
    return [(key, text) for key, text in items if text]  # a console scan has no step


def comment_table(rows: Sequence[Mapping[str, Any]]) -> Any:
    """The logbook: when, what, and the run, scan and step it was filed with."""
    from datetime import datetime

    from rich.table import Table
    from rich.text import Text

    n = len(rows)
    table = Table(title=f"{n} comment{'s' if n != 1 else ''}", box=None, title_justify="left")
    for key in ("time", "run", "scan", "step", "comment"):
        table.add_column(key, no_wrap=key != "comment", overflow="fold")
    for row in rows:
        stamp = datetime.fromtimestamp(row["wall_time"]).strftime("%m-%d %H:%M:%S")
        run = "" if row.get("run") is None else (
            f"{row['run']}{' (running)' if row.get('run_running') else ''}")
        table.add_row(stamp, run, "" if row.get("scan") is None else str(row["scan"]),
                      Text(row.get("step_path") or ""), Text(row["text"]))
    return table
