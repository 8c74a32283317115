"""The facility's shared state: a checkpoint rewritten as sessions open and close, and a log.

    facility.json   the state as a session last opened or closed on it: tag origin,
                    last tick used, next run number per beamline, runs open (their
                    run-table entry, and the pid and host of their controller), equipment
    facility.log    one JSON line per change since: a run opened, a run settled (out of
                    the open runs), facility time reached, equipment declared

Why a log: replacing an existing file by rename makes ext4 flush the new file's data
at once (its rename-over heuristic), 1–4 ms on a busy disk, while an append costs tens
of microseconds — and a run's start and stop are frequent.  Changes are appended under
the facility lock, one ``write`` each, so every line is whole unless its writer was
killed inside the write; readers (other processes too) take complete lines only, a
line left cut short is skipped, and the next writer starts a fresh line after it.
Folding the log into the checkpoint (:meth:`FacilityState.checkpoint`, as a
session opens or closes) writes the checkpoint, then removes the log: the changes are
idempotent, so a kill between the two replays the log harmlessly.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

__all__ = ["FacilityState", "atomic_write"]


class FacilityState:
    """The shared state of ``root`` (``None``: in memory), read back incrementally.

    :meth:`read` gives the state (not to be modified: change it with :meth:`change`);
    writers hold the facility lock around a :meth:`read` and their :meth:`change`.
    """

    def __init__(self, root: Path | None) -> None:
        self._base = None if root is None else root / "facility.json"
        self._log = None if root is None else root / "facility.log"
        self._state: dict[str, Any] = {}
        self._seen: tuple[Any, Any] | None = None  # (checkpoint identity, log inode) read
        self._offset = 0  # bytes of the log applied to _state
        self._cut = False  # the log ends in a partial line

    def read(self) -> dict[str, Any]:
        """The state now: the checkpoint with every complete logged change applied."""
        if self._base is None or self._log is None:
            return self._state
        base, size = _identity(self._base), 0
        try:
            st = self._log.stat()
            log, size = st.st_ino, st.st_size
        except FileNotFoundError:
            log = None
        if (base, log) != self._seen or size < self._offset:  # (a session folded the log)
            self._state = {} if base is None else json.loads(self._base.read_bytes())
            self._seen, self._offset, self._cut = (base, log), 0, False
        if size > self._offset:
            with open(self._log, "rb") as fh:
                fh.seek(self._offset)
                data = fh.read(size - self._offset)
            end = data.rfind(b"\n") + 1
            for line in data[:end].splitlines():
                try:
                    change = json.loads(line)
                except ValueError:  # cut short by a kill inside its write
                    continue
                apply_change(self._state, change)
            self._offset += end
            self._cut = end < len(data)
        return self._state

    def change(self, change: dict[str, Any]) -> None:
        """Log ``change`` (under the facility lock, after a :meth:`read`)."""
        if self._log is None:
            apply_change(self._state, change)
            return
        line = json.dumps(change).encode() + b"\n"
        if self._cut:
            line = b"\n" + line
        with open(self._log, "ab") as fh:
            fh.write(line)
            fh.flush()  # (so that fstat sees the line)
            st = os.fstat(fh.fileno())
        seen = self._seen
        if seen is not None and seen[1] in (None, st.st_ino) \
                and st.st_size == self._offset + len(line):  # only this line is new
            apply_change(self._state, json.loads(line))  # (as a reader will see it)
            self._seen, self._offset = (seen[0], st.st_ino), st.st_size
        else:
            self.read()

    def checkpoint(self, state: dict[str, Any]) -> None:
        """Make ``state`` the checkpoint and start an empty log (under the facility lock)."""
        if self._base is None or self._log is None:
            self._state = state
            return
        # (no indent: json's C encoder, ~10x faster on the open runs' metadata)
        atomic_write(self._base, json.dumps(state).encode())
        self._log.unlink(missing_ok=True)
        self._seen = None


def apply_change(state: dict[str, Any], change: dict[str, Any]) -> None:
    """One logged change onto ``state`` (idempotent: applying it again changes nothing)."""
    tick = change.get("tick")
    if tick is not None and tick > int(state.get("last_tick", -1)):
        state["last_tick"] = int(tick)
    if (key := change.get("open")) is not None:
        beamline, run = key.split("/")
        nxt = state.setdefault("next_run", {})
        nxt[beamline] = max(int(nxt.get(beamline, 1)), int(run) + 1)
        if change.get("owner") is not None:
            state.setdefault("open_runs", {})[key] = change["owner"]
    if (key := change.get("settle")) is not None:
        state.get("open_runs", {}).pop(key, None)
    if change.get("equipment"):
        state.setdefault("equipment", {}).update(change["equipment"])


def _identity(path: Path) -> tuple[int, int, int] | None:
    try:
        st = path.stat()
    except FileNotFoundError:
        return None
    return st.st_ino, st.st_mtime_ns, st.st_size


def atomic_write(path: Path, data: bytes) -> None:
    """Replace ``path`` by ``data`` so that readers see the old or the new file, never half."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)
