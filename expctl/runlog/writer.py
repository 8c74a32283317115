"""The HDF5 run writer: one small-data file per run, written from engine events
(what goes where in it: :mod:`expctl.runlog.runfile`).

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
import dataclasses
import hashlib
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from expctl.engine.events import RunStarted, RunStopped, ShotBlockTaken
from expctl.errors import DataError, StorageError, storage_error
from expctl.paths import DataDir
from expctl.runlog import fileimage, runfile
from expctl.runlog.folders import FolderGuard
from expctl.runlog.runfile import FILE_FORMAT, OpenRun, run_attributes
from expctl.runlog.skeletons import Skeletons
from expctl.runlog.smalldata import SmallDataConfig

if TYPE_CHECKING:
    import h5py

    from expctl.engine.events import EngineEvent

__all__ = ["FILE_FORMAT", "RunFileWriter", "WrittenRun", "run_attributes"]

#: How long the stop waits for another process to close a run file it holds open.
FILE_LOCK_WAIT_S = 5.0
#: A run is kept in memory and written whole at its stop while it has fewer shots than
#: this and has lasted less than :data:`STREAM_AFTER_S` of wall time; then it streams.
STREAM_AFTER_SHOTS = 1000
STREAM_AFTER_S = 1.0


@dataclass(frozen=True, slots=True)
class WrittenRun:
    """What the writer left on disk at a run's stop (the catalog records it)."""

    path: Path
    shots: int
    #: SHA-256 of the bytes written; None when the file was streamed (read it back)
    checksum: str | None


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
        self._open: dict[int, OpenRun] = {}
        #: run -> what its stop left on disk, until the catalog takes it (:meth:`written`)
        self._written: dict[int, WrittenRun] = {}
        #: parts of run files built before (configuration, per-shot columns), copied whole
        self._skeletons = Skeletons()
        #: checks that run files stay inside the data directory (folders checked once)
        self._guard = FolderGuard(self.layout)

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
            self._guard(path, make_folder=True)
            if os.path.lexists(path):
                raise DataError(f"run file {path} already exists; run numbers are never "
                                "reused", hint="Check that the facility run counter was not "
                                               "reset.")
            memory = fileimage.memory_file(path)
            try:
                runfile.write_start(memory, event, self.smalldata, self._skeletons)
                self._replace(path, fileimage.image(memory))
            except BaseException:
                memory.close()
                raise
        self._open[record.run] = OpenRun(path=path, file=memory, context=event.context,
                                          smalldata=self.smalldata, started=time.monotonic(),
                                          skeletons=self._skeletons)
        return path

    def _replace(self, path: Path, image: bytes) -> None:
        """Put ``image`` under ``path`` whole (:func:`~expctl.runlog.fileimage.replace_whole`,
        the folder guarded)."""
        fileimage.replace_whole(path, image, self._guard)

    def _keep(self, state: OpenRun) -> None:
        """Best effort, when a run in memory cannot be finished: its image as it is
        replaces the file, so the shots taken stay readable (recovered as incomplete)."""
        if state.in_memory and state.file is not None:
            with contextlib.suppress(Exception):  # (a full disk fails this too)
                runfile.write_pending(state)
                self._replace(state.path, fileimage.image(state.file))

    def append(self, event: ShotBlockTaken) -> None:
        """Append one shot block and flush, so readers and crash recovery see it."""
        block = event.block
        state = self._open.get(block.run)
        if state is None:
            raise DataError(f"shot block for run {block.run}, which is not being written",
                            hint="a RunStarted event must precede its shot blocks")
        with _storage(f"write shots of run {block.run} to", state.path):
            f = state.file = state.file or self._reopen(state)
            runfile.append_block(state, f, event)
            if state.in_memory and (
                    state.shots >= self.stream_after_shots
                    or time.monotonic() - state.started >= self.stream_after_s):
                self._stream(state)

    def _stream(self, state: OpenRun) -> None:
        """From now on write the run's blocks to disk as they come: its image so far
        replaces the file, which is reopened in SWMR mode (readers can follow it)."""
        memory = state.file
        assert memory is not None  # noqa: S101 (in memory until now)
        runfile.write_pending(state)
        image = fileimage.image(memory)
        memory.close()
        state.file, state.in_memory = None, False
        self._replace(state.path, image)
        f = state.file = self._reopen(state)
        state.datasets = {key: dataclasses.replace(col, id=f[key].id)
                          for key, col in state.datasets.items()}
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
                        runfile.write_stop(f, state, event)
                    except BaseException:
                        self._keep(state)
                        raise
                    image = fileimage.image(f)
                self._replace(state.path, image)
                checksum: str | None = hashlib.sha256(image).hexdigest()
            else:
                if state.file is not None:
                    state.file.close()
                with self._reopen(state) as f:
                    runfile.write_stop(f, state, event)
                checksum = None
        self._written[record.run] = WrittenRun(state.path, state.shots, checksum)
        return state.path

    def written(self, run: int) -> WrittenRun | None:
        """What the stop of ``run`` left on disk (once: the catalog records it)."""
        return self._written.pop(run, None)

    def _reopen(self, state: OpenRun) -> h5py.File:
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
        self._skeletons.close()


@contextlib.contextmanager
def _storage(doing: str, path: Path) -> Iterator[None]:
    """OS errors (h5py's too: it reports them as OSError) as StorageErrors about ``path``."""
    try:
        yield
    except StorageError:
        raise
    except OSError as exc:
        raise storage_error(exc, doing, path) from None
