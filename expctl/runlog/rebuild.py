"""``expctl catalog rebuild``: a new catalog from what the run files say about themselves.

Every run file carries its full metadata as root attributes and every alignment
scan file its fit, so a lost or damaged catalog can be recreated.  The new one is
built beside the old (``catalog.sqlite.rebuilding``), then swapped in; the old one
is kept as ``catalog.sqlite.replaced-<time>`` so nothing it knew is lost.  A
catalog another process has open (a running session, ``reduce --follow``) is
not replaced: that process would go on writing into the old one.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from expctl.errors import StorageError, StorageLockedError, storage_error
from expctl.paths import DataDir, prepare_for_writing
from expctl.runlog.alignment import finite_or_none
from expctl.runlog.catalog import Catalog
from expctl.runlog.holders import describe_holders
from expctl.runlog.recovery import register_orphans
from expctl.runlog.scans import scan_row_from_file

__all__ = ["RebuildReport", "rebuild_catalog"]

_SIDECARS = ("", "-wal", "-shm")


@dataclass
class RebuildReport:
    """What a rebuild did: the runs and scans it registered, what the old catalog had."""

    runs: list[int] = field(default_factory=list)
    scans: list[int] = field(default_factory=list)
    old_catalog: Path | None = None
    old_rows: int | None = None
    lost_rows: list[int] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"runs": self.runs, "alignment_scans": self.scans,
                "old_catalog": None if self.old_catalog is None else str(self.old_catalog),
                "old_rows": self.old_rows, "rows_without_file": self.lost_rows,
                "problems": self.problems}


def rebuild_catalog(data_dir: Path) -> RebuildReport:
    """Recreate ``data_dir``'s catalog from its run and alignment files (see the module)."""
    layout = prepare_for_writing(Path(data_dir))
    target = layout.catalog
    holders = describe_holders(*(target.with_name(target.name + s) for s in _SIDECARS))
    if holders:
        raise StorageLockedError(
            f"cannot rebuild the catalog {target}: it is open in {holders}", path=target,
            hint="Stop that process (a running sequence, a shell, reduce --follow) first.")
    report = RebuildReport()
    old_runs = _old_rows(layout, report)
    fresh = target.with_name(target.name + ".rebuilding")
    for suffix in _SIDECARS:
        with contextlib.suppress(FileNotFoundError):
            fresh.with_name(fresh.name + suffix).unlink()
    catalog = Catalog(layout.root, path=fresh)
    try:
        report.runs = register_orphans(catalog)
        report.scans = _register_scans(catalog, layout, report)
    finally:
        catalog.close()
    report.lost_rows = sorted(set(old_runs) - set(report.runs))
    _swap(layout, fresh, report)
    return report


def _old_rows(layout: DataDir, report: RebuildReport) -> list[int]:
    """Run numbers the old catalog lists (none if it is missing or unreadable)."""
    if not layout.catalog.exists():
        return []
    try:
        with Catalog(layout.root, readonly=True) as old:
            runs = [row.run for row in old.rows()]
    except StorageError as exc:
        report.problems.append(f"the old catalog could not be read: {exc.message}")
        return []
    report.old_rows = len(runs)
    return runs


def _swap(layout: DataDir, fresh: Path, report: RebuildReport) -> None:
    """Keep the old catalog under a dated name, then move the new one into place."""
    target = layout.catalog
    stamp = time.strftime("%Y%m%d-%H%M%S")
    try:
        if target.exists():
            kept = target.with_name(f"{target.name}.replaced-{stamp}")
            for suffix in _SIDECARS:
                src = target.with_name(target.name + suffix)
                if src.exists():
                    os.replace(src, kept.with_name(kept.name + suffix))
            report.old_catalog = kept
        os.replace(fresh, target)
    except OSError as exc:
        raise storage_error(exc, "replace the catalog", target) from None


def _register_scans(catalog: Catalog, layout: DataDir, report: RebuildReport) -> list[int]:
    """Alignment-scan rows from ``alignment/scan<N>.h5`` attributes."""
    from expctl.runlog.h5util import open_for_reading, reading

    folder = layout.alignment
    added = []
    for path in sorted(folder.glob("scan*.h5")) if folder.is_dir() else []:
        number = path.stem.removeprefix("scan")
        if not number.isdigit():
            continue
        try:
            with open_for_reading(path) as f, reading(path):
                attrs = dict(f.attrs)
                points = int(f["entry/data/position"].shape[0]) if "entry/data/position" in f \
                    else 0
        except StorageError as exc:
            report.problems.append(f"alignment scan {path.name} not registered: {exc.message}")
            continue
        result = _json(attrs.get("result"), {})
        png = path.with_suffix(".png")
        catalog.add_alignment({
            "id": int(number), "name": str(attrs.get("name", "")),
            "time": float(attrs.get("time", 0.0)), "sequence": str(attrs.get("sequence", "")),
            "step_path": str(attrs.get("step_path", "")), "axis": str(attrs.get("axis", "")),
            "points": points, "center": finite_or_none(result.get("center")),
            "fwhm": finite_or_none(result.get("fwhm")), "flags": list(result.get("flags", [])),
            "moved_to": _json(attrs.get("moved_to"), None), "result": result,
            "file": catalog.relative(path),
            "png": catalog.relative(png) if png.exists() else None}
            | scan_row_from_file(attrs) | _checksum_of(path, attrs))
        added.append(int(number))
    return added


def _checksum_of(path: Path, attrs: Mapping[str, Any]) -> dict[str, Any]:
    """A scan record's checksum (its row keeps one; an alignment scan's does not)."""
    from expctl.runlog.catalog import file_checksum

    return {"checksum": file_checksum(path)} if attrs.get("kind") else {}


def _json(value: Any, default: Any) -> Any:
    try:
        return json.loads(value)
    except (TypeError, ValueError):
        return default

