"""The HDF5 run writer: one small-data file per run, written from engine events.

Layout follows the LCLS smalldata convention (per-shot datasets whose first
dimension is the number of shots, ``UserDataCfg/``, ``Sums/``, ``epicsOnce/``,
``fiducials``, packed ``event_time``, ``damage/``, conventional monitor names;
:mod:`expctl.runlog.smalldata`, docs/runfiles.md) with run metadata as root
attributes, a ``units`` attribute on every dataset whose unit is known, and a
NeXus ``/entry`` (NXentry/NXdata, hard links to the per-shot datasets) so
NeXus viewers open it.

Creation protocol (docs/decisions/0005): the catalog registers the run first;
the writer then creates ``run<N>.h5.partial`` (never through a symbolic link),
writes everything known at the start, and only then renames it to ``run<N>.h5``.
A file under its final name is therefore always a readable run file, and no file
exists without a catalog row.

A run is built in memory (HDF5's core driver) and its file on disk is only ever
replaced whole, by rename (ADR 16): the start file is the image of the memory
file after the start; a short run — fewer than ``stream_after_shots`` shots,
taken within ``stream_after_s`` of wall time — is written once more at its stop,
as one complete image (its SHA-256 computed from the bytes written, so the
catalog need not read it back).  h5py's cost is per object, not per byte, so a
run costs one pass of object creation in memory and two writes, not three opens
of a file on disk.

A longer or slower run switches to streaming: its image so far replaces the
file, which is reopened in SWMR mode, and every later block is flushed as it
arrives.  A reader may therefore follow a long run while it is taken, and
``kill -9`` leaves the file readable (SWMR read) up to its last flushed block;
:func:`expctl.runlog.recovery.recover_file` rewrites such a file into an
ordinary one marked ``incomplete``.  A kill during a short run leaves its start
file (no shots), recovered the same way.  What SWMR forbids (new objects,
attribute changes) happens once at the stop, after the SWMR handle is closed:
final attributes, ``Sums/`` and NeXus ``end_time``.  Every OS error is raised as
the matching :class:`~expctl.errors.StorageError` naming the file.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

import numpy as np

from expctl import __version__
from expctl.engine.events import RunStarted, RunStopped, ShotBlockTaken
from expctl.errors import DataError, StorageError, storage_error
from expctl.paths import DataDir
from expctl.runlog.h5util import compression_for, iso_time, json_attr, set_attrs, write_mapping
from expctl.runlog.smalldata import (
    EVENT_TIME_ENCODING,
    SmallDataConfig,
    additive,
    damage,
    pack_event_time,
)
from expctl.units import logged

if TYPE_CHECKING:
    import h5py

    from expctl.devices.protocols import RunRecord, ShotBlock
    from expctl.engine.events import EngineEvent, RunContext

__all__ = ["FILE_FORMAT", "RunFileWriter", "WrittenRun", "run_attributes"]

#: Written to the ``file_format`` root attribute; readers check the prefix.
FILE_FORMAT = "expctl-smalldata/2"
_MAX_CHUNK = 65536
_MIN_CHUNK = 256
#: How long the stop waits for another process to close a run file it holds open.
FILE_LOCK_WAIT_S = 5.0
#: A run is kept in memory and written whole at its stop while it has fewer shots than
#: this and has lasted less than :data:`STREAM_AFTER_S` of wall time; then it streams.
STREAM_AFTER_SHOTS = 1000
STREAM_AFTER_S = 1.0


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
        "scan_step": -1 if context.scan_step is None else context.scan_step,
        "units": json_attr(dict(context.units)),
        "sample_spot": json_attr(None if context.sample_spot is None
                                 else dict(context.sample_spot)),
    }


@dataclass(frozen=True, slots=True)
class WrittenRun:
    """What the writer left on disk at a run's stop (the catalog records it)."""

    path: Path
    shots: int
    #: SHA-256 of the bytes written; None when the file was streamed (read it back)
    checksum: str | None


@dataclass
class _OpenRun:
    """Book-keeping of one run being written."""

    path: Path
    file: h5py.File | None  # in memory until it streams; then open (SWMR) until the stop
    context: RunContext
    smalldata: SmallDataConfig
    started: float  # time.monotonic() at the start: how long it has been in memory
    in_memory: bool = True
    datasets: dict[str, h5py.Dataset] = field(default_factory=dict)
    shots: int = 0
    sums: dict[str, np.ndarray] = field(default_factory=dict)  # full frames, per detector
    sum_shots: int = 0
    column_sums: dict[str, float] = field(default_factory=dict)  # additive reductions
    units: dict[str, str] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)


class RunFileWriter:
    """Engine-event subscriber that writes ``<data_dir>/runs/bl<N>/run<NNNNNN>.h5``.

    Args:
        data_dir: the data directory (files go under ``runs/``).
        lock_wait: how long the stop waits for a reader holding the file open
            (then it writes the final metadata without the HDF5 lock and says so).
        smalldata: what the beamline profile adds (conventional names, declared timing);
            :meth:`SmallDataConfig.from_profile`.
    """

    subscriber_name = "run writer"

    def __init__(self, data_dir: Path, *, lock_wait: float = FILE_LOCK_WAIT_S,
                 smalldata: SmallDataConfig | None = None,
                 stream_after_shots: int = STREAM_AFTER_SHOTS,
                 stream_after_s: float = STREAM_AFTER_S) -> None:
        self.data_dir = Path(data_dir)
        self.layout = DataDir(self.data_dir)
        self.lock_wait = lock_wait
        self.smalldata = smalldata or SmallDataConfig()
        self.stream_after_shots = stream_after_shots
        self.stream_after_s = stream_after_s
        self._open: dict[int, _OpenRun] = {}
        #: run -> what its stop left on disk, until the catalog takes it (:meth:`written`)
        self._written: dict[int, WrittenRun] = {}

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
        return self.layout.run_file(beamline, run)

    def start(self, event: RunStarted) -> Path:
        """Create the run's file with everything known at the start, under a temporary
        name that becomes the final one once the file is written and closed."""
        record = event.record
        if record.run in self._open:
            raise DataError(f"run {record.run} is already being written",
                            hint="a DAQ must stop a run before it starts another")
        path = self.path_for(record.beamline, record.run)
        with _storage(f"create run {record.run}'s file", path):
            path.parent.mkdir(parents=True, exist_ok=True)
            self.layout.guard_write(path)
            if os.path.lexists(path):
                raise DataError(f"run file {path} already exists; run numbers are never "
                                "reused", hint="Check that the facility run counter was not "
                                               "reset.")
            memory = _memory_file(path)
            try:
                _write_start(memory, event, self.smalldata)
                self._replace(path, _image(memory))
            except BaseException:
                memory.close()
                raise
        self._open[record.run] = _OpenRun(path=path, file=memory, context=event.context,
                                          smalldata=self.smalldata, started=time.monotonic())
        return path

    def _replace(self, path: Path, image: bytes) -> None:
        """Put ``image`` under ``path`` whole: written to the ``.partial`` (created
        exclusively, never through a link), then renamed over it.  A reader holding the
        old file keeps its snapshot; nobody ever sees a half-written run file."""
        partial = self.layout.partial(path)
        self.layout.guard_write(path)
        out = _create_exclusive(partial)
        try:
            with out:
                out.write(image)
        except BaseException:
            with contextlib.suppress(OSError):
                partial.unlink()
            raise
        self.layout.guard_write(path)
        os.replace(partial, path)  # complete enough to bear its name

    def _keep(self, state: _OpenRun) -> None:
        """Best effort, when a run in memory cannot be finished: its image as it is
        replaces the file, so the shots taken stay readable (recovered as incomplete)."""
        if state.in_memory and state.file is not None:
            with contextlib.suppress(Exception):  # (a full disk fails this too)
                self._replace(state.path, _image(state.file))

    def append(self, event: ShotBlockTaken) -> None:
        """Append one shot block and flush, so readers and crash recovery see it."""
        block = event.block
        state = self._open.get(block.run)
        if state is None:
            raise DataError(f"shot block for run {block.run}, which is not being written",
                            hint="a RunStarted event must precede its shot blocks")
        with _storage(f"write shots of run {block.run} to", state.path):
            f = state.file = state.file or self._reopen(state)
            _append(state, f, event)
            if state.in_memory and (
                    state.shots >= self.stream_after_shots
                    or time.monotonic() - state.started >= self.stream_after_s):
                self._stream(state)

    def _stream(self, state: _OpenRun) -> None:
        """From now on write the run's blocks to disk as they come: its image so far
        replaces the file, which is reopened in SWMR mode (readers can follow it)."""
        memory = state.file
        assert memory is not None  # noqa: S101 (in memory until now)
        image = _image(memory)
        memory.close()
        state.file, state.in_memory = None, False
        self._replace(state.path, image)
        f = state.file = self._reopen(state)
        state.datasets = {key: f[key] for key in state.datasets}
        f.swmr_mode = True

    def stop(self, event: RunStopped) -> Path:
        """Close the SWMR handle, then write the final attributes and ``Sums/``."""
        record = event.record
        state = self._open.pop(record.run, None)
        if state is None:
            raise DataError(f"run {record.run} stopped but was never started here",
                            hint="attach the run logger before the first run starts")
        with _storage(f"finish run {record.run}'s file", state.path):
            if state.in_memory and state.file is not None:
                with state.file as f:
                    try:
                        _write_stop(f, state, event)
                    except BaseException:
                        self._keep(state)
                        raise
                    image = _image(f)
                self._replace(state.path, image)
                checksum: str | None = hashlib.sha256(image).hexdigest()
            else:
                if state.file is not None:
                    state.file.close()
                with self._reopen(state) as f:
                    _write_stop(f, state, event)
                checksum = None
        self._written[record.run] = WrittenRun(state.path, state.shots, checksum)
        return state.path

    def written(self, run: int) -> WrittenRun | None:
        """What the stop of ``run`` left on disk (once: the catalog records it)."""
        return self._written.pop(run, None)

    def _reopen(self, state: _OpenRun) -> h5py.File:
        """The run's file again for writing (first block, stop); a reader holding it open
        (HDFView, a script) gets ``lock_wait`` seconds to let go, then the writer goes on
        without the lock (noted in the file's ``problems``): the beamtime does not wait."""
        import h5py

        deadline = time.monotonic() + self.lock_wait
        while True:
            try:
                return h5py.File(state.path, "r+", libver="latest")
            except OSError as exc:
                if "unable to lock file" not in str(exc):
                    raise
                if time.monotonic() >= deadline:
                    break
                time.sleep(0.05)
        from expctl.runlog.holders import describe_holders

        holder = describe_holders(state.path) or "another process"
        state.problems.append(f"held open by {holder} while being written; written on "
                              "without the HDF5 file lock")
        return h5py.File(state.path, "r+", libver="latest", locking=False)

    def close(self) -> None:
        """Close files of runs that never stopped; they stay readable and ``running``
        (the next start recovers them).  A failing disk cannot make this raise."""
        for state in self._open.values():
            self._keep(state)
            if state.file is not None:
                with contextlib.suppress(Exception):  # a full disk fails the close too
                    state.file.close()
        self._open.clear()
        self._written.clear()


@contextlib.contextmanager
def _storage(doing: str, path: Path) -> Iterator[None]:
    """OS errors (h5py's too: it reports them as OSError) as StorageErrors about ``path``."""
    try:
        yield
    except StorageError:
        raise
    except OSError as exc:
        raise storage_error(exc, doing, path) from None


def _create_exclusive(path: Path) -> BinaryIO:
    """A new file at ``path`` to write into: refused if anything (a link, a stale file) is
    there."""
    fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY | os.O_NOFOLLOW, 0o644)
    return os.fdopen(fd, "wb")


def _image(f: h5py.File) -> bytes:
    """The bytes of an in-memory HDF5 file as it stands (its metadata flushed first)."""
    f.flush()
    return bytes(f.id.get_file_image())


def _memory_file(path: Path) -> h5py.File:
    """An HDF5 file held in memory only (core driver, nothing written beside ``path``)."""
    import h5py

    return h5py.File(f"{path}.in-memory", "w", driver="core", backing_store=False,
                     libver="latest")


def _write_start(f: h5py.File, event: RunStarted, smalldata: SmallDataConfig) -> None:
    """Everything known when the run starts: attributes, configuration, snapshot, NeXus."""

    record = event.record
    set_attrs(f, run_attributes(record, event.context))
    set_attrs(f, {
        "outcome": "running",
        "file_format": FILE_FORMAT,
        "creator": f"expctl {__version__}",
        "NX_class": "NXroot",
        "default": "entry",
        "problems": "[]",
    })
    write_mapping(f.create_group("UserDataCfg"), {**smalldata.user_config, **event.config})
    _write_snapshot(f.create_group("epicsOnce"), event.snapshot, smalldata.device_units)
    entry = f.create_group("entry")
    set_attrs(entry, {"NX_class": "NXentry"})
    write_mapping(entry, {"title": _title(record, event.context),
                          "entry_identifier": str(record.run),
                          "start_time": iso_time(record.start_time)})


def _write_snapshot(group: h5py.Group, snapshot: Mapping[str, Any],
                    device_units: Mapping[str, str]) -> None:
    """Device values at the start (``epicsOnce/``), numbers in their log units."""
    values: dict[str, Any] = {}
    units: dict[str, str] = {}
    for name, value in snapshot.items():
        values[name], unit = logged(value, device_units.get(name, ""))
        if unit:
            units[name.replace("/", "_")] = unit
    write_mapping(group, values)
    for name, unit in units.items():
        set_attrs(group[name], {"units": unit})


def _append(state: _OpenRun, f: h5py.File, event: ShotBlockTaken) -> None:
    """Write one block's columns (creating the datasets with the first) and flush."""
    block = event.block
    n = len(block)
    columns = _columns(block, event.context, n)
    if not state.datasets:
        state.units = _units(block, event.context)
        _create_datasets(state, f, columns)
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


def _write_stop(f: h5py.File, state: _OpenRun, event: RunStopped) -> None:
    """The final attributes, ``Sums/`` and NeXus ``end_time`` (what SWMR mode forbade)."""

    record = event.record
    final = run_attributes(record, state.context)
    set_attrs(f, {key: final[key] for key in ("end_tag", "stop_time", "status", "comment")})
    set_attrs(f, {"shots": state.shots, "outcome": event.outcome,
                  "problems": json_attr(state.problems)})
    sums = f.create_group("Sums")
    set_attrs(sums, {"shots": state.shots})
    for key, total in state.column_sums.items():
        name = key.replace("/", "_")
        write_mapping(sums, {name: total})
        set_attrs(sums[name], {"units": state.units.get(key, ""), "sum_of": f"/{key}",
                               "shots": state.shots})
    for det, image in state.sums.items():
        ds = sums.create_dataset(f"{det.replace('/', '_')}_raw", data=image,
                                 compression="gzip", compression_opts=1, shuffle=True)
        ds.attrs.update({"units": "ADU", "sum_of": "full frames (raw)",
                         "shots": state.sum_shots})
    write_mapping(f["entry"], {"end_time": iso_time(record.stop_time)})


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


#: Attributes of the columns every run file has, beyond their unit.
_COLUMN_ATTRS: dict[str, dict[str, str]] = {
    "tag": {"description": "facility tag (60 Hz counter) of each shot; also linked as "
                           "fiducials, where smalldata readers look (not an LCLS fiducial)"},
    "event_time": {"encoding": EVENT_TIME_ENCODING, "units": ""},
    "scan/varStep": {"description": "index of the scan value this run was taken at "
                                    "(0 outside a scan)", "units": ""},
}


def _create_datasets(state: _OpenRun, f: h5py.File, columns: dict[str, np.ndarray]) -> None:
    """Create the per-shot datasets, their conventional names and NeXus links, then enter
    SWMR mode."""
    import h5py

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
        ds = state.datasets[key] = f.create_dataset(
            key, shape=(0, *arr.shape[1:]), maxshape=(None, *arr.shape[1:]),
            chunks=chunks, dtype=dtype, **kwargs)
        attrs = dict(_COLUMN_ATTRS.get(key, {}))
        if key in state.units:
            attrs.setdefault("units", state.units[key])
        elif key.startswith(("damage/", "lightStatus/")):
            attrs.setdefault("units", "")
        set_attrs(ds, attrs)
    aliases = {"fiducials": "tag", **state.smalldata.aliases}
    for alias, key in aliases.items():
        if key in state.datasets and alias not in f:
            f[alias] = state.datasets[key]  # a hard link: one dataset, two names
            state.datasets[key].attrs["target"] = f"/{key}"
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
    if not state.in_memory:
        f.swmr_mode = True


def _nexus_signal(names: list[str]) -> str | None:
    """The dataset a NeXus viewer plots by default: a detector ROI, else I0, else any."""
    for suffix in ("ROI_0_sum", "pd_i0"):
        for name in names:
            if name.endswith(suffix):
                return name
    others = [n for n in names if n != "tag"]
    return others[0] if others else (names[0] if names else None)
