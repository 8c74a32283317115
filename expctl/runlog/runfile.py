"""The layout of a run file: what goes where, from the engine's events.

LCLS smalldata conventions (per-shot datasets whose first dimension is the number of
shots, ``UserDataCfg/``, ``Sums/``, ``epicsOnce/``, ``fiducials``, packed ``event_time``,
``damage/``, conventional monitor names; :mod:`expctl.runlog.smalldata`,
docs/runfiles.md), run metadata as root attributes, a ``units`` attribute on every
dataset whose unit is known, and a NeXus ``/entry`` (NXentry/NXdata, hard links to the
per-shot datasets) so NeXus viewers open it.  How and when the file reaches the disk is
:mod:`expctl.runlog.writer`'s.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from expctl import __version__
from expctl.engine.events import RunStarted, RunStopped, ShotBlockTaken
from expctl.errors import DataError
from expctl.runlog import h5build
from expctl.runlog.columns import create_columns
from expctl.runlog.h5build import set_attrs, write_mapping
from expctl.runlog.h5util import iso_time, json_attr
from expctl.runlog.skeletons import Skeletons, frozen
from expctl.runlog.smalldata import (
    SmallDataConfig,
    additive,
    damage,
    pack_event_time,
)
from expctl.units import logged

if TYPE_CHECKING:
    import h5py

    from expctl.devices.protocols import RunRecord, ShotBlock
    from expctl.engine.events import RunContext

__all__ = ["FILE_FORMAT", "OpenRun", "append_block", "run_attributes", "write_start",
           "write_stop"]

#: Written to the ``file_format`` root attribute; readers check the prefix.
FILE_FORMAT = "expctl-smalldata/2"


def run_attributes(record: RunRecord, context: RunContext) -> dict[str, Any]:
    """Root attributes describing a run: facility identity plus why it was taken."""
    stop = _known_at_stop(record)
    return {
        "run": record.run,
        "beamline": record.beamline,
        "hightag": record.hightag,
        "start_tag": record.start_tag,
        "end_tag": stop["end_tag"],
        "start_time": record.start_time,
        "stop_time": stop["stop_time"],
        "status": stop["status"],
        "label": context.label or record.label,
        "comment": stop["comment"],
        "runtype": record.runtype,
        "detectors": json_attr(list(record.detectors)),
        "sequence": context.sequence,
        "sequence_file": context.sequence_file,
        "step_path": context.step_path,
        "loop": json_attr(dict(context.loop)),
        "params": json_attr(dict(context.params)),
        "scan": json_attr(dict(context.scan)),
        "scan_step": -1 if context.scan_step is None else context.scan_step,
        "units": json_attr(dict(context.units)),
        "sample_spot": json_attr(None if context.sample_spot is None
                                 else dict(context.sample_spot)),
    }


def _known_at_stop(record: RunRecord) -> dict[str, Any]:
    """The root attributes known for sure only at the stop: the start writes them too
    (-1, NaN, the running status and the start's comment) and the stop writes them again."""
    return {
        "end_tag": -1 if record.end_tag is None else record.end_tag,
        "stop_time": np.nan if record.stop_time is None else record.stop_time,
        "status": record.status,
        "comment": record.comment,
    }


@dataclass
class OpenRun:
    """Book-keeping of one run being written."""

    path: Path
    file: h5py.File | None  # in memory until it streams; then open (SWMR) until the stop
    context: RunContext
    smalldata: SmallDataConfig
    started: float  # time.monotonic() at the start: how long it has been in memory
    in_memory: bool = True
    #: per-shot datasets by column (h5py's low-level ids: :mod:`expctl.runlog.h5build`)
    datasets: dict[str, h5build.Column] = field(default_factory=dict)
    shots: int = 0
    sums: dict[str, np.ndarray] = field(default_factory=dict)  # full frames, per detector
    sum_shots: int = 0
    column_sums: dict[str, float] = field(default_factory=dict)  # additive reductions
    units: dict[str, str] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    #: trees this run's writer built before, copied instead of built again
    skeletons: Skeletons | None = None
    #: 1-D columns of the blocks not yet written (a run in memory): one write per column
    #: when it streams or stops instead of one per block (:func:`write_pending`)
    pending: list[tuple[dict[str, np.ndarray | None], int]] = field(default_factory=list)


def write_start(f: h5py.File, event: RunStarted, smalldata: SmallDataConfig,
                skeletons: Skeletons | None = None) -> None:
    """Everything known when the run starts: attributes, configuration, snapshot, NeXus
    (the configuration copied from ``skeletons`` when an earlier run had the same)."""

    record = event.record
    root = f.id
    set_attrs(root, run_attributes(record, event.context))
    set_attrs(root, {
        "outcome": "running",
        "file_format": FILE_FORMAT,
        "creator": f"expctl {__version__}",
        "NX_class": "NXroot",
        "default": "entry",
        "problems": "[]",
    })
    config = {**smalldata.user_config, **event.config}
    if skeletons is None:
        write_mapping(h5build.group(root, "UserDataCfg"), config)
    else:
        skeletons.group(root, "UserDataCfg", frozen(config),
                        lambda group: write_mapping(group, config))
    _write_snapshot(h5build.group(root, "epicsOnce"), event.snapshot, smalldata.device_units)
    entry = h5build.group(root, "entry")
    set_attrs(entry, {"NX_class": "NXentry"})
    write_mapping(entry, {"title": _title(record, event.context),
                          "entry_identifier": str(record.run),
                          "start_time": iso_time(record.start_time)})


def _write_snapshot(group: h5py.h5g.GroupID, snapshot: Mapping[str, Any],
                    device_units: Mapping[str, str]) -> None:
    """Device values at the start (``epicsOnce/``), numbers in their log units."""
    values: dict[str, Any] = {}
    units: dict[str, dict[str, str]] = {}
    for name, value in snapshot.items():
        values[name], unit = logged(value, device_units.get(name, ""))
        if unit:
            units[name] = {"units": unit}
    write_mapping(group, values, attrs=units)


def append_block(state: OpenRun, f: h5py.File, event: ShotBlockTaken) -> None:
    """Write one block's columns (creating the datasets with the first) and flush."""
    block = event.block
    n = len(block)
    columns = _columns(block, event.context, n)
    if not state.datasets:
        state.units = _units(block, event.context)
        state.datasets = create_columns(f.id, columns, state.units,
                                        {"fiducials": "tag", **state.smalldata.aliases},
                                        state.skeletons)
        if not state.in_memory:
            f.swmr_mode = True
    for key in columns.keys() - state.datasets.keys():
        state.problems.append(f"{key!r} first appeared after shot {state.shots}; not logged")
    deferred: dict[str, np.ndarray | None] = {}
    for key, ds in state.datasets.items():
        values = columns.get(key)
        if state.in_memory and ds.dtype.kind != "O" and not ds.rest:
            deferred[key] = None if values is None else np.array(values, copy=True)
        else:
            h5build.append(ds, state.shots, values, n)
        if values is None and n:
            state.problems.append(f"{key!r} missing for shots {state.shots}..{state.shots + n}")
    if deferred:
        state.pending.append((deferred, n))
    state.shots += n
    for key, values in columns.items():
        if additive(key):
            state.column_sums[key] = state.column_sums.get(key, 0.0) + float(np.nansum(values))
    for det, image in block.sums.items():
        acc = state.sums.get(det)
        state.sums[det] = np.array(image, dtype=np.float64) if acc is None else acc + image
    if block.sums:
        state.sum_shots += n
    if not state.in_memory:  # (readers and crash recovery see it)
        f.flush()


def write_pending(state: OpenRun) -> None:
    """Write the 1-D columns of the blocks kept back while the run was in memory, each
    column's blocks joined into one write where they share a dtype (HDF5 converts each
    write to the column's type, so joining arrays of one dtype changes no value)."""
    start = state.shots - sum(n for _, n in state.pending)
    for key, col in state.datasets.items():
        parts = [(columns[key], n) for columns, n in state.pending if key in columns]
        arrays = [values for values, _ in parts if values is not None]
        if 1 < len(parts) == len(arrays) and len({a.dtype for a in arrays}) == 1:
            parts = [(np.concatenate(arrays), sum(n for _, n in parts))]
        at = start
        for values, n in parts:
            h5build.append(col, at, values, n)
            at += n
    state.pending.clear()


def write_stop(f: h5py.File, state: OpenRun, event: RunStopped) -> None:
    """The final attributes, ``Sums/`` and NeXus ``end_time`` (what SWMR mode forbade)."""
    from h5py import h5g

    write_pending(state)
    record = event.record
    root = f.id
    set_attrs(root, _known_at_stop(record))
    set_attrs(root, {"shots": state.shots, "outcome": event.outcome,
                     "problems": json_attr(state.problems)})
    _write_sums(root, state)
    for det, image in state.sums.items():
        ds = f["Sums"].create_dataset(f"{det.replace('/', '_')}_raw", data=image,
                                      compression="gzip", compression_opts=1, shuffle=True)
        ds.attrs.update({"units": "ADU", "sum_of": "full frames (raw)",
                         "shots": state.sum_shots})
    write_mapping(h5g.open(root, b"entry"), {"end_time": iso_time(record.stop_time)})


def _write_sums(root: h5py.h5g.GroupID, state: OpenRun) -> None:
    """``Sums/``: the run's sum of each additive column, with its unit and shot count (the
    group copied from the writer's skeletons when a run had the same columns and shots)."""
    totals = {key.replace("/", "_"): total for key, total in state.column_sums.items()}
    attrs = {key.replace("/", "_"): {"units": state.units.get(key, ""), "sum_of": f"/{key}",
                                     "shots": state.shots}
             for key in state.column_sums}

    def build(group: h5py.h5g.GroupID) -> None:
        set_attrs(group, {"shots": state.shots})
        write_mapping(group, totals, attrs=attrs)

    if state.skeletons is None:
        build(h5build.group(root, "Sums"))
    else:  # (the key: everything but the totals, which are written over the copy)
        state.skeletons.group(root, "Sums", frozen((state.shots, attrs)), build,
                              lambda group: h5build.overwrite(group, totals))


def _title(record: RunRecord, context: RunContext) -> str:
    parts = [f"run {record.run}", context.label or record.label, context.sequence,
             context.step_path]
    return " · ".join(p for p in parts if p)


def _columns(block: ShotBlock, context: RunContext, n: int) -> dict[str, np.ndarray]:
    """Per-shot arrays of a block in the file's conventions, lengths checked: the DAQ's
    columns (``event_time`` packed), ``scan/<var>``, ``scan/varStep``, ``damage/<det>``."""
    columns: dict[str, np.ndarray] = {}
    for key, values in block.data.items():
        arr = np.asarray(values)
        if arr.ndim == 0 or arr.shape[0] != n:
            raise DataError(f"per-shot data {key!r} of run {block.run} has "
                            f"{arr.shape[0] if arr.ndim else 0} entries for {n} shots",
                            hint="every per-shot array must have one entry per tag")
        columns[key] = arr.astype(np.uint8) if arr.dtype.kind == "b" else arr
    if "event_time" in columns and columns["event_time"].dtype.kind == "f":
        columns["event_time"] = pack_event_time(columns["event_time"])
    for var, value in context.scan.items():
        columns.setdefault(f"scan/{var}", np.full(n, float(value)))
    columns.setdefault("scan/varStep", np.full(n, context.scan_step or 0, dtype=np.int64))
    for key, values in damage(block.data, n).items():
        columns.setdefault(key, values)
    for det, frames in block.frames.items():
        arr = np.asarray(frames)
        if arr.shape[0] != n:
            raise DataError(f"full frames of {det!r} in run {block.run}: {arr.shape[0]} "
                            f"frames for {n} shots")
        columns[f"{det}/frames"] = arr
    return columns


def _units(block: ShotBlock, context: RunContext) -> dict[str, str]:
    """The unit of each column: the DAQ's, the context's for scan variables."""
    units = {k: u for k, u in block.units.items() if k != "event_time"}
    units |= {f"scan/{var}": context.units.get(f"scan.{var}", "") for var in context.scan}
    units |= {f"{det}/frames": "ADU" for det in block.frames}
    return units
