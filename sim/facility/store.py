"""The facility's persistent stores: run table, synchronous 0-D DB chunks, run metadata.

Layout under ``<data_dir>/facility/``::

    facility.json, .log      the facility state, a checkpoint and the changes since (see
                             sim.facility.statelog): tag origin, last tick used, next run
                             number per beamline, runs open now (their run-table entry,
                             and the pid and host of their controller), equipment
    lock                     flock'ed while run numbers or the time line are updated
    bl<N>/runs/<run>.json    run-table entry of a stopped run (written once, at its stop)
    bl<N>/sync/<run>.f64     tags and image recipes of the run: a header line naming the
                             columns, then float64 rows (appended; before 2026-12-04 a
                             folder <run>/ with columns.json + rows.f64, still read)
    bl<N>/states/<key>.*     the state time line of each session (see sim.facility.states);
                             the sync DB's values of every shot are computed from it

Files are written by atomic rename or appended in whole rows or lines, so another
process reading the directory never sees half of anything.  A run costs one append
to ``facility.log`` at its start (run number, running entry and facility time in one
line) and at its stop a new run-table file and one more line (ADR 0022).  A run whose
controller died (``kill -9``) is ended by the next session, as a facility DAQ ends a
run whose controller went away: status 0, with the shots it recorded.  With
``root=None`` the same API keeps everything in memory (estimator twins, tests).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import socket
from collections.abc import Iterator, Mapping
from dataclasses import fields, replace
from pathlib import Path
from typing import Any

import numpy as np

from expctl.devices.profile import Profile, load_profile
from expctl.devices.protocols import RunRecord
from sim.facility.statelog import FacilityState, atomic_write

__all__ = ["FacilityStore"]

DEFAULT_TAG0 = 200_000_000


class FacilityStore:
    """Run table + sync DB of one facility (all beamlines), on disk or in memory.

    Args:
        root: the ``facility/`` folder, or ``None`` for memory only.
        create: make the folder if missing (readers pass ``False`` and see an empty facility).
    """

    def __init__(self, root: Path | None, *, create: bool = True) -> None:
        self.root = root
        self._facility = FacilityState(root)
        self._runs: dict[tuple[int, int], dict[str, Any]] = {}
        self._chunks: dict[tuple[int, int], list[dict[str, np.ndarray]]] = {}
        self._sync_names: dict[Path, list[str]] = {}
        self._states: dict[tuple[int, str], dict[str, Any]] = {}  # memory: header, profile, rows
        self._rows_cache: dict[Path, tuple[int, np.ndarray]] = {}
        self._folders: set[Path] = set()  # folders known to exist
        if root is not None and create:
            root.mkdir(parents=True, exist_ok=True)

    def memory_twin(self) -> FacilityStore:
        """An in-memory store continuing this one's run numbers and time (persists nothing)."""
        twin = FacilityStore(None)
        twin._facility.checkpoint(json.loads(json.dumps(self._read_state())))
        return twin

    # -- shared state ----------------------------------------------------------------
    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        if self.root is None or not self.root.is_dir():
            yield
            return
        with open(self.root / "lock", "a+") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    def _read_state(self) -> dict[str, Any]:
        """The facility state now (read-only: changes go through ``self._facility``)."""
        return self._facility.read()

    def open_session(self, epoch_unix: float, tag_rate_hz: float) -> tuple[int, int, float]:
        """Start a session: returns (tag0, start_tick, origin_unix).

        ``start_tick`` is the facility tick of the session clock's current
        reading: one second after the last tick any earlier session used, or
        the wall-clock position of ``epoch_unix`` if that is later.
        """
        with self._locked():
            state = json.loads(json.dumps(self._read_state()))
            self._close_abandoned(state, tag_rate_hz)  # (a stopped one may advance last_tick)
            origin = float(state.get("origin_unix", epoch_unix))
            tag0 = int(state.get("tag0", DEFAULT_TAG0))
            last = state.get("last_tick")
            start = 0 if last is None else int(last) + int(tag_rate_hz)
            start = max(start, int((epoch_unix - origin) * tag_rate_hz))
            state.update(origin_unix=origin, tag0=tag0, last_tick=start)
            self._facility.checkpoint(state)
        return tag0, start, origin

    def _close_abandoned(self, state: dict[str, Any], tag_rate_hz: float) -> None:
        """End the runs whose controller process is gone (called under the lock)."""
        open_runs = state.get("open_runs", {})
        for key, owner in list(open_runs.items()):
            if _owner_alive(owner):
                continue
            beamline, run = (int(part) for part in key.split("/"))
            try:
                body = self._run_body(beamline, run, state)
            except KeyError:
                body = None
            del open_runs[key]
            if body is None:
                continue
            rec = body["record"]
            if rec.get("status") != 2:  # stopped; its controller died before it settled it
                tick = body.get("tick")
                if tick is not None and tick > int(state.get("last_tick", -1)):
                    state["last_tick"] = int(tick)
                continue
            tags = self.sync_columns(beamline, run).get("tag")
            shots = 0 if tags is None else len(tags)
            last = int(tags[-1]) if shots else None
            stop = rec["start_time"] if last is None else (
                float(state["origin_unix"]) + (last - int(state["tag0"])) / tag_rate_hz)
            rec.update(status=0, shots=shots, end_tag=last, stop_time=stop,
                       comment=(rec.get("comment", "") + " (ended: its controller stopped)"
                                ).strip())
            self._write_run_file(beamline, run, body)

    def touch(self, tick: int) -> None:
        """Record that facility time has reached ``tick`` (for the next session's offset),
        folding the log into the checkpoint (a session calls it as it closes)."""
        with self._locked():
            state = json.loads(json.dumps(self._read_state()))
            state["last_tick"] = max(int(tick), int(state.get("last_tick", -1)))
            self._facility.checkpoint(state)

    def register_equipment(self, units: Mapping[str, str]) -> None:
        """Declare sync-DB equipment names (and their units) this session records."""
        with self._locked():
            table = self._read_state().get("equipment", {})
            if any(table.get(k) != v for k, v in units.items()):
                self._facility.change({"equipment": dict(units)})

    def equipment(self) -> dict[str, str]:
        """Every equipment name ever registered, with its units."""
        return dict(self._read_state().get("equipment", {}))

    def open_run(self, record: RunRecord, meta: Mapping[str, Any], tick: int | None = None
                 ) -> RunRecord:
        """Start a run: ``record`` numbered with the next run of its beamline (monotonic,
        never reused, across processes), running, with this process as its controller.

        One append: the run number, the running entry (with ``meta``, the detector
        models …) and ``tick`` (facility time, as :meth:`touch`) in one logged change;
        the entry stays in the facility state until :meth:`save_run` stops the run.
        """
        with self._locked():
            run = int(self._read_state().get("next_run", {}).get(str(record.beamline), 1))
            record = replace(record, run=run, status=2)
            body = _body(record, meta)
            owner = None
            if self.root is None:
                self._runs[(record.beamline, run)] = json.loads(json.dumps(body))
            else:
                owner = {**_controller(), "body": body}
            self._facility.change({"open": f"{record.beamline}/{run}", "owner": owner,
                                   "tick": tick})
        return record

    # -- run table ---------------------------------------------------------------------
    def _bl(self, beamline: int) -> Path:
        if self.root is None:
            raise RuntimeError("an in-memory facility store has no folders")
        return self.root / f"bl{beamline}"

    def save_run(self, record: RunRecord, meta: Mapping[str, Any], tick: int | None = None
                 ) -> None:
        """Rewrite the run-table entry of an opened run with backend ``meta``.

        A stopped run (``record.status`` 0) gets its run-table file, then leaves the
        open runs with ``tick`` (facility time at the stop, also kept in the file: a
        controller killed between the two has it recovered by the next session).
        """
        body = _body(record, meta)
        if tick is not None:
            body["tick"] = int(tick)
        key = f"{record.beamline}/{record.run}"
        if self.root is None:
            self._runs[(record.beamline, record.run)] = json.loads(json.dumps(body))
            self._facility.change({"tick": tick})
            return
        if record.status != 2:
            self._write_run_file(record.beamline, record.run, body)
        with self._locked():
            if record.status == 2:  # still running: its entry lives in the facility state
                owner = dict(self._read_state().get("open_runs", {}).get(key)
                             or _controller(), body=body)
                self._facility.change({"open": key, "owner": owner})
            else:
                self._read_state()
                self._facility.change({"settle": key, "tick": tick})

    def _write_run_file(self, beamline: int, run: int, body: Mapping[str, Any]) -> None:
        folder = self._bl(beamline) / "runs"
        if folder not in self._folders:
            folder.mkdir(parents=True, exist_ok=True)
            self._folders.add(folder)
        atomic_write(folder / f"{run:06d}.json", json.dumps(body).encode())

    def _run_body(self, beamline: int, run: int, state: Mapping[str, Any] | None = None
                  ) -> dict[str, Any]:
        """A run's entry: its run-table file once stopped, its facility-state entry while
        it runs (``state``, or read now)."""
        if self.root is None:
            try:
                return self._runs[(beamline, run)]
            except KeyError:
                raise KeyError(f"run {run} does not exist on beamline {beamline}") from None
        path = self._bl(beamline) / "runs" / f"{run:06d}.json"
        for _ in range(2):  # (a run stopped between the two reads is found at the second)
            with contextlib.suppress(FileNotFoundError):
                return json.loads(path.read_text(encoding="utf-8"))
            owner = (self._read_state() if state is None else state).get(
                "open_runs", {}).get(f"{beamline}/{run}", {})
            if "body" in owner:
                return owner["body"]
        raise KeyError(f"run {run} does not exist on beamline {beamline}")

    def run_record(self, beamline: int, run: int) -> RunRecord:
        rec = dict(self._run_body(beamline, run)["record"])
        rec["detectors"] = tuple(rec.get("detectors", ()))
        return RunRecord(**rec)

    def run_meta(self, beamline: int, run: int) -> dict[str, Any]:
        return dict(self._run_body(beamline, run)["meta"])

    def runs(self, beamline: int) -> list[int]:
        """Run numbers of ``beamline`` in the table, ascending."""
        if self.root is None:
            return sorted(r for (bl, r) in self._runs if bl == beamline)
        folder = self.root / f"bl{beamline}" / "runs"
        stopped = {int(p.stem) for p in folder.glob("*.json")} if folder.is_dir() else set()
        return sorted(stopped | {run for bl, run in self._open_keys() if bl == beamline})

    def beamlines(self) -> list[int]:
        if self.root is None:
            return sorted({bl for (bl, _) in self._runs})
        found = {int(p.name[2:]) for p in self.root.glob("bl*") if p.name[2:].isdigit()}
        return sorted(found | {bl for bl, _ in self._open_keys()})

    def _open_keys(self) -> list[tuple[int, int]]:
        """(beamline, run) of the running entries in the facility state."""
        keys = [key.split("/") for key, owner in self._read_state().get("open_runs", {}).items()
                if "body" in owner]
        return [(int(bl), int(run)) for bl, run in keys]

    # -- sync DB ---------------------------------------------------------------------------
    def append_sync(self, beamline: int, run: int, columns: Mapping[str, np.ndarray]) -> None:
        """Store one block of per-shot columns of ``run`` (``tag``, image recipes …).

        On disk each block is appended to the run's one file as float64 rows (tags and
        counts are exact integers below 2**53), the first after the header line naming
        the columns, in the same write: one small append per block and one new file per
        run, whatever the run length.
        """
        names = list(columns)
        if self.root is None:
            self._chunks.setdefault((beamline, run), []).append(
                {k: np.asarray(v) for k, v in columns.items()})
            return
        folder = self._bl(beamline) / "sync"
        path = folder / f"{run:06d}.f64"
        known = self._sync_names.get(path)
        if known is None and path.exists():  # (begun by another store on this folder)
            known = _sync_header(path)[0]
        head = b""
        if known is None:
            if folder not in self._folders:
                folder.mkdir(parents=True, exist_ok=True)
                self._folders.add(folder)
            head = _sync_header_bytes(names)
        elif known != names:
            raise ValueError(f"run {run} records the sync columns {known}, not {names}")
        block = np.empty((len(columns["tag"]), len(names)), dtype="<f8")
        for j, v in enumerate(columns.values()):
            block[:, j] = v
        with open(path, "ab") as fh:
            fh.write(head + block.tobytes())
        self._sync_names[path] = names

    def sync_columns(self, beamline: int, run: int) -> dict[str, np.ndarray]:
        """All per-shot columns of ``run`` so far, concatenated (empty dict if none)."""
        if self.root is None:
            chunks = self._chunks.get((beamline, run), [])
            if not chunks:
                return {}
            return {k: np.concatenate([c[k] for c in chunks]) for k in chunks[0]}
        path = self._bl(beamline) / "sync" / f"{run:06d}.f64"
        names = self._sync_names.get(path)
        if names is not None:
            offset = len(_sync_header_bytes(names))
        else:
            try:
                names, offset = _sync_header(path)
            except FileNotFoundError:
                return self._old_sync_columns(path.with_suffix(""))
            if names is None:  # the first write is under way
                return {}
            self._sync_names[path] = names
        rows = _read_rows(path, len(names), self._rows_cache, offset)
        cols = {n: rows[:, j] for j, n in enumerate(names)}
        cols["tag"] = cols["tag"].astype(np.int64)
        return cols

    def _old_sync_columns(self, folder: Path) -> dict[str, np.ndarray]:
        """A run's columns in the layout before 2026-12-04 (``<run>/columns.json`` +
        ``rows.f64``)."""
        try:
            names = json.loads((folder / "columns.json").read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        rows = _read_rows(folder / "rows.f64", len(names), self._rows_cache)
        cols = {n: rows[:, j] for j, n in enumerate(names)}
        cols["tag"] = cols["tag"].astype(np.int64)
        return cols

    # -- state time line ----------------------------------------------------------------
    def _states_dir(self, beamline: int) -> Path:
        return self._bl(beamline) / "states"

    def open_states(self, beamline: int, key: str, header: Mapping[str, Any],
                    profile: Profile) -> None:
        """Start the state time line ``key`` of a session with its header and profile."""
        if self.root is None:
            self._states[(beamline, key)] = {"header": json.loads(json.dumps(header)),
                                             "profile": profile, "rows": []}
            return
        folder = self._states_dir(beamline)
        folder.mkdir(parents=True, exist_ok=True)
        atomic_write(folder / f"{key}.profile.json", json.dumps(dict(profile.raw)).encode())
        (folder / f"{key}.f64").touch()
        self.write_states_header(beamline, key, header)

    def write_states_header(self, beamline: int, key: str, header: Mapping[str, Any]) -> None:
        if self.root is None:
            self._states[(beamline, key)]["header"] = json.loads(json.dumps(header))
            return
        atomic_write(self._states_dir(beamline) / f"{key}.json", json.dumps(header).encode())

    def append_states(self, beamline: int, key: str, rows: np.ndarray) -> None:
        """Append rows (float64) to the session's time line (readers see whole rows only)."""
        if self.root is None:
            self._states[(beamline, key)]["rows"].append(np.array(rows, dtype=np.float64))
            return
        with open(self._states_dir(beamline) / f"{key}.f64", "ab") as fh:
            fh.write(np.ascontiguousarray(rows, dtype="<f8").tobytes())

    def state_sessions(self, beamline: int) -> list[tuple[str, dict[str, Any]]]:
        """(key, header) of every recorded session of ``beamline``, oldest first."""
        if self.root is None:
            return sorted((k, v["header"]) for (bl, k), v in self._states.items()
                          if bl == beamline)
        folder = self.root / f"bl{beamline}" / "states"
        if not folder.is_dir():
            return []
        out = []
        for path in sorted(folder.glob("*.json")):
            if path.name.endswith(".profile.json"):
                continue
            out.append((path.stem, json.loads(path.read_text(encoding="utf-8"))))
        return out

    def state_profile(self, beamline: int, key: str) -> Profile:
        if self.root is None:
            return self._states[(beamline, key)]["profile"]
        return load_profile(self._states_dir(beamline) / f"{key}.profile.json")

    def state_rows(self, beamline: int, key: str, width: int) -> np.ndarray:
        """The session's rows so far as an (m, width) array (re-read only when grown)."""
        if self.root is None:
            rows = self._states[(beamline, key)]["rows"]
            return np.concatenate(rows) if rows else np.zeros((0, width))
        return _read_rows(self._states_dir(beamline) / f"{key}.f64", width, self._rows_cache)


def _controller() -> dict[str, Any]:
    """This process as a run's controller (a later session ends its runs if it died)."""
    return {"pid": os.getpid(), "host": socket.gethostname()}


def _body(record: RunRecord, meta: Mapping[str, Any]) -> dict[str, Any]:
    """A run-table entry: the record and backend ``meta``, as plain JSON values."""
    rec = {f.name: getattr(record, f.name) for f in fields(record)}
    rec["detectors"] = list(record.detectors)
    return {"record": rec, "meta": dict(meta)}


def _sync_header_bytes(names: list[str]) -> bytes:
    """The header line of a run's sync file: its column names (JSON), padded with spaces
    so that the rows after it start at a multiple of 8 bytes."""
    text = json.dumps(names)
    return (text + " " * (-(len(text) + 1) % 8) + "\n").encode()


def _sync_header(path: Path) -> tuple[list[str] | None, int]:
    """(column names, offset of the first row) of a run's sync file; no names while its
    first write is under way."""
    with open(path, "rb") as fh:
        line = fh.readline(1 << 20)
    if not line.endswith(b"\n"):
        return None, 0
    return json.loads(line), len(line)


def _read_rows(path: Path, width: int, cache: dict[Path, tuple[int, np.ndarray]],
               offset: int = 0) -> np.ndarray:
    """Whole float64 rows of an append-only file from ``offset`` on (a half-written last
    row is left out); re-read only when the file has grown."""
    try:
        size = (path.stat().st_size - offset) // (8 * width) * (8 * width)
    except FileNotFoundError:  # the first block is being written
        return np.zeros((0, width))
    size = max(size, 0)
    got = cache.get(path)
    if got is None or got[0] != size:
        with open(path, "rb") as fh:
            fh.seek(offset)
            data = np.frombuffer(fh.read(size), dtype="<f8").reshape(-1, width)
        got = cache[path] = (size, data)
    return got[1]


def _owner_alive(owner: Mapping[str, Any]) -> bool:
    """Whether a run's controller process still runs (on another host: assume so)."""
    if owner.get("host") != socket.gethostname():
        return True
    try:
        os.kill(int(owner.get("pid", 0)), 0)
    except ProcessLookupError:
        return False
    except (PermissionError, ValueError, OverflowError):
        return True
    return True

