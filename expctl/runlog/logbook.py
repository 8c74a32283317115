"""The logbook: operators' comments, each filed with the run, scan and step it belongs to.

:class:`Logbook` follows the engine's events to know what is going on (the run
being taken or the last one, the last scan, the sequence step) and writes a
``CommentAdded`` as a row of the catalog's ``logbook`` table, with the wall time it
was typed (``wall_time``) beside the session clock's (``time``, which orders it
among runs).  Comments are
typed while a command runs, so they arrive on another thread than the
engine's (the step and sequence are forgotten when the engine goes idle; the last run
and scan are kept): each is written through its own short SQLite connection (WAL), never
the catalog's.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

from expctl.engine.events import (
    CommentAdded,
    RunStarted,
    RunStopped,
    ScanOpened,
    StateChanged,
    StepStarted,
)
from expctl.paths import DataDir
from expctl.runlog.dbfile import connect_readonly, connect_writable

__all__ = ["Logbook", "read_logbook"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS logbook (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    time REAL NOT NULL,
    wall_time REAL NOT NULL,
    text TEXT NOT NULL,
    author TEXT NOT NULL DEFAULT '',
    run INTEGER,
    run_running INTEGER NOT NULL DEFAULT 0,
    scan INTEGER,
    sequence TEXT NOT NULL DEFAULT '',
    step_path TEXT NOT NULL DEFAULT ''
);
"""


class Logbook:
    """Engine-event subscriber filing comments in ``catalog.sqlite`` (table ``logbook``).

    Args:
        data_dir: the data directory.
    """

    def __init__(self, data_dir: Path) -> None:
        self.path = DataDir(data_dir).catalog
        self._lock = threading.Lock()
        self._run: int | None = None
        self._running = False
        self._scan: int | None = None
        self._sequence = ""
        self._step = ""
        #: what the last comment was filed with (``{"comment": id, "run": …, "scan": …}``)
        self.last: dict[str, Any] = {}

    def __call__(self, event: Any) -> None:
        if isinstance(event, CommentAdded):
            self.add(event)
            return
        with self._lock:
            if isinstance(event, RunStarted):
                self._run, self._running = event.record.run, True
                self._sequence = event.context.sequence
            elif isinstance(event, RunStopped):
                self._running = False
            elif isinstance(event, ScanOpened):
                self._scan = event.number
            elif isinstance(event, StepStarted):
                self._step = event.path
            elif isinstance(event, StateChanged) and event.new == "idle":
                self._sequence, self._step = "", ""  # a finished sequence is no longer "now"

    def add(self, event: CommentAdded) -> int:
        """File one comment; returns its number in the logbook."""
        with self._lock:
            row = (event.time, time.time(), event.text, event.author, self._run,
                   int(self._running), self._scan, self._sequence, self._step)
        with closing(connect_writable(self.path)) as db, db:
            db.executescript(_SCHEMA)
            cur = db.execute("INSERT INTO logbook (time, wall_time, text, author, run,"
                             " run_running, scan, sequence, step_path)"
                             " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", row)
            number = int(cur.lastrowid or 0)
        self.last = {"comment": number, "run": row[4], "scan": row[6], "step": row[8]}
        return number


def read_logbook(data_dir: Path, *, run: int | None = None) -> Iterator[dict[str, Any]]:
    """The logbook's comments, oldest first (those filed with ``run`` only, if given)."""
    path = DataDir(data_dir).catalog
    if not path.exists():
        return iter(())
    snapshot = connect_readonly(path)  # an archive the user cannot write reads too
    try:
        db = snapshot.db
        db.row_factory = sqlite3.Row
        have = db.execute("SELECT name FROM sqlite_master WHERE name = 'logbook'").fetchone()
        if have is None:
            return iter(())
        query = "SELECT * FROM logbook" + (" WHERE run = ?" if run is not None else "")
        rows = db.execute(query + " ORDER BY id", (run,) if run is not None else ()).fetchall()
    finally:
        snapshot.close()
    return iter([dict(r) for r in rows])
