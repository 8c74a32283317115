"""The HDF5 run writer: one small-data file per run, written from engine events.

Layout follows the LCLS smalldata convention (per-shot datasets whose first
dimension is the number of shots, ``UserDataCfg/``, ``Sums/``, ``epicsOnce/``)
with run metadata as root attributes and a NeXus ``/entry`` (NXentry/NXdata,
hard links to the per-shot datasets) so NeXus viewers open it.

Crash safety: per-shot datasets are created with the first shot block, then the
file switches to SWMR mode and every block is flushed as it arrives.  A reader
may therefore follow a run while it is taken, and ``kill -9`` leaves the file
readable (SWMR read) up to its last flushed block; :func:`recover_file`
rewrites such a file into an ordinary one marked ``incomplete``.  What SWMR
forbids (new objects, attribute changes) happens once at the stop, after the
SWMR handle is closed: final attributes, ``Sums/`` and NeXus ``end_time``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from expctl import __version__
from expctl.engine.events import RunStarted, RunStopped, ShotBlockTaken
from expctl.errors import DataError
from expctl.runlog.h5util import compression_for, iso_time, json_attr, write_mapping
from expctl.runlog.paths import run_file_path

if TYPE_CHECKING:
    import h5py

    from expctl.devices.protocols import RunRecord, ShotBlock
    from expctl.engine.events import EngineEvent, RunContext

__all__ = ["FILE_FORMAT", "RunFileWriter", "recover_file", "run_attributes"]

#: Written to the ``file_format`` root attribute; readers check the prefix.
FILE_FORMAT = "expctl-smalldata/1"
_MAX_CHUNK = 65536
_MIN_CHUNK = 256


def run_attributes(record: RunRecord, context: RunContext) -> dict[str, Any]:
    """Root attributes describing a run: facility identity plus why it was taken."""
    return {
        "run": record.run,
        "beamline": record.beamline,
        "hightag": record.hightag,
        "start_tag": record.start_tag,
        "end_tag": -1 if record.end_tag is None else record.end_tag,
        "start_time": record.start_time,
        "stop_time": np.nan if record.stop_time is None else record.stop_time,
        "status": record.status,
        "label": context.label or record.label,
        "comment": record.comment,
        "runtype": record.runtype,
        "detectors": json_attr(list(record.detectors)),
        "sequence": context.sequence,
        "sequence_file": context.sequence_file,
        "step_path": context.step_path,
        "loop": json_attr(dict(context.loop)),
        "params": json_attr(dict(context.params)),
        "scan": json_attr(dict(context.scan)),
        "sample_spot": json_attr(None if context.sample_spot is None
                                 else dict(context.sample_spot)),
    }


@dataclass
class _OpenRun:
    """Book-keeping of one run being written."""

    path: Path
    file: h5py.File
    context: RunContext
    datasets: dict[str, h5py.Dataset] = field(default_factory=dict)
    shots: int = 0
    sums: dict[str, np.ndarray] = field(default_factory=dict)
    sum_shots: int = 0
    problems: list[str] = field(default_factory=list)


class RunFileWriter:
    """Engine-event subscriber that writes ``<data_dir>/runs/bl<N>/run<NNNNNN>.h5``.

    Args:
        data_dir: the data directory (files go under ``runs/``).
    """

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = Path(data_dir)
        self._open: dict[int, _OpenRun] = {}

    def __call__(self, event: EngineEvent) -> None:
        if isinstance(event, RunStarted):
            self.start(event)
        elif isinstance(event, ShotBlockTaken):
            self.append(event)
        elif isinstance(event, RunStopped):
            self.stop(event)

    @property
    def open_runs(self) -> tuple[int, ...]:
        """Runs whose files are being written."""
        return tuple(self._open)

    def path_for(self, beamline: int, run: int) -> Path:
        return run_file_path(self.data_dir, beamline, run)

    def start(self, event: RunStarted) -> Path:
        """Create the run's file with everything known at the start, flushed at once."""
        import h5py

        record = event.record
        if record.run in self._open:
            raise DataError(f"run {record.run} is already being written",
                            hint="a DAQ must stop a run before it starts another")
        path = self.path_for(record.beamline, record.run)
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.exists():
            raise DataError(f"run file {path} already exists; run numbers are never reused",
                            hint="check that the facility run counter was not reset")
        f = h5py.File(path, "w", libver="latest")
        f.attrs.update(run_attributes(record, event.context))
        f.attrs.update({
            "outcome": "running",
            "file_format": FILE_FORMAT,
            "creator": f"expctl {__version__}",
            "NX_class": "NXroot",
            "default": "entry",
            "problems": "[]",
        })
        write_mapping(f.create_group("UserDataCfg"), event.config)
        write_mapping(f.create_group("epicsOnce"), event.snapshot)
        entry = f.create_group("entry")
        entry.attrs["NX_class"] = "NXentry"
        entry.create_dataset("title", data=_title(record, event.context),
                             dtype=h5py.string_dtype())
        entry.create_dataset("entry_identifier", data=str(record.run),
                             dtype=h5py.string_dtype())
        entry.create_dataset("start_time", data=iso_time(record.start_time),
                             dtype=h5py.string_dtype())
        f.flush()
        self._open[record.run] = _OpenRun(path=path, file=f, context=event.context)
        return path

    def append(self, event: ShotBlockTaken) -> None:
        """Append one shot block and flush, so readers and crash recovery see it."""
        block = event.block
        state = self._open.get(block.run)
        if state is None:
            raise DataError(f"shot block for run {block.run}, which is not being written",
                            hint="a RunStarted event must precede its shot blocks")
        n = len(block)
        columns = _columns(block, event.context, n)
        if not state.datasets:
            _create_datasets(state, columns)
        for key in columns.keys() - state.datasets.keys():
            state.problems.append(f"{key!r} first appeared after shot {state.shots}; not logged")
        for key, ds in state.datasets.items():
            ds.resize(state.shots + n, axis=0)
            values = columns.get(key)
            if values is not None:
                ds[state.shots:state.shots + n] = values
            elif n:
                state.problems.append(f"{key!r} missing for shots {state.shots}..{state.shots + n}")
        state.shots += n
        for det, image in block.sums.items():
            acc = state.sums.get(det)
            state.sums[det] = np.array(image, dtype=np.float64) if acc is None else acc + image
        if block.sums:
            state.sum_shots += n
        state.file.flush()

    def stop(self, event: RunStopped) -> Path:
        """Close the SWMR handle, then write the final attributes and ``Sums/``."""
        import h5py

        record = event.record
        state = self._open.pop(record.run, None)
        if state is None:
            raise DataError(f"run {record.run} stopped but was never started here",
                            hint="attach the run logger before the first run starts")
        state.file.close()
        with h5py.File(state.path, "r+") as f:
            final = run_attributes(record, state.context)
            for key in ("end_tag", "stop_time", "status", "comment"):
                f.attrs[key] = final[key]
            f.attrs["shots"] = state.shots
            f.attrs["outcome"] = event.outcome
            f.attrs["problems"] = json_attr(state.problems)
            sums = f.create_group("Sums")
            sums.attrs["shots"] = state.sum_shots
            for det, image in state.sums.items():
                sums.create_dataset(det.replace("/", "_"), data=image,
                                    compression="gzip", compression_opts=1, shuffle=True)
            f["entry"].create_dataset("end_time", data=iso_time(record.stop_time),
                                      dtype=h5py.string_dtype())
        return state.path

    def close(self) -> None:
        """Close files of runs that never stopped; they stay readable and ``running``."""
        for state in self._open.values():
            state.file.close()
        self._open.clear()


def _title(record: RunRecord, context: RunContext) -> str:
    parts = [f"run {record.run}", context.label or record.label, context.sequence,
             context.step_path]
    return " · ".join(p for p in parts if p)


def _columns(block: ShotBlock, context: RunContext, n: int) -> dict[str, np.ndarray]:
    """Per-shot arrays of a block, with ``scan/<var>`` added and lengths checked."""
    columns: dict[str, np.ndarray] = {}
    for key, values in block.data.items():
        arr = np.asarray(values)
        if arr.ndim == 0 or arr.shape[0] != n:
            raise DataError(f"per-shot data {key!r} of run {block.run} has "
                            f"{arr.shape[0] if arr.ndim else 0} entries for {n} shots",
                            hint="every per-shot array must have one entry per tag")
        columns[key] = arr.astype(np.uint8) if arr.dtype.kind == "b" else arr
    for var, value in context.scan.items():
        columns.setdefault(f"scan/{var}", np.full(n, float(value)))
    for det, frames in block.frames.items():
        arr = np.asarray(frames)
        if arr.shape[0] != n:
            raise DataError(f"full frames of {det!r} in run {block.run}: {arr.shape[0]} "
                            f"frames for {n} shots")
        columns[f"{det}/frames"] = arr
    return columns


def _create_datasets(state: _OpenRun, columns: dict[str, np.ndarray]) -> None:
    """Create the per-shot datasets and NeXus links, then enter SWMR mode."""
    import h5py

    f = state.file
    for key, arr in columns.items():
        if arr.ndim == 1:
            chunks: tuple[int, ...] = (int(np.clip(len(arr), _MIN_CHUNK, _MAX_CHUNK)),)
        else:
            chunks = (1, *arr.shape[1:])
        dtype = h5py.string_dtype() if arr.dtype.kind in "OU" else arr.dtype
        fill: Any = np.nan if arr.dtype.kind == "f" else (0 if arr.dtype.kind in "iub" else None)
        kwargs: dict[str, Any] = compression_for(arr)
        if fill is not None:
            kwargs["fillvalue"] = fill
        state.datasets[key] = f.create_dataset(
            key, shape=(0, *arr.shape[1:]), maxshape=(None, *arr.shape[1:]),
            chunks=chunks, dtype=dtype, **kwargs)
    data = f["entry"].create_group("data")
    data.attrs["NX_class"] = "NXdata"
    linked: list[str] = []
    for key, ds in state.datasets.items():
        if ds.ndim == 1 and ds.dtype.kind in "iuf":
            name = key.replace("/", "_")
            ds.attrs["target"] = f"/{key}"  # NeXus link convention
            data[name] = ds
            linked.append(name)
    signal = _nexus_signal(linked)
    if signal is not None:
        data.attrs["signal"] = signal
        if "tag" in linked and signal != "tag":
            data.attrs["axes"] = "tag"
            data.attrs["tag_indices"] = 0
        f["entry"].attrs["default"] = "data"
    f.swmr_mode = True


def _nexus_signal(names: list[str]) -> str | None:
    """The dataset a NeXus viewer plots by default: a detector ROI, else I0, else any."""
    for suffix in ("ROI_0_sum", "pd_i0"):
        for name in names:
            if name.endswith(suffix):
                return name
    others = [n for n in names if n != "tag"]
    return others[0] if others else (names[0] if names else None)


def recover_file(path: Path) -> int:
    """Rewrite a file left by a killed writer as an ordinary file marked ``incomplete``.

    The SWMR-write flag of such a file keeps ordinary readers (and NeXus
    tools) out; copying its objects through an SWMR reader into a fresh file
    and renaming it into place is atomic and needs no ``h5clear``.

    Returns:
        the number of shots the file holds.
    """
    import h5py

    path = Path(path)
    tmp = path.with_suffix(".recovering.h5")
    src = _open_left_behind(path)
    if src is None:  # killed before the first flush: nothing readable to keep
        path.replace(path.with_suffix(".unreadable.h5"))
        return 0
    with src, h5py.File(tmp, "w", libver="latest") as dst:
        for key, value in src.attrs.items():
            dst.attrs[key] = value
        for name in src:
            src.copy(src[name], dst, name=name, expand_soft=True)
        shots = int(dst["tag"].shape[0]) if "tag" in dst else 0
        _relink_nexus(dst)
        dst.attrs["outcome"] = "incomplete"
        dst.attrs["status"] = 0
        dst.attrs["shots"] = shots
        if shots:
            dst.attrs["end_tag"] = int(dst["tag"][-1])
    os.replace(tmp, path)
    return shots


def _open_left_behind(path: Path) -> h5py.File | None:
    """Open a file a killed writer left: in SWMR mode if it got that far, else plainly.

    A writer killed between creating the file and switching to SWMR leaves a file
    an SWMR reader refuses; one killed before its first flush may be unreadable.
    """
    import h5py

    for swmr in (True, False):
        try:
            return h5py.File(path, "r", swmr=swmr)
        except (OSError, RuntimeError):  # h5py reports a torn superblock as RuntimeError
            continue
    return None


def _relink_nexus(f: h5py.File) -> None:
    """``Group.copy`` duplicates hard links; point NXdata back at the per-shot datasets."""
    if "entry/data" not in f:
        return
    data = f["entry/data"]
    for name in list(data):
        target = str(data[name].attrs.get("target", ""))
        if target and target in f:
            del data[name]
            data[name] = f[target]
