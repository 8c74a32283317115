"""After a crash: runs left ``running`` closed, their files made readable, orphans registered.

:func:`recover` runs whenever a run logger attaches.  For every catalog row left
``running`` whose lease nobody holds (its writer died, see :mod:`.lease`):

* the run's file (its final name, else the ``.partial`` a kill left) is made an
  ordinary file marked ``incomplete`` — copied through a bounded SWMR reader if
  the writer was killed mid-run, amended in place if it had been closed;
* a file nothing can read is kept as ``run<N>.unreadable.h5`` (never deleted),
  and the row names that file;
* the row becomes status 0, ``incomplete``, with the shots and end tag the file
  holds and its SHA-256.

Run files without a row (written by an older expctl, copied in) are then
registered from their own metadata, as :func:`expctl.runlog.rebuild.rebuild_catalog`
does for a whole directory.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np

from expctl.errors import DataError, StorageError, storage_error
from expctl.paths import DataDir
from expctl.runlog.checksum import file_checksum
from expctl.runlog.h5util import json_attr, open_for_reading, reading
from expctl.runlog.lease import clear_stale_lease, lease_holder

if TYPE_CHECKING:
    import h5py

    from expctl.runlog.catalog import Catalog

__all__ = ["Recovered", "amend_run_file", "recover", "recover_file", "row_from_file",
           "supersede"]

T = TypeVar("T")
SCRATCH_SUFFIXES = (".amending", ".recovering")  # copies being written beside a run file


@dataclass(frozen=True, slots=True)
class Recovered:
    """What recovering one file found: where the run's data is now and how much."""

    path: Path
    shots: int
    end_tag: int | None
    readable: bool


def recover(catalog: Catalog) -> list[int]:
    """Close the runs dead sessions left ``running``; register orphan run files.

    Returns:
        the run numbers recovered or registered, ascending.
    """
    layout = catalog.layout
    _remove_scratch(layout)
    done = []
    for row in list(catalog.rows()):
        if row["status"] != 2 or lease_holder(layout, row["beamline"], row.run) is not None:
            continue
        catalog.update_run(row.run, _closed_row(layout, row["beamline"], row.run))
        clear_stale_lease(layout, row["beamline"], row.run)
        done.append(row.run)
    done += register_orphans(catalog)
    return sorted(done)


def _closed_row(layout: DataDir, beamline: int, run: int) -> dict[str, Any]:
    """The row values of a run whose writer died, after recovering whatever file it left."""

    final = layout.run_file(beamline, run)
    source = final if final.exists() else layout.partial(final)
    values: dict[str, Any] = {"status": 0, "outcome": "incomplete", "shots": 0,
                              "end_tag": None, "checksum": None, "file": None}
    if not source.exists():
        aside = DataDir.set_aside(final)
        if aside.exists():  # set aside by a recovery killed before it updated the row
            values.update(file=str(aside.relative_to(layout.root)),
                          checksum=file_checksum(aside))
        return values  # (else killed between the row and the file: nothing was written)
    got = recover_file(source, final)
    values.update(shots=got.shots, end_tag=got.end_tag, checksum=file_checksum(got.path),
                  file=str(got.path.relative_to(layout.root)))
    return values


def recover_file(path: Path, final: Path | None = None) -> Recovered:
    """Make the file a killed writer left at ``path`` an ordinary run file at ``final``.

    The SWMR-write flag of a file whose writer was killed mid-run keeps ordinary
    readers (and NeXus tools) out; copying its objects through an SWMR reader
    into a fresh file and renaming that into place is atomic and needs no
    ``h5clear``.  A file that was closed (killed before its first shot block, or
    stopped but never recorded by the catalog) is amended in place.  A file
    nothing can read is set aside as ``*.unreadable.h5``.
    """
    path = Path(path)
    final = Path(final) if final is not None else path
    try:
        return _recover(path, final)
    except StorageError:
        raise
    except OSError as exc:
        raise storage_error(exc, "recover the run file", path) from None


def _recover(path: Path, final: Path) -> Recovered:
    import h5py

    try:
        src = open_for_reading(path)
    except StorageError as exc:
        if not _damaged(exc):
            raise
        aside = DataDir.set_aside(final)
        os.replace(path, aside)
        return Recovered(aside, 0, None, False)
    swmr = bool(src.swmr_mode)
    if not swmr:  # closed cleanly: amend the attributes
        src.close()
        shots, end_tag = amend_run_file(path, _mark_incomplete)
    else:
        tmp = final.with_name(final.name + SCRATCH_SUFFIXES[1])
        try:
            with src, h5py.File(tmp, "w", libver="latest") as dst, reading(path):
                for key, value in src.attrs.items():
                    dst.attrs[key] = value
                for name in src:
                    src.copy(src[name], dst, name=name, expand_soft=True)
                _relink_nexus(dst)
                shots, end_tag = _mark_incomplete(dst)
        except StorageError as exc:  # torn metadata behind a readable superblock
            with contextlib.suppress(OSError):
                tmp.unlink()
            if not _damaged(exc):
                raise
            aside = DataDir.set_aside(final)
            os.replace(path, aside)
            return Recovered(aside, 0, None, False)
        os.replace(tmp, path)
    if path != final:
        os.replace(path, final)
    return Recovered(final, shots, end_tag, True)


def amend_run_file(path: Path, change: Callable[[h5py.File], T]) -> T:
    """Apply ``change`` to a closed run file as one atomic step.

    Opening the file itself for writing would set HDF5's file-open flag; a kill before
    the close would leave a file no reader accepts (and recovery would set it aside).
    The change is made on a copy that replaces the file by rename instead; a kill leaves
    the file as it was plus a scratch copy that :func:`recover` removes.
    """
    import h5py

    scratch = path.with_name(path.name + SCRATCH_SUFFIXES[0])
    shutil.copyfile(path, scratch)
    try:
        with h5py.File(scratch, "r+", libver="latest") as f:
            result = change(f)
        os.replace(scratch, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            scratch.unlink()
    return result


def _remove_scratch(layout: DataDir) -> None:
    """Drop the scratch copies a killed amendment or recovery left (never the only copy)."""
    if not layout.runs.is_dir():
        return
    for suffix in SCRATCH_SUFFIXES:
        for scratch in layout.runs.glob(f"bl*/*{suffix}"):
            with contextlib.suppress(FileNotFoundError):
                scratch.unlink()


def _damaged(exc: StorageError) -> bool:
    from expctl.errors import CorruptFileError

    return isinstance(exc, CorruptFileError)


def _mark_incomplete(f: h5py.File) -> tuple[int, int | None]:
    """Set the attributes of a recovered run: incomplete, stopped, shots and end tag held."""
    shots = int(f["tag"].shape[0]) if "tag" in f else 0
    end_tag = int(f["tag"][-1]) if shots else None
    was = str(f.attrs.get("outcome", "running"))
    f.attrs["outcome"] = "incomplete"
    f.attrs["status"] = 0
    f.attrs["shots"] = shots
    if end_tag is not None:
        f.attrs["end_tag"] = end_tag
    problems = _json_list(f.attrs.get("problems", "[]"))
    problems.append("recovered after its writer stopped abruptly" if was == "running" else
                    f"its stop ({was}) never reached the catalog; recovered as incomplete")
    f.attrs["problems"] = json_attr(problems)
    return shots, end_tag


def _mark_superseded(f: h5py.File) -> None:
    f.attrs["outcome"] = "superseded"
    problems = _json_list(f.attrs.get("problems", "[]"))
    problems.append("superseded: its step was cut and redone on resume")
    f.attrs["problems"] = json_attr(problems)


def _json_list(value: Any) -> list[Any]:
    try:
        got = json.loads(value)
    except (TypeError, ValueError):
        return []
    return got if isinstance(got, list) else []


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


def supersede(catalog: Catalog, runs: list[int]) -> list[int]:
    """Mark runs a resumed campaign does not keep (their step is redone).

    Completed runs, and runs a crash left ``incomplete``, become ``superseded``.

    The journal knows them: completed inside a step attempt a crash or a storage fault
    cut.  Their files and rows say ``superseded``, so nothing counts them twice (and a
    catalog rebuilt from the files keeps saying so).  Returns the runs marked.
    """


    marked = []
    for run in runs:
        try:
            row = catalog.get(run)
        except DataError:  # not logged (the catalog never saw it start): nothing to mark
            continue
        # runs cut for a reason (beam loss, abort) keep their outcome
        if row["outcome"] not in ("completed", "incomplete"):
            continue
        path = catalog.data_dir / row["file"] if row["file"] else None
        if path is None or not path.is_file() or path == DataDir.set_aside(path):
            # cut before its file existed, or the file was set aside as unreadable
            catalog.update_run(run, {"outcome": "superseded"})
            marked.append(run)
            continue
        try:
            amend_run_file(path, _mark_superseded)
        except OSError as exc:
            raise storage_error(exc, f"mark run {run} superseded in", path) from None
        catalog.update_run(run, {"outcome": "superseded", "checksum": file_checksum(path)})
        marked.append(run)
    return marked


# -- files without a row ----------------------------------------------------------------
def register_orphans(catalog: Catalog) -> list[int]:
    """Give every run file without a catalog row one, from the file's own metadata.

    A ``.partial`` or a file whose writer died is recovered first.  Returns the runs.
    """
    layout = catalog.layout
    known = {row.run for row in catalog.rows()}
    added = []
    for beamline, run, kind, path in layout.run_files():
        if run in known or run in added or lease_holder(layout, beamline, run) is not None:
            continue  # (a live writer takes the lease before the row: it is not an orphan)
        final = layout.run_file(beamline, run)
        if kind == "partial" and final.exists():
            continue  # the file itself is listed too
        if kind != "unreadable":
            got = recover_file(path, final) if _needs_recovery(path, kind) else None
            path = got.path if got is not None else path
        catalog.put_run(row_from_file(layout, beamline, run, path))
        added.append(run)
    return added


def _needs_recovery(path: Path, kind: str) -> bool:
    """A partial, or a file still marked ``running`` (its writer died)."""
    if kind == "partial":
        return True
    try:
        with open_for_reading(path) as f:
            return str(f.attrs.get("outcome", "")) == "running" or bool(f.swmr_mode)
    except StorageError:
        return True  # recovery sets it aside


def row_from_file(layout: DataDir, beamline: int, run: int, path: Path) -> dict[str, Any]:
    """The catalog row a run file's own attributes describe (a damaged file: a bare row)."""
    from expctl.runlog.reader import read_attributes

    row: dict[str, Any] = {"run": run, "beamline": beamline, "status": 0,
                           "outcome": "incomplete", "shots": 0,
                           "file": str(path.relative_to(layout.root)),
                           "checksum": file_checksum(path)}
    try:
        attrs = read_attributes(path)
    except StorageError:
        return row
    for key in ("status", "outcome", "start_time", "stop_time", "hightag", "start_tag",
                "end_tag", "shots", "sequence", "sequence_file", "step_path", "label",
                "comment", "loop", "params", "scan", "units", "sample_spot", "detectors"):
        if key in attrs:
            row[key] = _plain(attrs[key])
    if row.get("end_tag") == -1:
        row["end_tag"] = None
    if isinstance(row.get("stop_time"), float) and not np.isfinite(row["stop_time"]):
        row["stop_time"] = None
    return row


def _plain(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    return value
