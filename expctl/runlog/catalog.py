"""The run catalog: one SQLite (WAL) row per run, plus logged scans.

SQLite in WAL mode lets ``expctl runs`` and ``expctl reduce --follow`` read
while a sequence writes, and survives ``kill -9`` (the last committed row is
there).  A run's row is written at its start (status 2, ``running``) *before*
its file exists, and updated at its stop; a row still ``running`` when the next
logger attaches belongs to a crashed session (see :mod:`expctl.runlog.recovery`).
Every failure is a :class:`~expctl.errors.StorageError` naming the file and
the reason (locked by whom, disk full, corrupt), never a bare SQLite error.
A run whose step a resumed campaign redid is marked ``superseded``.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from expctl.engine.events import RunStarted, RunStopped, RunSuperseded, ShotBlockTaken
from expctl.errors import CorruptFileError, DataError, StorageError
from expctl.paths import DataDir, check_layout, prepare_for_writing
from expctl.runlog.checksum import file_checksum
from expctl.runlog.dbfile import (
    LOCK_TIMEOUT_S,
    ReadOnlyDatabase,
    connect_readonly,
    connect_writable,
    sqlite_error,
)
from expctl.runlog.folders import FolderGuard
from expctl.runlog.lease import Lease, take_lease
from expctl.runlog.writer import STREAM_AFTER_S, STREAM_AFTER_SHOTS

if TYPE_CHECKING:
    from expctl.runlog.writer import WrittenRun

__all__ = ["Catalog", "CatalogRow", "file_checksum"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    run INTEGER PRIMARY KEY,
    beamline INTEGER NOT NULL,
    status INTEGER NOT NULL,
    outcome TEXT NOT NULL,
    start_time REAL,
    stop_time REAL,
    hightag INTEGER,
    start_tag INTEGER,
    end_tag INTEGER,
    shots INTEGER NOT NULL DEFAULT 0,
    sequence TEXT NOT NULL DEFAULT '',
    sequence_file TEXT NOT NULL DEFAULT '',
    step_path TEXT NOT NULL DEFAULT '',
    label TEXT NOT NULL DEFAULT '',
    comment TEXT NOT NULL DEFAULT '',
    loop TEXT NOT NULL DEFAULT '{}',
    params TEXT NOT NULL DEFAULT '{}',
    scan TEXT NOT NULL DEFAULT '{}',
    units TEXT NOT NULL DEFAULT '{}',
    sample_spot TEXT NOT NULL DEFAULT 'null',
    detectors TEXT NOT NULL DEFAULT '[]',
    file TEXT,
    checksum TEXT
);
CREATE TABLE IF NOT EXISTS alignment_scans (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL,
    time REAL NOT NULL,
    sequence TEXT NOT NULL DEFAULT '',
    step_path TEXT NOT NULL DEFAULT '',
    axis TEXT NOT NULL DEFAULT '',
    points INTEGER NOT NULL DEFAULT 0,
    center REAL,
    fwhm REAL,
    flags TEXT NOT NULL DEFAULT '[]',
    moved_to TEXT NOT NULL DEFAULT 'null',
    result TEXT NOT NULL DEFAULT '{}',
    file TEXT,
    png TEXT
);
"""

#: Columns of scan records added to ``alignment_scans`` (ADR 14): one table, one numbering
#: for alignment scans inside sequences and the scans typed at a console.  Added to
#: catalogs written before them when they are opened for writing.
SCAN_COLUMNS = {
    "kind": "TEXT NOT NULL DEFAULT 'alignment'",
    "command": "TEXT NOT NULL DEFAULT ''",
    "axes": "TEXT NOT NULL DEFAULT '[]'",
    "outcome": "TEXT NOT NULL DEFAULT 'completed'",
    "planned": "INTEGER",
    "stop_time": "REAL",
    "signal": "TEXT NOT NULL DEFAULT ''",
    "unit": "TEXT NOT NULL DEFAULT ''",
    "checksum": "TEXT",
}
#: Every column of the runs table, in order (what a rebuilt row must fill).
RUN_COLUMNS = ("run", "beamline", "status", "outcome", "start_time", "stop_time", "hightag",
               "start_tag", "end_tag", "shots", "sequence", "sequence_file", "step_path",
               "label", "comment", "loop", "params", "scan", "units", "sample_spot",
               "detectors", "file", "checksum")
#: Columns holding JSON; decoded when rows are read.
_JSON_COLUMNS = ("loop", "params", "scan", "units", "sample_spot", "detectors", "flags",
                 "moved_to", "result", "axes")


@dataclass(frozen=True, slots=True)
class CatalogRow:
    """One run as the catalog knows it (JSON columns decoded)."""

    values: Mapping[str, Any]

    def __getitem__(self, key: str) -> Any:
        return self.values[key]

    @property
    def run(self) -> int:
        return int(self.values["run"])

    def as_dict(self) -> dict[str, Any]:
        return dict(self.values)


class Catalog:
    """SQLite run catalog; also an engine-event subscriber.

    Args:
        data_dir: the data directory; the database is ``catalog.sqlite`` in it.
        readonly: open an existing catalog for queries only, writing nothing beside it
            (so archives the user cannot write read too).
        lock_timeout: how long a write waits for another process's lock (seconds).
        path: the database file, if not the data directory's catalog (a rebuild
            writes a new one beside it).
    """

    subscriber_name = "run catalog"

    def __init__(self, data_dir: Path, *, readonly: bool = False,
                 lock_timeout: float = LOCK_TIMEOUT_S, path: Path | None = None) -> None:
        self.data_dir = Path(data_dir)
        self.layout = DataDir(self.data_dir)
        self.path = Path(path) if path is not None else self.layout.catalog
        self.readonly = readonly
        self.lock_timeout = lock_timeout
        self._snapshot: ReadOnlyDatabase | None = None
        self._leases: dict[int, Lease] = {}
        self._lease_guard = FolderGuard(self.layout)  # (leases of every run: one folder)
        #: running run -> (shots not yet in its row, shots taken, time.monotonic() at start)
        self._running: dict[int, tuple[int, int, float]] = {}
        #: what the run writer says it left on disk at a stop (so it is not read back)
        self._written: dict[int, WrittenRun] = {}
        if readonly:
            check_layout(self.data_dir)
            if not self.path.exists():
                raise DataError(f"no run catalog at {self.path}",
                                hint="run a sequence first, or pass --data-dir")
            self._snapshot = connect_readonly(self.path)
            self._db = self._snapshot.db
            with self._reading("read"):
                self._db.execute("SELECT run, file, checksum FROM runs LIMIT 1").fetchall()
        else:
            prepare_for_writing(self.data_dir)  # one layout per directory, marked
            self.layout.guard_write(self.path)
            self._db = connect_writable(self.path, timeout=lock_timeout)
            with self._writing("create the tables of"):
                self._db.executescript(_SCHEMA)
                _add_scan_columns(self._db)
        self._db.row_factory = sqlite3.Row

    def close(self) -> None:
        with contextlib.suppress(StorageError):  # runs that never stopped: their shots so far
            for run in list(self._running):
                self._count_shots(run, 0, now=True)
        self._running.clear()
        for lease in self._leases.values():  # runs that never stopped: recovered next time
            lease.release()
        self._leases.clear()
        if self._snapshot is not None:
            self._snapshot.close()
        else:
            self._db.close()

    def __enter__(self) -> Catalog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextlib.contextmanager
    def _writing(self, doing: str) -> Iterator[None]:
        """One transaction; SQLite errors become StorageErrors saying what was being done."""
        try:
            with self._db:
                yield
        except sqlite3.Error as exc:
            raise sqlite_error(exc, doing, self.path, timeout=self.lock_timeout) from None

    @contextlib.contextmanager
    def _reading(self, doing: str) -> Iterator[None]:
        try:
            yield
        except sqlite3.Error as exc:
            raise sqlite_error(exc, doing, self.path, timeout=self.lock_timeout) from None

    # -- subscriber -------------------------------------------------------------------
    def __call__(self, event: Any) -> None:
        if isinstance(event, RunStarted):
            self.run_started(event)
        elif isinstance(event, RunStopped):
            self.run_stopped(event)
        elif isinstance(event, ShotBlockTaken):
            self._count_shots(event.block.run, len(event.block))
        elif isinstance(event, RunSuperseded):
            from expctl.runlog.recovery import supersede

            supersede(self, [event.run])

    def _count_shots(self, run: int, shots: int, *, now: bool = False) -> None:
        """Add a block's shots to a running run's count.  While the writer keeps the run
        in memory (under :data:`STREAM_AFTER_SHOTS` shots and :data:`STREAM_AFTER_S` of
        wall time: its shots reach the disk only at its stop) the count waits for the
        stop, which records it whole: a short run commits nothing per block.  Past
        either bound every block is counted as it comes, as the writer streams it, so
        after a kill the row counts what the file holds."""
        uncounted, total, started = self._running.get(run, (0, 0, time.monotonic()))
        uncounted, total = uncounted + shots, total + shots
        if uncounted and (now or total >= STREAM_AFTER_SHOTS
                          or time.monotonic() - started >= STREAM_AFTER_S):
            with self._writing(f"count the shots of run {run} in"):
                self._db.execute("UPDATE runs SET shots = shots + ? WHERE run = ?",
                                 (uncounted, run))
            uncounted = 0
        self._running[run] = (uncounted, total, started)

    def run_started(self, event: RunStarted) -> None:
        """Insert the run as ``running`` (status 2) with its context, before its file exists."""
        r = event.record
        path = self.layout.run_file(r.beamline, r.run)
        with self._reading(f"look run {r.run} up in"):
            known = self._db.execute("SELECT file FROM runs WHERE run = ?",
                                     (r.run,)).fetchone()
        if known is not None:
            raise DataError(f"run {r.run} is already in the catalog {self.path} "
                            f"(file {known[0]}); run numbers are never reused",
                            hint="Check that the facility run counter was not reset.")
        lease = take_lease(self.layout, r.beamline, r.run, self._lease_guard)  # before the row
        try:
            self._insert_started(event, path)
        except BaseException:
            lease.release()
            raise
        self._leases[r.run] = lease
        self._running[r.run] = (0, 0, time.monotonic())

    def _insert_started(self, event: RunStarted, path: Path) -> None:
        r, c = event.record, event.context
        with self._writing(f"record the start of run {r.run} in"):
            self._db.execute(
                "INSERT INTO runs (run, beamline, status, outcome, start_time, hightag,"
                " start_tag, shots, sequence, sequence_file, step_path, label, comment, loop,"
                " params, scan, units, sample_spot, detectors, file) VALUES"
                " (?, ?, 2, 'running', ?, ?, ?, 0, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (r.run, r.beamline, r.start_time, r.hightag, r.start_tag, c.sequence,
                 c.sequence_file, c.step_path, c.label or r.label, r.comment,
                 _dump(c.loop), _dump(c.params), _dump(c.scan), _dump(c.units),
                 _dump(c.sample_spot), _dump(list(r.detectors)), self.relative(path)))

    def written(self, run: int, written: WrittenRun | None) -> None:
        """What the run writer left on disk at ``run``'s stop (shots, and the checksum of
        the bytes it wrote if it knows it): :meth:`run_stopped` records that instead of
        reading the file back."""
        if written is not None:
            self._written[run] = written

    def run_stopped(self, event: RunStopped) -> None:
        """Record the stop: status, outcome, end tag, shots and the file's checksum."""
        r = event.record
        path = self.layout.run_file(r.beamline, r.run)
        written = self._written.pop(r.run, None)
        self._running.pop(r.run, None)  # (the count is recorded whole below)
        checksum: str | None
        if written is not None and written.path == path:
            exists = True
            checksum = written.checksum or file_checksum(path)
            shots = written.shots
        else:
            exists = path.exists()
            checksum = file_checksum(path) if exists else None
            # the shots the file holds: fewer than the DAQ took if logging failed mid-run
            shots = _file_shots(path, r.shots) if exists else r.shots
        with self._writing(f"record the end of run {r.run} in"):
            cur = self._db.execute(
                "UPDATE runs SET status = ?, outcome = ?, stop_time = ?, end_tag = ?,"
                " shots = ?, checksum = ?, file = ? WHERE run = ?",
                (r.status, event.outcome, r.stop_time, r.end_tag, shots, checksum,
                 self.relative(path) if exists else None, r.run))
        lease = self._leases.pop(r.run, None)
        if lease is not None:
            lease.release()
        if cur.rowcount == 0:
            raise DataError(f"run {r.run} stopped but the catalog never saw it start",
                            hint="attach the run logger before the first run starts")

    def put_run(self, values: Mapping[str, Any]) -> None:
        """Insert or replace a whole row (recovery and rebuild, from a run file's metadata)."""
        cols = [c for c in RUN_COLUMNS if c in values]
        encoded = [_dump(values[c]) if c in _JSON_COLUMNS else values[c] for c in cols]
        with self._writing(f"register run {values.get('run')} in"):
            self._db.execute(f"INSERT OR REPLACE INTO runs ({', '.join(cols)}) "
                             f"VALUES ({', '.join('?' for _ in cols)})", encoded)

    def update_run(self, run: int, values: Mapping[str, Any]) -> None:
        """Amend columns of one run's row (recovery: outcome, file, shots, checksum)."""
        cols = list(values)
        encoded = [_dump(values[c]) if c in _JSON_COLUMNS else values[c] for c in cols]
        with self._writing(f"update run {run} in"):
            self._db.execute(f"UPDATE runs SET {', '.join(f'{c} = ?' for c in cols)} "
                             "WHERE run = ?", [*encoded, run])

    # -- alignment scans ----------------------------------------------------------------
    def add_alignment(self, values: Mapping[str, Any]) -> int:
        """Insert one logged alignment scan; returns its id."""
        cols = list(values)
        encoded = [_dump(values[c]) if c in _JSON_COLUMNS else values[c] for c in cols]
        with self._writing("log an alignment scan in"):
            cur = self._db.execute(
                f"INSERT INTO alignment_scans ({', '.join(cols)}) "
                f"VALUES ({', '.join('?' for _ in cols)})", encoded)
        return int(cur.lastrowid or 0)

    def update_alignment(self, scan_id: int, values: Mapping[str, Any]) -> None:
        """Amend a logged scan (e.g. the move it caused, known only afterwards)."""
        cols = list(values)
        encoded = [_dump(values[c]) if c in _JSON_COLUMNS else values[c] for c in cols]
        with self._writing(f"update alignment scan {scan_id} in"):
            self._db.execute(
                f"UPDATE alignment_scans SET {', '.join(f'{c} = ?' for c in cols)} WHERE id = ?",
                [*encoded, scan_id])

    def alignments(self) -> list[dict[str, Any]]:
        """All logged scans (alignment scans and console scan records), oldest first."""
        with self._reading("read the scans of"):
            rows = self._db.execute("SELECT * FROM alignment_scans ORDER BY id").fetchall()
            return [_decode(row, self.path) for row in rows]

    def scan(self, number: int) -> dict[str, Any]:
        """One logged scan; :class:`DataError` naming the known range when absent."""
        with self._reading(f"read scan {number} from"):
            row = (self._db.execute("SELECT * FROM alignment_scans WHERE id = ?",
                                    (number,)).fetchone()
                   if _SQL_INT_MIN <= number <= _SQL_INT_MAX else None)
            if row is None:
                lo, hi = self._db.execute(
                    "SELECT min(id), max(id) FROM alignment_scans").fetchone()
        if row is None:
            allowed = f"{lo} .. {hi}" if lo is not None else "none logged yet"
            raise DataError(f"scan {number} is not in the catalog {self.path}", allowed=allowed)
        return _decode(row, self.path)

    # -- queries ----------------------------------------------------------------------
    def quick_check(self) -> str:
        """SQLite's own structural check of the database: ``""`` when it is sound."""
        with self._reading("check"):
            found = [str(r[0]) for r in self._db.execute("PRAGMA quick_check(20)")]
        return "" if found == ["ok"] else "; ".join(found)

    def rows(self) -> Iterator[CatalogRow]:
        """Every run, in run order."""
        with self._reading("read the runs of"):
            rows = self._db.execute("SELECT * FROM runs ORDER BY run").fetchall()
        for row in rows:
            yield CatalogRow(_decode(row, self.path))

    def get(self, run: int) -> CatalogRow:
        """One run's row; :class:`DataError` naming the known range when absent."""
        with self._reading(f"read run {run} from"):
            row = (self._db.execute("SELECT * FROM runs WHERE run = ?", (run,)).fetchone()
                   if _SQL_INT_MIN <= run <= _SQL_INT_MAX else None)
            if row is None:
                lo, hi = self._db.execute("SELECT min(run), max(run) FROM runs").fetchone()
        if row is None:
            allowed = f"{lo} .. {hi}" if lo is not None else "none logged yet"
            raise DataError(f"run {run} is not in the catalog {self.path}", allowed=allowed)
        return CatalogRow(_decode(row, self.path))

    def file_of(self, run: int) -> Path:
        """Absolute path of a run's file."""
        row = self.get(run)
        if not row["file"]:
            raise DataError(f"run {run} has no run file in the catalog")
        return self.data_dir / row["file"]

    def verified_file(self, run: int) -> Path:
        """A run's file, checked against the SHA-256 the catalog recorded at its stop.

        A file still being written (no checksum yet) is returned unchecked.
        """
        row = self.get(run)
        path = self.file_of(run)
        if row["checksum"] and path.exists() and file_checksum(path) != row["checksum"]:
            raise CorruptFileError(
                f"run {run}'s file {path} does not match the SHA-256 the catalog recorded "
                "when the run stopped: it was changed or damaged since", path=path,
                hint="Restore it from a copy (the checksum identifies the right one); "
                     "`expctl check` lists every file that differs.")
        return path

    def relative(self, path: Path) -> str:
        """``path`` relative to the data directory, so a beamtime directory can move."""
        try:
            return str(Path(path).relative_to(self.data_dir))
        except ValueError:
            return str(path)


def _add_scan_columns(db: sqlite3.Connection) -> None:
    have = {row[1] for row in db.execute("PRAGMA table_info(alignment_scans)")}
    for name, declaration in SCAN_COLUMNS.items():
        if name not in have:
            db.execute(f"ALTER TABLE alignment_scans ADD COLUMN {name} {declaration}")


#: SQLite stores 64-bit integers; a larger run number cannot be in the catalog.
_SQL_INT_MIN, _SQL_INT_MAX = -(1 << 63), (1 << 63) - 1


def _file_shots(path: Path, default: int) -> int:
    """The ``shots`` attribute the writer left in a run file (``default`` if it has none)."""
    from expctl.runlog.reader import read_attributes

    try:
        return int(read_attributes(path).get("shots", default))
    except (StorageError, DataError, TypeError, ValueError):
        return default


def _dump(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)


def _decode(row: sqlite3.Row, path: Path) -> dict[str, Any]:
    out = dict(row)
    for key in _JSON_COLUMNS:
        if key in out and isinstance(out[key], str):
            try:
                out[key] = json.loads(out[key])
            except ValueError:
                raise CorruptFileError(
                    f"the catalog {path} holds a damaged {key!r} value in "
                    f"{'run ' + str(out['run']) if 'run' in out else 'a row'}",
                    path=path, hint="`expctl catalog rebuild` recreates the catalog from "
                                    "the run files' own metadata.") from None
    return out
