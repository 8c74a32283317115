"""Opening the SQLite catalog for writing or for reading only, and what its errors mean.

Writing waits a bounded time for a lock another process holds, then says who
holds it (:mod:`expctl.runlog.holders`).  Reading never writes into the data
directory, so an archive the user cannot write (a share, another account, a
read-only mount) reads like any other:

* a ``-shm`` file exists (a writer may be live): open ``mode=ro`` and share it;
* only a ``-wal`` file exists (a writer was killed): read a private snapshot of
  database + WAL, because opening in place would create the ``-shm`` file;
* neither: open ``immutable=1`` (no lock, no ``-shm``; the main file is what
  it is, as a writer only changes it when it checkpoints and closes).
"""

from __future__ import annotations

import os
import resource
import shutil
import sqlite3
import tempfile
from pathlib import Path
from urllib.parse import quote

from expctl.errors import (
    CorruptFileError,
    DiskFullError,
    FileTooLargeError,
    ReadOnlyStorageError,
    StorageError,
    StorageLockedError,
    StoragePermissionError,
)
from expctl.runlog.holders import describe_holders

__all__ = ["LOCK_TIMEOUT_S", "ReadOnlyDatabase", "connect_readonly", "connect_writable",
           "sqlite_error"]

#: How long a write waits for another process's lock on the catalog before giving up.
LOCK_TIMEOUT_S = 10.0

_REBUILD = "`expctl catalog rebuild` recreates the catalog from the run files' own metadata."


def connect_writable(path: Path, *, timeout: float = LOCK_TIMEOUT_S) -> sqlite3.Connection:
    """A connection that may write, waiting up to ``timeout`` s for other writers' locks."""
    try:
        db = sqlite3.connect(path, timeout=timeout, check_same_thread=False)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
    except sqlite3.Error as exc:
        raise sqlite_error(exc, "open the run catalog", path, timeout=timeout) from None
    return db


class ReadOnlyDatabase:
    """A read-only connection and, when a snapshot was needed, the folder to remove after."""

    def __init__(self, db: sqlite3.Connection, snapshot: Path | None) -> None:
        self.db = db
        self._snapshot = snapshot

    def close(self) -> None:
        self.db.close()
        if self._snapshot is not None:
            shutil.rmtree(self._snapshot, ignore_errors=True)
            self._snapshot = None


def connect_readonly(path: Path, doing: str = "read the run catalog") -> ReadOnlyDatabase:
    """Open the catalog (or another WAL database: ``doing`` names it in errors) without
    writing anything next to it (see the module doc)."""
    path = Path(path)
    wal, shm = _sidecar(path, "-wal"), _sidecar(path, "-shm")
    try:
        if shm.exists():
            db = sqlite3.connect(f"file:{quote(str(path.resolve()))}?mode=ro", uri=True,
                                 check_same_thread=False, timeout=LOCK_TIMEOUT_S)
            return ReadOnlyDatabase(_probe(db), None)
        if wal.exists() and wal.stat().st_size > 0:
            return _snapshot(path, wal)
        db = sqlite3.connect(f"file:{quote(str(path.resolve()))}?immutable=1", uri=True,
                             check_same_thread=False)
        return ReadOnlyDatabase(_probe(db), None)
    except sqlite3.Error as exc:
        raise sqlite_error(exc, doing, path) from None
    except OSError as exc:
        from expctl.errors import storage_error

        raise storage_error(exc, doing, path) from None


def _snapshot(path: Path, wal: Path) -> ReadOnlyDatabase:
    """Copy database + WAL to a private folder and open that (SQLite replays the WAL)."""
    folder = Path(tempfile.mkdtemp(prefix="expctl-catalog-"))
    try:
        copy = folder / path.name
        shutil.copyfile(path, copy)
        shutil.copyfile(wal, _sidecar(copy, "-wal"))
        db = sqlite3.connect(copy, check_same_thread=False)
        db.execute("PRAGMA query_only=ON")
        return ReadOnlyDatabase(_probe(db), folder)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise


def _probe(db: sqlite3.Connection) -> sqlite3.Connection:
    """Read the schema once, so a file that is not a database fails here, not later."""
    db.execute("SELECT count(*) FROM sqlite_master").fetchone()
    return db


def _sidecar(path: Path, suffix: str) -> Path:
    return path.with_name(path.name + suffix)


def sqlite_error(exc: sqlite3.Error, doing: str, path: Path, *,
                 timeout: float = LOCK_TIMEOUT_S) -> StorageError:
    """The :class:`StorageError` an SQLite error met while ``doing`` on ``path`` means."""
    code = getattr(exc, "sqlite_errorcode", None)
    primary = None if code is None else code & 0xFF
    text = str(exc)
    where = f"cannot {doing} {path}"
    if primary in (5, 6):  # SQLITE_BUSY, SQLITE_LOCKED
        holders = describe_holders(path, _sidecar(path, "-shm"), _sidecar(path, "-wal"))
        who = f" by {holders}" if holders else " by another process"
        return StorageLockedError(
            f"{where}: it stayed locked{who} for {timeout:g} s", path=path,
            hint="Let that process finish, or stop it.")
    if primary in (11, 26):  # SQLITE_CORRUPT, SQLITE_NOTADB
        return CorruptFileError(f"{where}: {text}", path=path, hint=_REBUILD)
    if primary == 1 and ("no such table" in text or "no such column" in text):
        return CorruptFileError(f"{where}: it is not an expctl run catalog ({text})",
                                path=path, hint=_REBUILD)
    if primary == 13:  # SQLITE_FULL
        return DiskFullError(f"{where}: the disk is full", path=path,
                             hint=f"Free space on the file system holding {path.parent} "
                                  f"(`df -h {path.parent}` shows it).")
    if primary in (3, 8, 14):  # SQLITE_PERM, SQLITE_READONLY, SQLITE_CANTOPEN
        return _access_error(where, text, path)
    if primary == 10:  # SQLITE_IOERR: SQLite does not pass the errno on; look
        return _io_error(where, text, path)
    return StorageError(f"{where}: {text}", path=path)


def _access_error(where: str, text: str, path: Path) -> StorageError:
    folder = path.parent
    if _read_only_mount(folder):
        return ReadOnlyStorageError(f"{where}: the file system is mounted read-only",
                                    path=path, hint="Choose a writable --data-dir.")
    if not folder.is_dir():
        return StorageError(f"{where}: the folder {folder} does not exist", path=path)
    if not os.access(folder, os.W_OK | os.X_OK) or (path.exists()
                                                     and not os.access(path, os.W_OK)):
        return StoragePermissionError(
            f"{where}: permission denied ({text})", path=path,
            hint=f"Check the permissions of {folder} (`ls -l {folder}`) or choose another "
                 "--data-dir.")
    return StorageError(f"{where}: {text}", path=path)


def _io_error(where: str, text: str, path: Path) -> StorageError:
    soft, _ = resource.getrlimit(resource.RLIMIT_FSIZE)
    if soft != resource.RLIM_INFINITY:  # the usual cause of a write error under a limit
        return FileTooLargeError(
            f"{where}: a write failed ({text}) and this process may write files of at most "
            f"{soft} bytes", path=path,
            hint="Raise the limit (`ulimit -f`) or run where it is larger.")
    try:
        free = os.statvfs(path.parent).f_bavail
    except OSError:
        free = 1
    if free == 0:
        return DiskFullError(f"{where}: the disk is full ({text})", path=path,
                             hint=f"Free space on the file system holding {path.parent}.")
    return StorageError(f"{where}: {text}", path=path,
                        hint="Check the disk (`dmesg` may say more).")


def _read_only_mount(folder: Path) -> bool:
    try:
        return bool(os.statvfs(folder).f_flag & os.ST_RDONLY)
    except OSError:
        return False
