"""Scan records: every recorded scan (console ``ascan``, ``dscan``, ``mesh``, ``rock`` …) is
a numbered catalog row and a small HDF5 file, written point by point as the engine reports.

The number is reserved first (:meth:`ScanLogger.reserve`, the engine's scan
numbering: a row ``opening``), so the number a display prints is the record's.
Then, from the engine's events:

* ``ScanOpened``: the row says what was asked (kind, command, axes, planned
  points) and the file ``alignment/scan<N>.h5`` is created;
* ``ScanPointTaken``: one more row in every column of the file, flushed, so a
  crash keeps the points taken;
* ``ScanClosed``: the outcome (``completed``, or ``stopped``/``aborted``/``failed``
  with the partial data kept), the peak statistics of the scan's signal
  (:func:`~expctl.analysis.scanstats.scan_stats`) and the file's checksum;
* an ``AnalysisDone`` decision naming the scan (the move ``rock``, ``cen`` or
  ``peak`` made with it): ``moved_to``.

The file is a superset of an alignment-scan file (``entry/data/position``,
``signal``, ``i0`` are hard links to the columns they are), so one reader
(:func:`~expctl.runlog.alignment.read_alignment`) and one table serve both
(ADR 14).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from expctl.engine.events import AnalysisDone, ScanClosed, ScanOpened, ScanPointTaken
from expctl.errors import storage_error
from expctl.paths import DataDir
from expctl.runlog.catalog import Catalog, file_checksum
from expctl.runlog.h5util import json_attr

__all__ = ["ScanColumns", "ScanLogger", "read_scan_columns", "scan_file", "scan_row_from_file"]

#: outcomes of a scan row that no live process is writing any more
_LIVE = ("opening", "running")


def scan_file(data_dir: Path, number: int) -> Path:
    """Where scan ``number``'s HDF5 file lives: ``alignment/scan<NNNNNN>.h5``."""
    return DataDir(data_dir).scan_file(number)


@dataclass
class _Open:
    """A scan being written."""

    opened: ScanOpened
    file: Any  # h5py.File
    columns: dict[str, Any] = field(default_factory=dict)
    points: int = 0


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float | np.number) and not isinstance(value, bool)


def _signal_label(signal: str | None, i0: str | None) -> str:
    if not signal:
        return ""
    return f"{signal}/{i0}" if i0 else signal


class ScanLogger:
    """Engine-event subscriber writing scan records (catalog rows and files).

    Args:
        data_dir: the data directory.
        catalog: where the rows go.
    """

    def __init__(self, data_dir: Path, catalog: Catalog) -> None:
        self.data_dir = Path(data_dir)
        self.catalog = catalog
        self._open: dict[int, _Open] = {}
        self._reserved: set[int] = set()
        self.logged: list[int] = []

    def reserve(self) -> int:
        """A new scan number: a catalog row ``opening`` (the engine's scan numbering)."""
        number = self.catalog.add_alignment({"name": "", "time": 0.0, "kind": "scan",
                                             "outcome": "opening"})
        self._reserved.add(number)
        return number

    def __call__(self, event: Any) -> None:
        try:
            if isinstance(event, ScanPointTaken):
                self._point(event)
            elif isinstance(event, ScanOpened):
                self._opened(event)
            elif isinstance(event, ScanClosed):
                self._closed(event)
            elif isinstance(event, AnalysisDone) and "scan" in event.inputs:
                self._decision(event)
        except OSError as exc:  # a full disk, a permission: the user's error, named
            number = getattr(event, "number", None) or getattr(event, "inputs", {}).get("scan")
            raise storage_error(exc, f"write scan record {number}") from None

    # -- events ---------------------------------------------------------------------------
    def _opened(self, ev: ScanOpened) -> None:
        import h5py

        if ev.number not in self._reserved:  # numbered by someone else: not ours to write
            return
        ctx = ev.context
        path = DataDir(self.data_dir).guard_write(scan_file(self.data_dir, ev.number))
        path.parent.mkdir(parents=True, exist_ok=True)
        f = h5py.File(path, "w")
        f.attrs.update({
            "NX_class": "NXroot", "default": "entry", "name": ev.kind, "kind": ev.kind,
            "axis": ev.axes[0] if ev.axes else "", "axes": json_attr(list(ev.axes)),
            "signal": _signal_label(ev.signal, ev.i0), "signal_column": ev.signal or "",
            "i0_column": ev.i0 or "", "command": ev.command,
            "time": ev.time, "sequence": ctx.sequence, "step_path": ctx.step_path,
            "planned": ev.points, "shape": json_attr(list(ev.shape)),
            "metadata": json_attr(dict(ev.metadata)), "units": json_attr(dict(ev.units)),
            "outcome": "running", "result": "null", "moved_to": "null"})
        entry = f.create_group("entry")
        entry.attrs.update({"NX_class": "NXentry", "default": "data"})
        data = entry.create_group("data")
        data.attrs.update({"NX_class": "NXdata", "signal": "signal", "axes": "position",
                           "position_indices": 0})
        self._open[ev.number] = _Open(ev, f)
        self.catalog.update_alignment(ev.number, {
            "name": ev.kind, "kind": ev.kind, "time": ev.time, "command": ev.command,
            "axes": list(ev.axes), "axis": ev.axes[0] if ev.axes else "",
            "planned": ev.points, "signal": _signal_label(ev.signal, ev.i0),
            "unit": ev.units.get(ev.axes[0], "") if ev.axes else "", "outcome": "running",
            "sequence": ctx.sequence, "step_path": ctx.step_path,
            "file": self.catalog.relative(path)})

    def _point(self, ev: ScanPointTaken) -> None:
        scan = self._open.get(ev.number)
        if scan is None:
            return
        data = scan.file["entry/data"]
        n = scan.points
        for key, value in ev.values.items():
            if not _is_number(value):
                continue
            column = scan.columns.get(key)
            if column is None:
                column = data.create_dataset(key, shape=(n,), maxshape=(None,),
                                             dtype="f8", chunks=(64,), fillvalue=np.nan)
                unit = scan.opened.units.get(key, "")
                if unit:
                    column.attrs["units"] = unit
                scan.columns[key] = column
                self._link(scan, key)
            column.resize((n + 1,))
            column[n] = float(value)
        for column in scan.columns.values():  # a signal missing at this point: NaN
            if column.shape[0] == n:
                column.resize((n + 1,))
        scan.points = n + 1
        scan.file.flush()

    @staticmethod
    def _link(scan: _Open, key: str) -> None:
        """``position``, ``signal`` and ``i0`` are the NXdata names readers look for."""
        data = scan.file["entry/data"]
        ev = scan.opened
        for alias, name in (("position", ev.axes[0] if ev.axes else None),
                            ("signal", ev.signal), ("i0", ev.i0)):
            if name == key and alias not in data:
                data[alias] = data[key]

    def _closed(self, ev: ScanClosed) -> None:
        scan = self._open.pop(ev.number, None)
        if scan is None:
            return
        opened = scan.opened
        columns = {k: c[()] for k, c in scan.columns.items()}
        stats = _stats(opened, columns)
        values: dict[str, Any] = {"outcome": ev.outcome, "stop_time": ev.time,
                                  "points": scan.points}
        if stats is not None:
            result = stats.as_dict()
            values |= {"center": _finite(stats.peak), "fwhm": _finite(stats.fwhm),
                       "flags": sorted(stats.flags), "result": result}
            scan.file.attrs["result"] = json_attr(result)
        scan.file.attrs["outcome"] = ev.outcome
        scan.file.attrs["stop_time"] = ev.time
        path = Path(scan.file.filename)
        scan.file.close()
        values["checksum"] = file_checksum(path)
        self.catalog.update_alignment(ev.number, values)
        self.logged.append(ev.number)

    def _decision(self, ev: AnalysisDone) -> None:
        """The move a scan caused (``rock``, ``cen``, ``peak``): its ``moved_to``."""
        import h5py

        result = ev.result
        if not all(hasattr(result, a) for a in ("axis", "moved", "target", "reason")):
            return
        number = int(ev.inputs["scan"])
        path = scan_file(self.data_dir, number)
        if number in self._open or not path.exists():
            return
        moved = {"axis": result.axis, "moved": bool(result.moved),
                 "target": float(result.target), "reason": str(result.reason)}
        with h5py.File(path, "r+") as f:
            f.attrs["moved_to"] = json_attr(moved)
        self.catalog.update_alignment(number, {"moved_to": moved,
                                               "checksum": file_checksum(path)})

    # -- housekeeping ---------------------------------------------------------------------
    def recover(self) -> list[int]:
        """Scan rows a crashed session left open become ``incomplete`` (points counted)."""
        recovered = []
        for row in self.catalog.alignments():
            if row.get("outcome") not in _LIVE:
                continue
            number = int(row["id"])
            points = 0
            path = scan_file(self.data_dir, number)
            if path.exists():
                try:
                    points = len(read_scan_columns(path).positions)
                except Exception:  # noqa: BLE001 - unreadable: the row says so
                    points = 0
            self.catalog.update_alignment(number, {"outcome": "incomplete",
                                                   "points": points})
            recovered.append(number)
        return recovered

    def close(self) -> None:
        """Close files of scans still open (their rows stay ``running``: recovered later)."""
        for scan in self._open.values():
            scan.file.close()
        self._open.clear()


def _finite(value: Any) -> float | None:
    try:
        v = float(value)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


def _stats(opened: ScanOpened, columns: Mapping[str, np.ndarray]) -> Any:
    """Peak statistics of the scan's signal along its first axis (None without a signal)."""
    from expctl.analysis import AnalysisError
    from expctl.analysis.scanstats import scan_stats

    if not opened.axes or not opened.signal or opened.signal not in columns \
            or len(opened.shape) > 1:
        return None
    axis = opened.axes[0]
    x = columns.get(axis)
    if x is None:
        return None
    i0 = columns.get(opened.i0) if opened.i0 else None
    try:
        return scan_stats(x, columns[opened.signal], i0=i0, axis=axis,
                          signal=_signal_label(opened.signal, opened.i0))
    except AnalysisError:
        return None


def scan_row_from_file(attrs: Mapping[str, Any]) -> dict[str, Any]:
    """The catalog columns of a scan record, from its file's attributes (``catalog
    rebuild``); empty for an alignment-scan file (no ``kind``).  A file left ``running``
    by a crash is ``incomplete``."""
    import json

    kind = str(attrs.get("kind", ""))
    if not kind:
        return {}
    result = json.loads(attrs.get("result", "null")) or {}
    units = json.loads(attrs.get("units", "{}"))
    axis = str(attrs.get("axis", ""))
    outcome = str(attrs.get("outcome", "incomplete"))
    fit = result.get("fit") or {}
    center = fit.get("center") if fit.get("ok") else result.get("cen")
    return {"kind": kind, "command": str(attrs.get("command", "")),
            "axes": json.loads(attrs.get("axes", "[]")),
            "outcome": "incomplete" if outcome in _LIVE else outcome,
            "planned": int(attrs.get("planned", 0)), "signal": str(attrs.get("signal", "")),
            "unit": str(units.get(axis, "")), "stop_time": attrs.get("stop_time"),
            "center": _finite(center), "fwhm": _finite(result.get("fwhm")),
            "flags": list(result.get("flags", []))}


@dataclass(frozen=True, slots=True)
class ScanColumns:
    """A scan file read back: what was asked, every column, the outcome and statistics."""

    number: int
    kind: str
    command: str
    axes: tuple[str, ...]
    columns: Mapping[str, np.ndarray]
    units: Mapping[str, str]
    signal: str
    signal_column: str
    i0_column: str
    outcome: str
    planned: int
    result: Mapping[str, Any] | None
    moved_to: Mapping[str, Any] | None
    metadata: Mapping[str, Any]
    shape: tuple[int, ...] = ()

    @property
    def positions(self) -> np.ndarray:
        """The first axis' values."""
        return self.columns.get(self.axes[0], np.zeros(0)) if self.axes else np.zeros(0)


def read_scan_columns(path: Path) -> ScanColumns:
    """Load a scan record's file (``show``, ``plot``, ``cen`` after a restart)."""
    import json

    import h5py

    with h5py.File(path, "r") as f:
        data = f["entry/data"]
        aliases = {"position", "signal", "i0"}
        columns = {k: data[k][()] for k in data if k not in aliases}
        a = f.attrs
        return ScanColumns(
            number=int(Path(path).stem.removeprefix("scan")), kind=str(a.get("kind", "")),
            command=str(a.get("command", "")), axes=tuple(json.loads(a.get("axes", "[]"))),
            columns=columns, units=json.loads(a.get("units", "{}")),
            signal=str(a.get("signal", "")), signal_column=str(a.get("signal_column", "")),
            i0_column=str(a.get("i0_column", "")), outcome=str(a.get("outcome", "")),
            planned=int(a.get("planned", 0)), result=json.loads(a.get("result", "null")),
            moved_to=json.loads(a.get("moved_to", "null")),
            metadata=json.loads(a.get("metadata", "{}")),
            shape=tuple(json.loads(a.get("shape", "[]"))))
