"""Storage faults injected at one write boundary of the second run of a campaign.

Imported by a forked sandbox child before it runs ``expctl run`` (see
``test_storage_faults``).  Each boundary wraps the one call that crosses it and,
for run 2 only, either raises the OS error the operating system would raise
there (``ENOSPC``, ``EFBIG``, ``EACCES``; for SQLite the error code SQLite
reports for it), kills the process right after the write (``kill``), or has a
second process hold the lock it needs (``lock``).
"""

from __future__ import annotations

import errno
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import types
from pathlib import Path
from typing import Any

BOUNDARIES = ("file created", "first block", "stopped", "catalog row", "journal record")
FAULTS = ("kill", "ENOSPC", "EFBIG", "EACCES", "lock")
#: SQLite's answer to each OS error (its extended result code and message).
_SQLITE = {"ENOSPC": (13, "database or disk is full"), "EFBIG": (778, "disk I/O error"),
           "EACCES": (8, "attempt to write a readonly database")}
#: The faults that are an OS error at the boundary (the rest kill or hold a lock).
OS_ERRORS = tuple(_SQLITE)
TARGET = 2


def _os_error(fault: str, path: Any) -> OSError:
    code = getattr(errno, fault)
    return OSError(code, os.strerror(code), str(path))


def _kill() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def _holder(code: str) -> None:
    """Start a process running ``code`` and wait until it says it holds its lock."""
    proc = subprocess.Popen([sys.executable, "-c", textwrap.dedent(code)],
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "holding"


def _hold_hdf5(path: Path, *, swmr: bool = False) -> None:
    """Another process (a viewer, a script) keeps a run file open with HDF5's lock
    (a live run's file only opens with an SWMR reader)."""
    _holder(f"""
        import time, h5py
        f = h5py.File({str(path)!r}, "r", swmr={swmr})
        print("holding", flush=True)
        time.sleep(4)
    """)


def _hold_catalog(path: Path) -> None:
    """Another process holds the catalog's write lock for longer than expctl waits."""
    _holder(f"""
        import sqlite3, time
        db = sqlite3.connect({str(path)!r}, isolation_level=None)
        db.execute("BEGIN IMMEDIATE")
        print("holding", flush=True)
        time.sleep(3)
    """)


def install(boundary: str, fault: str) -> None:
    """Arm ``fault`` at ``boundary`` for run 2 (waits shortened so a lock costs ~1 s)."""
    from expctl.runlog import catalog, writer

    catalog.Catalog.__init__.__kwdefaults__["lock_timeout"] = 1.0
    writer.RunFileWriter.__init__.__kwdefaults__["lock_wait"] = 0.5
    arm = {"file created": _file_created, "first block": _first_block, "stopped": _stopped,
           "catalog row": _catalog_row, "journal record": _journal_record}[boundary]
    arm(fault)


def _around(call: Any, fault: str, hit: Any) -> Any:
    """``call``, except that when ``hit(*args)`` names a path (the target run's) it raises
    the OS error there instead, or kills the process right after the call."""
    def faulty(*args: Any) -> Any:
        path = hit(*args)
        if path is not None and fault in OS_ERRORS:
            raise _os_error(fault, path)
        result = call(*args)
        if path is not None and fault == "kill":
            _kill()
        return result

    return faulty


def _file_created(fault: str) -> None:
    from expctl.runlog import fileimage, writer

    fileimage._create_exclusive = _around(
        fileimage._create_exclusive, fault,
        lambda path: path if f"run{TARGET:06d}" in path.name else None)
    if fault == "lock":  # a viewer opens the new file at once: the first block must wait
        start = writer.RunFileWriter.start

        def started(self: Any, event: Any) -> Path:
            path = start(self, event)
            if event.record.run == TARGET:
                _hold_hdf5(path)
            return path

        writer.RunFileWriter.start = started  # type: ignore[method-assign]


def _first_block(fault: str) -> None:
    from expctl.runlog import runfile

    runfile.append_block = _around(
        runfile.append_block, fault,
        lambda state, f, event: state.path if event.block.run == TARGET and state.shots == 0
        else None)
    if fault == "lock":
        _file_created("lock")


def _stopped(fault: str) -> None:
    from expctl.runlog import runfile

    runfile.write_stop = _around(
        runfile.write_stop, fault,
        lambda f, state, event: state.path if event.record.run == TARGET else None)
    if fault == "lock":  # a viewer opens the file while the run is taken: the stop must wait
        append = runfile.append_block

        def appended(state: Any, f: Any, event: Any) -> None:
            append(state, f, event)
            if event.block.run == TARGET and state.shots == len(event.block):
                _hold_hdf5(state.path, swmr=True)

        runfile.append_block = appended


def _catalog_row(fault: str) -> None:
    from expctl.runlog.catalog import Catalog

    run_stopped = Catalog.run_stopped

    def faulty(self: Catalog, event: Any) -> None:
        target = event.record.run == TARGET
        if target and fault in OS_ERRORS:
            code, text = _SQLITE[fault]
            with self._writing(f"record the end of run {TARGET} in"):
                exc = sqlite3.OperationalError(text)
                exc.sqlite_errorcode = code  # type: ignore[attr-defined]
                raise exc
        if target and fault == "lock":
            _hold_catalog(self.path)
        run_stopped(self, event)
        if target and fault == "kill":
            _kill()

    Catalog.run_stopped = faulty  # type: ignore[method-assign]


def _journal_record(fault: str) -> None:
    """The record that completes run 2's step (the journal writes with os.write)."""
    from expctl.engine import journal

    real = os
    seen = {"run": False}

    def write(fd: int, data: Any) -> int:
        text = bytes(data)
        if b'"t":"run"' in text and f'"run":{TARGET},'.encode() in text:
            seen["run"] = True
        elif seen["run"] and b'"t":"step"' in text:
            seen["run"] = False
            if fault in OS_ERRORS:
                real.write(fd, text[: len(text) // 2])  # a torn record, as a full disk leaves
                raise _os_error(fault, "journal")
            if fault == "kill":
                written = real.write(fd, text)
                _kill()
                return written
        return real.write(fd, data)

    journal.os = types.SimpleNamespace(**{**vars(real), "write": write})  # type: ignore[assignment]
