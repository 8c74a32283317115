"""The sample registry: which spots of which sample are exposed or destroyed, by what.

One SQLite file, ``<data_dir>/samples.sqlite``, shared by every campaign, shell and
Python session on that data directory.  A spot is written as *exposed* (with the
campaign and step that took it) before the stage moves there, so nothing — another
campaign, a crash and resume, a shell — is ever handed that spot again unless the
user says so (:meth:`SampleRegistry.unmark`).  Runs taken at a spot are added to
it; a run taken with the pump on marks it *destroyed*.

Writes are short ``BEGIN IMMEDIATE`` transactions in WAL mode, so concurrent writers
queue instead of losing updates.  What keeps a spot from being handed out again — its
claim, a *destroyed* mark — is committed with ``synchronous=FULL`` (one fsync of the
WAL: on disk before the engine continues, even across a power cut); the runs added to
a spot at their stop are a record, not a guard, and are committed with
``synchronous=NORMAL`` (kept across ``kill -9``, not fsynced; a later claim's fsync
takes them along).  WAL costs one fsync a commit where the rollback journal took
three (~4 ms against ~18 ms here, ADR 16).  Readers open it like the run catalog
(:func:`expctl.runlog.dbfile.connect_readonly`), so a read-only data directory reads
without a ``-shm`` file.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import field
from pathlib import Path
from typing import Any

from expctl.errors import DataError, StorageError, UserError
from expctl.records import record
from expctl.runlog.dbfile import ReadOnlyDatabase, connect_readonly, sqlite_error

__all__ = ["SampleInfo", "SampleRegistry", "SpotRecord", "parse_spots", "registry_path"]

STATES = ("exposed", "destroyed")
_SCHEMA = """
CREATE TABLE IF NOT EXISTS samples (
    name TEXT PRIMARY KEY,
    grid TEXT NOT NULL,
    spots INTEGER,
    created REAL NOT NULL,
    comment TEXT NOT NULL DEFAULT ''
);
CREATE TABLE IF NOT EXISTS mounted (
    beamline INTEGER NOT NULL,
    grid TEXT NOT NULL,
    sample TEXT NOT NULL REFERENCES samples(name),
    since REAL NOT NULL,
    PRIMARY KEY (beamline, grid)
);
CREATE TABLE IF NOT EXISTS spots (
    sample TEXT NOT NULL REFERENCES samples(name),
    spot INTEGER NOT NULL,
    state TEXT NOT NULL,
    time REAL NOT NULL,
    campaign TEXT NOT NULL DEFAULT '',
    step TEXT NOT NULL DEFAULT '',
    runs TEXT NOT NULL DEFAULT '[]',
    note TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (sample, spot)
);
"""
_TABLES = ("SELECT count(*) FROM sqlite_master WHERE type = 'table' "
           "AND name IN ('samples', 'mounted', 'spots')")


def registry_path(data_dir: Path) -> Path:
    """``<data_dir>/samples.sqlite``."""
    return Path(data_dir) / "samples.sqlite"


@record
class SpotRecord:
    """One spot the registry knows: exposed or destroyed, by what."""

    spot: int
    state: str
    time: float
    campaign: str = ""
    step: str = ""
    runs: tuple[tuple[int, str, str], ...] = ()  # (run, label, outcome)
    note: str = ""


@record
class SampleInfo:
    """A sample: its grid, size, when it was registered, its spots and where it is mounted."""

    name: str
    grid: str
    spots: int | None
    created: float
    comment: str = ""
    mounted_on: tuple[int, ...] = ()
    records: tuple[SpotRecord, ...] = field(default=(), repr=False)

    @property
    def used(self) -> int:
        """Spots exposed or destroyed."""
        return len(self.records)

    @property
    def fresh(self) -> int | None:
        """Spots never exposed (``None`` while the grid size is unknown)."""
        return None if self.spots is None else self.spots - self.used


class SampleRegistry:
    """The samples of one data directory (see the module docstring).

    Args:
        data_dir: the data directory.
        readonly: only read (a missing registry then reads as empty).
    """

    def __init__(self, data_dir: Path, *, readonly: bool = False) -> None:
        self.path = registry_path(data_dir)
        self.readonly = readonly
        self._db: sqlite3.Connection | None = None
        self._view: ReadOnlyDatabase | None = None

    # -- connection ----------------------------------------------------------------------
    def _conn(self) -> sqlite3.Connection | None:
        if self._db is not None:
            return self._db
        if self.readonly:
            if not self.path.exists():
                return None
            try:
                self._view = connect_readonly(self.path, "read the sample registry")
            except StorageError as exc:
                raise DataError(exc.paragraph()) from None
            db = self._view.db
        else:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                db = sqlite3.connect(self.path, timeout=10.0, isolation_level=None,
                                     check_same_thread=False)
                db.execute("PRAGMA journal_mode=WAL")
                db.execute("PRAGMA synchronous=FULL")
                if db.execute(_TABLES).fetchone()[0] < 3:  # one fsynced commit, not three
                    db.executescript(f"BEGIN IMMEDIATE; {_SCHEMA} COMMIT;")
            except (OSError, sqlite3.Error) as exc:
                raise DataError(f"cannot open the sample registry {self.path}: {exc}") from None
        db.row_factory = sqlite3.Row
        self._db = db
        return db

    @contextmanager
    def _write(self, *, guard: bool = True) -> Iterator[sqlite3.Connection]:
        """One immediate transaction: concurrent writers wait for each other.  ``guard``:
        it keeps a spot from being handed out again, so it is fsynced before returning."""
        if self.readonly:
            raise DataError(f"the sample registry {self.path} is open read-only")
        db = self._conn()
        if db is None:  # (only read-only registries can be missing)
            raise DataError(f"no sample registry at {self.path}")
        try:
            if not guard:
                db.execute("PRAGMA synchronous=NORMAL")
            try:
                db.execute("BEGIN IMMEDIATE")
                yield db
                db.execute("COMMIT")
            except BaseException:
                if db.in_transaction:
                    db.execute("ROLLBACK")
                raise
            finally:
                if not guard:
                    db.execute("PRAGMA synchronous=FULL")
        except sqlite3.IntegrityError:
            raise  # (the caller's: a name or spot already taken)
        except sqlite3.Error as exc:  # a full disk, a file-size limit, a lock held too long
            raise sqlite_error(exc, "write the sample registry", self.path) from None

    def _rows(self, sql: str, args: tuple[Any, ...] = ()) -> list[sqlite3.Row]:
        db = self._conn()
        if db is None:
            return []
        try:
            return db.execute(sql, args).fetchall()
        except sqlite3.Error as exc:
            raise DataError(f"cannot read the sample registry {self.path}: {exc}") from None

    def close(self) -> None:
        if self._view is not None:
            self._view.close()
        elif self._db is not None:
            self._db.close()
        self._db = self._view = None

    def __enter__(self) -> SampleRegistry:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- samples -------------------------------------------------------------------------
    def new(self, name: str, grid: str, spots: int | None = None, comment: str = "", *,
            mount_on: int | None = None) -> SampleInfo:
        """Register a sample (a user error if the name is taken); ``mount_on``: and mount it
        on ``grid`` of that beamline in the same transaction (one commit, not two)."""
        _check_name(name)
        try:
            with self._write() as db:
                now = time.time()
                db.execute("INSERT INTO samples (name, grid, spots, created, comment) "
                           "VALUES (?, ?, ?, ?, ?)", (name, grid, spots, now, comment))
                if mount_on is not None:
                    db.execute("INSERT OR REPLACE INTO mounted (beamline, grid, sample, since) "
                               "VALUES (?, ?, ?, ?)", (mount_on, grid, name, now))
        except sqlite3.IntegrityError:
            raise UserError(f"there is already a sample called {name!r}",
                            hint=f"`expctl sample show {name}`; pick a new name for a new "
                                 "crystal.") from None
        return self.get(name)

    def get(self, name: str) -> SampleInfo:
        """One sample with its spots; a user error listing the known ones when absent."""
        rows = self._rows("SELECT * FROM samples WHERE name = ?", (name,))
        if not rows:
            known = [r["name"] for r in self._rows("SELECT name FROM samples ORDER BY created")]
            raise UserError(f"no sample called {name!r} in {self.path}",
                            allowed=", ".join(known) or "none registered yet",
                            hint="`expctl sample new NAME` registers one.")
        return self._info(rows[0])

    def samples(self) -> list[SampleInfo]:
        """Every sample, oldest first."""
        return [self._info(r) for r in self._rows("SELECT * FROM samples ORDER BY created, name")]

    def _info(self, row: sqlite3.Row) -> SampleInfo:
        name = row["name"]
        mounted = tuple(int(r["beamline"]) for r in self._rows(
            "SELECT beamline FROM mounted WHERE sample = ? ORDER BY beamline", (name,)))
        return SampleInfo(name, row["grid"], row["spots"], row["created"], row["comment"],
                          mounted, tuple(self.records(name)))

    def set_size(self, name: str, spots: int) -> None:
        """Record how many spots the sample's grid has (learned from the beamline)."""
        with self._write() as db:
            db.execute("UPDATE samples SET spots = ? WHERE name = ? AND spots IS NULL",
                       (spots, name))

    # -- mounting ------------------------------------------------------------------------
    def mount(self, beamline: int, grid: str, name: str) -> SampleInfo:
        """Say that ``name`` is now on ``grid`` of ``beamline`` (replacing what was there)."""
        info = self.get(name)
        if info.grid != grid:
            raise UserError(f"sample {name!r} was registered for grid {info.grid!r}, not "
                            f"{grid!r}", device=grid)
        with self._write() as db:
            db.execute("INSERT OR REPLACE INTO mounted (beamline, grid, sample, since) "
                       "VALUES (?, ?, ?, ?)", (beamline, grid, name, time.time()))
        return self.get(name)

    def mounted(self, beamline: int, grid: str) -> str | None:
        """The sample on ``grid`` of ``beamline``, if one was mounted."""
        rows = self._rows("SELECT sample FROM mounted WHERE beamline = ? AND grid = ?",
                          (beamline, grid))
        return str(rows[0]["sample"]) if rows else None

    def unique_name(self, stem: str) -> str:
        """``stem-1``, ``stem-2`` …: the first name not registered yet."""
        taken = {r["name"] for r in self._rows("SELECT name FROM samples")}
        n = 1
        while f"{stem}-{n}" in taken:
            n += 1
        return f"{stem}-{n}"

    # -- spots -----------------------------------------------------------------------------
    def records(self, name: str) -> list[SpotRecord]:
        """Every exposed or destroyed spot of ``name``, in spot order."""
        return [_record(r) for r in self._rows(
            "SELECT * FROM spots WHERE sample = ? ORDER BY spot", (name,))]

    def used(self, name: str) -> set[int]:
        """Spots of ``name`` that must not be handed out (exposed or destroyed)."""
        return {int(r["spot"]) for r in self._rows("SELECT spot FROM spots WHERE sample = ?",
                                                   (name,))}

    def state(self, name: str, spot: int) -> str | None:
        """``exposed``, ``destroyed``, or ``None`` for a spot never used."""
        rows = self._rows("SELECT state FROM spots WHERE sample = ? AND spot = ?", (name, spot))
        return str(rows[0]["state"]) if rows else None

    def claim(self, name: str, spot: int, *, campaign: str = "", step: str = "") -> bool:
        """Record ``spot`` as exposed before anything moves there; False if already used."""
        try:
            with self._write() as db:
                db.execute("INSERT INTO spots (sample, spot, state, time, campaign, step) "
                           "VALUES (?, ?, 'exposed', ?, ?, ?)",
                           (name, spot, time.time(), campaign, step))
        except sqlite3.IntegrityError:
            return False
        return True

    def add_run(self, name: str, spot: int, run: int, label: str, outcome: str, *,
                destroyed: bool) -> None:
        """Add a run taken at ``spot``; ``destroyed`` (pumped) marks the spot destroyed.

        Not fsynced for a spot already recorded (a record of what was taken there: a
        pumped run marked its spot destroyed durably when it started, see
        :class:`~expctl.beamtime.spots.SpotRunRecorder`); fsynced when it records a spot
        for the first time (a run taken without ``next_spot``)."""
        with self._write(guard=self.state(name, spot) is None) as db:
            row = db.execute("SELECT runs, state FROM spots WHERE sample = ? AND spot = ?",
                             (name, spot)).fetchone()
            if row is None:  # taken outside next_spot (a manual move): record it now
                db.execute("INSERT INTO spots (sample, spot, state, time, note) VALUES "
                           "(?, ?, 'exposed', ?, 'run taken without next_spot')",
                           (name, spot, time.time()))
                runs: list[Any] = []
                state = "exposed"
            else:
                runs, state = json.loads(row["runs"]), row["state"]
            runs.append([run, label, outcome])
            db.execute("UPDATE spots SET runs = ?, state = ? WHERE sample = ? AND spot = ?",
                       (json.dumps(runs), "destroyed" if destroyed else state, name, spot))

    def mark(self, name: str, spots: Iterable[int], state: str = "exposed",
             note: str = "") -> list[int]:
        """Mark spots by hand (e.g. damaged while mounting); returns those newly marked."""
        if state not in STATES:
            raise UserError(f"unknown spot state {state!r}", allowed=", ".join(STATES))
        info = self.get(name)
        wanted = _check_spots(info, spots)
        changed = []
        with self._write() as db:
            for spot in wanted:
                cur = db.execute(
                    "INSERT INTO spots (sample, spot, state, time, note) VALUES "
                    "(?, ?, ?, ?, ?) ON CONFLICT (sample, spot) DO UPDATE SET state = "
                    "excluded.state, note = excluded.note WHERE spots.state != excluded.state "
                    "OR spots.note != excluded.note",
                    (name, spot, state, time.time(), note or "marked by hand"))
                if cur.rowcount:
                    changed.append(spot)
        return changed

    def unmark(self, name: str, spots: Iterable[int]) -> list[SpotRecord]:
        """Make spots available again (the user says they may be used); returns what was
        forgotten, so the caller can show it."""
        info = self.get(name)
        wanted = _check_spots(info, spots)
        gone = [r for r in info.records if r.spot in set(wanted)]
        with self._write() as db:
            db.executemany("DELETE FROM spots WHERE sample = ? AND spot = ?",
                           [(name, s) for s in wanted])
        return gone


def _record(row: sqlite3.Row) -> SpotRecord:
    runs = tuple((int(r[0]), str(r[1]), str(r[2])) for r in json.loads(row["runs"]))
    return SpotRecord(int(row["spot"]), row["state"], row["time"], row["campaign"],
                      row["step"], runs, row["note"])


def _check_name(name: str) -> None:
    ok = name and len(name) <= 64 and all(c.isalnum() or c in "-_.+" for c in name)
    if not ok or name.startswith(("-", ".")):
        raise UserError(f"sample name {name!r} is not usable",
                        allowed="1-64 letters, digits and - _ . + (not starting with - or .)")


def _check_spots(info: SampleInfo, spots: Iterable[int]) -> list[int]:
    wanted = sorted(set(spots))
    if info.spots is not None:
        bad = [s for s in wanted if not 0 <= s < info.spots]
        if bad:
            raise UserError(f"sample {info.name!r} has no spot {bad[0]}",
                            allowed=f"0 .. {info.spots - 1}")
    elif any(s < 0 for s in wanted):
        raise UserError("spot numbers start at 0", allowed="0 or more")
    return wanted


def parse_spots(text: str) -> list[int]:
    """``3 7-9 12`` or ``3,7-9`` -> [3, 7, 8, 9, 12]; a user error otherwise."""
    out: list[int] = []
    for part in text.replace(",", " ").split():
        lo, sep, hi = part.partition("-")
        try:
            first, last = int(lo), int(hi) if sep else int(lo)
        except ValueError:
            raise UserError(f"not a spot or range of spots: {part!r}",
                            allowed="numbers and ranges, e.g. 3 7-9") from None
        if last < first:
            raise UserError(f"empty range of spots: {part!r}")
        out.extend(range(first, last + 1))
    return out

