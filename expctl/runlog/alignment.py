"""Alignment scans are produced data too: every rocking curve / scan is logged.

An ``AnalysisDone`` whose inputs carry scan points (``axis``, ``x``, ``y``,
optional ``i0``) becomes a small HDF5 file under ``alignment/`` and a catalog
row (points, fit and its flags); the decision that follows it
(``<name>_align``: the move it caused, or why it stayed) is added to both; a
YAML sequence instead moves in its next step (``move: {theta: ${rock.center}}``),
whose title names the axis and the result field, and that is recorded.  A
PNG of the curve and fitted peak is drawn by an injected ``plotter`` (the PNG
code lives in ``expctl.ui``, a layer above this one), once the decision is
known or the next unrelated event arrives.  A plotter may draw at once or hand
back a future (``expctl.ui.plotworker`` draws in another process): its row gets
the PNG when the future is done, and its failure is raised from the next event.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Callable, Mapping
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from expctl.engine.events import AnalysisDone, RunStarted, StepStarted
from expctl.errors import DataError, ExpctlError
from expctl.paths import alignment_dir
from expctl.runlog import fileimage, h5build
from expctl.runlog.catalog import Catalog
from expctl.runlog.h5build import set_attrs
from expctl.runlog.h5util import json_attr

__all__ = ["AlignmentLogger", "AlignmentScan", "read_alignment"]


@dataclass(frozen=True, slots=True)
class AlignmentScan:
    """One logged scan, as the PNG plotter and ``expctl show`` see it."""

    id: int
    name: str
    axis: str
    x: np.ndarray
    y: np.ndarray
    i0: np.ndarray | None
    result: Mapping[str, Any]
    moved_to: Mapping[str, Any] | None
    signal: str = ""
    step_path: str = ""
    #: the scan's file (a background plotter reads the scan back from it)
    file: Path | None = None

    @property
    def normalized(self) -> np.ndarray:
        """y / I0 when I0 was read (what the peak finder fitted), else y."""
        if self.i0 is None:
            return self.y
        with np.errstate(divide="ignore", invalid="ignore"):
            return self.y / self.i0


def _result_dict(result: Any) -> dict[str, Any]:
    if hasattr(result, "as_dict"):
        out = dict(result.as_dict())
    elif dataclasses.is_dataclass(result) and not isinstance(result, type):
        out = dataclasses.asdict(result)
    elif isinstance(result, Mapping):
        out = dict(result)
    else:
        out = {"value": result}
    return {k: (sorted(v) if isinstance(v, (set, frozenset)) else v) for k, v in out.items()}


def _is_scan(event: AnalysisDone) -> bool:
    """An analysis of scan points not already kept as a scan record (see scans.py)."""
    inputs = event.inputs
    return "x" in inputs and "y" in inputs and "axis" in inputs and "scan" not in inputs


def _is_decision(result: Any) -> bool:
    return all(hasattr(result, a) for a in ("axis", "moved", "target", "reason"))


class AlignmentLogger:
    """Engine-event subscriber logging alignment scans to files and the catalog.

    Args:
        data_dir: the data directory (files under ``alignment/``).
        catalog: where the rows go.
        plotter: ``plotter(scan, png_path)`` draws the PNG, or returns a future of it;
            None draws none.
    """

    def __init__(self, data_dir: Path, catalog: Catalog,
                 plotter: Callable[[AlignmentScan, Path], Any] | None = None) -> None:
        self.dir = alignment_dir(Path(data_dir))
        self.catalog = catalog
        self.plotter = plotter
        self._pending: AlignmentScan | None = None
        #: the pending scan's file, in memory until its decision (written whole each time)
        self._memory: Any = None
        self.logged: list[int] = []
        #: PNGs being drawn elsewhere: (scan id, path, future)
        self._drawing: list[tuple[int, Path, Future[Any]]] = []
        #: plot failures not yet raised (one is raised per event)
        self._failed: list[BaseException] = []

    def __call__(self, event: Any) -> None:
        self._handle(event)
        if self._drawing or self._failed:
            self._collect()

    def _handle(self, event: Any) -> None:
        pending = self._pending
        if isinstance(event, AnalysisDone) and _is_scan(event):
            self.flush()
            self._pending = self._log_scan(event)
        elif pending is None:
            return
        elif (isinstance(event, AnalysisDone) and event.name == f"{pending.name}_align"
              and _is_decision(event.result)):
            d = event.result
            self._log_decision({"axis": d.axis, "moved": bool(d.moved),
                                "target": float(d.target), "reason": str(d.reason)})
            self.flush()
        elif isinstance(event, StepStarted):
            # steps in between (an `if` that may rescan, a next_spot) keep the scan
            # waiting; the move that uses its result, or the next scan or run, ends it
            moved = _move_in_step(event.label, pending)
            if moved is not None:
                self._log_decision(moved)
                self.flush()
        elif isinstance(event, (AnalysisDone, RunStarted)):
            self.flush()

    def flush(self) -> None:
        """Draw the PNG of the scan waiting for its decision (if a plotter is set)."""
        scan, self._pending = self._pending, None
        self._close_memory()
        if scan is None or self.plotter is None:
            return
        png = self._file(scan.id, ".png")
        drawing = self.plotter(scan, png)
        if isinstance(drawing, Future):
            self._drawing.append((scan.id, png, drawing))
        else:
            self.catalog.update_alignment(scan.id, {"png": self.catalog.relative(png)})

    def _collect(self) -> None:
        """Record the PNGs drawn elsewhere since the last event; raise one failure."""
        still = []
        for scan_id, png, future in self._drawing:
            if not future.done():
                still.append((scan_id, png, future))
            elif (exc := future.exception()) is not None:
                self._failed.append(exc)
            else:
                self.catalog.update_alignment(scan_id, {"png": self.catalog.relative(png)})
        self._drawing = still
        if self._failed:
            raise self._failed.pop(0)

    def finish(self, wait: Callable[[], None] | None = None) -> list[str]:
        """Draw the scan still waiting, let ``wait()`` block until the plotter is done, and
        record its PNGs; the failures not reported yet, as text."""
        self.flush()
        if wait is not None:
            wait()
        for _, _, future in self._drawing:
            future.exception()  # blocks until that one is done (without a ``wait``)
        unreported: list[str] = []
        while self._drawing or self._failed:
            try:
                self._collect()
            except Exception as exc:
                unreported.append(exc.paragraph() if isinstance(exc, ExpctlError)
                                  else f"{type(exc).__name__}: {exc}")
        return unreported

    def _file(self, scan_id: int, suffix: str) -> Path:
        return self.dir / f"scan{scan_id:06d}{suffix}"

    def _log_scan(self, event: AnalysisDone) -> AlignmentScan:

        inputs = event.inputs
        x = np.asarray(inputs["x"], dtype=np.float64)
        y = np.asarray(inputs["y"], dtype=np.float64)
        i0 = None if inputs.get("i0") is None else np.asarray(inputs["i0"], dtype=np.float64)
        result = _result_dict(event.result)
        ctx = event.context
        scan_id = self.catalog.add_alignment({
            "name": event.name, "time": event.time, "sequence": ctx.sequence,
            "step_path": ctx.step_path, "axis": str(inputs["axis"]), "points": len(x),
            "center": finite_or_none(result.get("center")),
            "fwhm": finite_or_none(result.get("fwhm")),
            "flags": list(result.get("flags", [])), "result": result,
        })
        path = self._file(scan_id, ".h5")
        path.parent.mkdir(parents=True, exist_ok=True)
        memory = fileimage.memory_file(path)
        try:
            _write_scan(memory.id, event, x, y, i0, result)
            fileimage.replace_whole(path, fileimage.image(memory))
        except BaseException:
            memory.close()
            raise
        self._close_memory()
        self._memory = memory  # (until its decision, written into it: see _log_decision)
        self.catalog.update_alignment(scan_id, {"file": self.catalog.relative(path)})
        self.logged.append(scan_id)
        return AlignmentScan(id=scan_id, name=event.name, axis=str(inputs["axis"]), x=x, y=y,
                             i0=i0, result=result, moved_to=None,
                             signal=str(inputs.get("signal", "")), step_path=ctx.step_path,
                             file=path)

    def _log_decision(self, moved: dict[str, Any]) -> None:
        scan = self._pending
        if scan is None:
            return
        self.catalog.update_alignment(scan.id, {"moved_to": moved})
        memory = self._memory
        if memory is None:  # (kept from its scan: nothing else writes it)
            raise DataError(f"alignment scan {scan.id}'s file is no longer in memory")
        set_attrs(memory.id, {"moved_to": json_attr(moved)})
        fileimage.replace_whole(self._file(scan.id, ".h5"), fileimage.image(memory))
        self._pending = dataclasses.replace(scan, moved_to=moved)

    def _close_memory(self) -> None:
        if self._memory is not None:
            self._memory.close()
            self._memory = None


def _write_scan(root: Any, event: AnalysisDone, x: np.ndarray, y: np.ndarray,
                i0: np.ndarray | None, result: dict[str, Any]) -> None:
    """An alignment-scan file's contents (NeXus: ``/entry/data`` with position, signal
    and i0), ``moved_to`` still ``null``."""
    inputs, ctx = event.inputs, event.context
    set_attrs(root, {"NX_class": "NXroot", "default": "entry", "name": event.name,
                     "axis": str(inputs["axis"]), "signal": str(inputs.get("signal", "")),
                     "time": event.time, "sequence": ctx.sequence,
                     "step_path": ctx.step_path, "result": json_attr(result),
                     "moved_to": "null"})
    entry = h5build.group(root, "entry")
    set_attrs(entry, {"NX_class": "NXentry", "default": "data"})
    data = h5build.group(entry, "data")
    set_attrs(data, {"NX_class": "NXdata", "signal": "signal", "axes": "position",
                     "position_indices": 0})
    values = {"position": x, "signal": y} | ({} if i0 is None else {"i0": i0})
    h5build.write_mapping(data, values, attrs={"position": {"long_name": str(inputs["axis"])}})


def _move_in_step(title: str, scan: AlignmentScan) -> dict[str, Any] | None:
    """The move a step makes with the scan's result, read from its title.

    ``align theta (move theta → ${rock.center})`` moves ``theta`` to the
    scan's fitted ``center``; a title that does not move the scan's axis to
    one of its result fields is not the move the scan caused.
    """
    m = re.search(rf"\bmove (?:by )?(?:[^()]*?, )?{re.escape(scan.axis)} → "
                  rf"\$\{{\s*{re.escape(scan.name)}\.(\w+)\s*\}}", title)
    if m is None:
        return None
    target = finite_or_none(scan.result.get(m.group(1)))
    said = re.sub(r"\$\{\s*([^}]*?)\s*\}", r"\1", title)  # what ${rock.center} named
    return {"axis": scan.axis, "moved": target is not None,
            "target": math.nan if target is None else target,
            "reason": f"step '{said}'" + ("" if target is not None
                                          else f": {m.group(1)} is not a finite number")}


def finite_or_none(value: Any) -> float | None:
    """``value`` as a finite float, or None (NaN, infinite, not a number)."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


def read_alignment(path: Path) -> AlignmentScan:
    """Load a logged scan file back (for ``expctl show`` and re-plotting)."""
    import json

    import h5py

    with h5py.File(path, "r") as f:
        data = f["entry/data"]
        return AlignmentScan(
            id=int(Path(path).stem.removeprefix("scan")), name=str(f.attrs["name"]),
            axis=str(f.attrs["axis"]), x=data["position"][()], y=data["signal"][()],
            i0=data["i0"][()] if "i0" in data else None,
            result=json.loads(f.attrs["result"]), moved_to=json.loads(f.attrs["moved_to"]),
            signal=str(f.attrs["signal"]), step_path=str(f.attrs["step_path"]),
            file=Path(path))
