"""The run catalog: one SQLite (WAL) row per run, plus logged scans.

SQLite in WAL mode lets ``expctl runs`` and ``expctl reduce --follow`` read
while a sequence writes, and survives ``kill -9`` (the last committed row is
there).  Rows are written at run start (status 2, ``running``) and updated at
stop; a row still ``running`` when the next logger attaches belongs to a
crashed session and is marked ``incomplete`` (its file recovered).
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Iterator, Mapping
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from expctl.engine.events import RunStarted, RunStopped, ShotBlockTaken
from expctl.errors import DataError
from expctl.runlog.paths import catalog_path, run_file_path

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
#: Columns holding JSON; decoded when rows are read.
_JSON_COLUMNS = ("loop", "params", "scan", "sample_spot", "detectors", "flags", "moved_to",
                 "result", "axes")


def file_checksum(path: Path) -> str:
    """SHA-256 of a file, so a copy elsewhere can be verified against the catalog."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


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
        readonly: open an existing catalog for queries only.
    """

    def __init__(self, data_dir: Path, *, readonly: bool = False) -> None:
        self.data_dir = Path(data_dir)
        self.path = catalog_path(self.data_dir)
        if readonly:
            if not self.path.exists():
                raise DataError(f"no run catalog at {self.path}",
                                hint="run a sequence first, or pass --data-dir")
            self._db = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True,
                                       check_same_thread=False)
        else:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path, check_same_thread=False)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(_SCHEMA)
            _add_scan_columns(self._db)
            self._db.commit()
        self._db.row_factory = sqlite3.Row

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> Catalog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- subscriber -------------------------------------------------------------------
    def __call__(self, event: Any) -> None:
        if isinstance(event, RunStarted):
            self.run_started(event)
        elif isinstance(event, RunStopped):
            self.run_stopped(event)
        elif isinstance(event, ShotBlockTaken):
            self._db.execute("UPDATE runs SET shots = shots + ? WHERE run = ?",
                             (len(event.block), event.block.run))
            self._db.commit()

    def run_started(self, event: RunStarted) -> None:
        """Insert the run as ``running`` (status 2) with its context."""
        r, c = event.record, event.context
        path = run_file_path(self.data_dir, r.beamline, r.run)
        with self._db:
            self._db.execute(
                "INSERT INTO runs (run, beamline, status, outcome, start_time, hightag,"
                " start_tag, shots, sequence, sequence_file, step_path, label, comment, loop,"
                " params, scan, sample_spot, detectors, file) VALUES"
                " (?, ?, 2, 'running', ?, ?, ?, 0, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (r.run, r.beamline, r.start_time, r.hightag, r.start_tag, c.sequence,
                 c.sequence_file, c.step_path, c.label or r.label, r.comment,
                 _dump(c.loop), _dump(c.params), _dump(c.scan), _dump(c.sample_spot),
                 _dump(list(r.detectors)), self.relative(path)))

    def run_stopped(self, event: RunStopped) -> None:
        """Record the stop: status, outcome, end tag, shots and the file's checksum."""
        r = event.record
        path = run_file_path(self.data_dir, r.beamline, r.run)
        checksum = file_checksum(path) if path.exists() else None
        with self._db:
            cur = self._db.execute(
                "UPDATE runs SET status = ?, outcome = ?, stop_time = ?, end_tag = ?,"
                " shots = ?, checksum = ?, file = ? WHERE run = ?",
                (r.status, event.outcome, r.stop_time, r.end_tag, r.shots, checksum,
                 self.relative(path) if path.exists() else None, r.run))
            if cur.rowcount == 0:
                raise DataError(f"run {r.run} stopped but the catalog never saw it start",
                                hint="attach the run logger before the first run starts")

    def recover(self) -> list[int]:
        """Mark runs left ``running`` by a crashed session as ``incomplete``.

        Their files are rewritten readable (see :func:`recover_file`) and the
        shots and end tag taken from what was flushed.

        Returns:
            the recovered run numbers.
        """
        from expctl.runlog.writer import recover_file

        rows = self._db.execute("SELECT run, beamline FROM runs WHERE status = 2").fetchall()
        recovered = []
        for row in rows:
            path = run_file_path(self.data_dir, row["beamline"], row["run"])
            shots, end_tag, checksum = 0, None, None
            if path.exists():
                shots = recover_file(path)
            if path.exists():  # an unreadable file was set aside as *.unreadable.h5
                end_tag = _end_tag(path)
                checksum = file_checksum(path)
            with self._db:
                self._db.execute(
                    "UPDATE runs SET status = 0, outcome = 'incomplete', shots = ?,"
                    " end_tag = ?, checksum = ? WHERE run = ?",
                    (shots, end_tag, checksum, row["run"]))
            recovered.append(int(row["run"]))
        return recovered

    # -- alignment scans ----------------------------------------------------------------
    def add_alignment(self, values: Mapping[str, Any]) -> int:
        """Insert one logged alignment scan; returns its id."""
        cols = list(values)
        encoded = [_dump(values[c]) if c in _JSON_COLUMNS else values[c] for c in cols]
        with self._db:
            cur = self._db.execute(
                f"INSERT INTO alignment_scans ({', '.join(cols)}) "
                f"VALUES ({', '.join('?' for _ in cols)})", encoded)
        return int(cur.lastrowid or 0)

    def update_alignment(self, scan_id: int, values: Mapping[str, Any]) -> None:
        """Amend a logged scan (e.g. the move it caused, known only afterwards)."""
        cols = list(values)
        encoded = [_dump(values[c]) if c in _JSON_COLUMNS else values[c] for c in cols]
        with self._db:
            self._db.execute(
                f"UPDATE alignment_scans SET {', '.join(f'{c} = ?' for c in cols)} WHERE id = ?",
                [*encoded, scan_id])

    def alignments(self) -> list[dict[str, Any]]:
        """All logged scans (alignment scans and console scan records), oldest first."""
        rows = self._db.execute("SELECT * FROM alignment_scans ORDER BY id").fetchall()
        return [_decode(row) for row in rows]

    def scan(self, number: int) -> dict[str, Any]:
        """One logged scan; :class:`DataError` naming the known range when absent."""
        row = self._db.execute("SELECT * FROM alignment_scans WHERE id = ?",
                               (number,)).fetchone()
        if row is None:
            lo, hi = self._db.execute(
                "SELECT min(id), max(id) FROM alignment_scans").fetchone()
            allowed = f"{lo} .. {hi}" if lo is not None else "none logged yet"
            raise DataError(f"scan {number} is not in the catalog {self.path}", allowed=allowed)
        return _decode(row)

    # -- queries ----------------------------------------------------------------------
    def rows(self) -> Iterator[CatalogRow]:
        """Every run, in run order."""
        for row in self._db.execute("SELECT * FROM runs ORDER BY run"):
            yield CatalogRow(_decode(row))

    def get(self, run: int) -> CatalogRow:
        """One run's row; :class:`DataError` naming the known range when absent."""
        row = self._db.execute("SELECT * FROM runs WHERE run = ?", (run,)).fetchone()
        if row is None:
            lo, hi = self._db.execute("SELECT min(run), max(run) FROM runs").fetchone()
            allowed = f"{lo} .. {hi}" if lo is not None else "none logged yet"
            raise DataError(f"run {run} is not in the catalog {self.path}", allowed=allowed)
        return CatalogRow(_decode(row))

    def file_of(self, run: int) -> Path:
        """Absolute path of a run's file."""
        row = self.get(run)
        if not row["file"]:
            raise DataError(f"run {run} has no run file in the catalog")
        return self.data_dir / row["file"]

    def relative(self, path: Path) -> str:
        """``path`` relative to the data directory, so a beamtime directory can move."""
        try:
            return str(path.relative_to(self.data_dir))
        except ValueError:
            return str(path)


def _add_scan_columns(db: sqlite3.Connection) -> None:
    have = {row[1] for row in db.execute("PRAGMA table_info(alignment_scans)")}
    for name, declaration in SCAN_COLUMNS.items():
        if name not in have:
            db.execute(f"ALTER TABLE alignment_scans ADD COLUMN {name} {declaration}")


def _dump(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)


def _decode(row: sqlite3.Row) -> dict[str, Any]:
    out = dict(row)
    for key in _JSON_COLUMNS:
        if key in out and isinstance(out[key], str):
            out[key] = json.loads(out[key])
    return out


def _end_tag(path: Path) -> int | None:
    import h5py

    with closing(h5py.File(path, "r")) as f:
        end = int(f.attrs.get("end_tag", -1))
    return None if end < 0 else end
