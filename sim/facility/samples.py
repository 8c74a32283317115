"""Sample damage that outlives a session: the damaged cells of each mounted sample.

A pumped shot destroys its spot; a real crystal remembers that after the control
program exits, so the simulated one must too.  ``<data_dir>/facility/samples/
<name>.jsonl`` lists the damaged cells of sample ``name``: each new damage appends
a line (a JSON list of cells), so a kill -9 keeps every damage recorded before it
(a line it cut short is skipped) and a pumped shot costs an append, not a rewrite
of the whole record (ADR 22; records written before 2026-12-04, ``<name>.json``,
are still read).  A cell damaged in an earlier session counts as damaged since
before any shot of this one.
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Iterable
from pathlib import Path

from expctl.errors import BackendError

__all__ = ["DamageStore"]

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+-]{0,63}$")


class DamageStore:
    """Damaged cells per sample name, under ``root/samples`` (in memory if ``root`` is None)."""

    def __init__(self, root: Path | None) -> None:
        self.root = None if root is None else Path(root) / "samples"
        self._memory: dict[str, set[int]] = {}
        self._recorded: dict[str, set[int]] = {}  # on disk, per sample loaded or saved here

    def _path(self, name: str) -> Path | None:
        if not _NAME.match(name):
            raise BackendError(f"sample name {name!r} cannot name a file",
                               allowed="letters, digits and _ . + - (64 at most)")
        return None if self.root is None else self.root / f"{name}.jsonl"

    def load(self, name: str) -> set[int]:
        """The cells of ``name`` damaged so far (none for a new sample)."""
        path = self._path(name)
        if path is None:
            return set(self._memory.get(name, ()))
        cells: set[int] = set()
        try:
            with contextlib.suppress(FileNotFoundError):  # the record before 2026-12-04
                old = json.loads(path.with_suffix(".json").read_text(encoding="utf-8"))
                cells.update(int(c) for c in old["damaged"])
            with contextlib.suppress(FileNotFoundError):
                for line in path.read_bytes().split(b"\n"):
                    with contextlib.suppress(ValueError, TypeError):  # blank, or cut by a kill
                        cells.update(int(c) for c in json.loads(line))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise BackendError(f"cannot read the damage record {path}: {exc}") from None
        self._recorded[name] = set(cells)
        return cells

    def save(self, name: str, cells: Iterable[int]) -> None:
        """Record ``cells`` of ``name`` as damaged (damage never heals: one line of the
        cells not recorded yet, appended)."""
        path = self._path(name)
        if path is None:
            self._memory[name] = {int(c) for c in cells}
            return
        known = self._recorded.get(name)
        if known is None:
            known = self._recorded[name] = self.load(name)
        new = sorted({int(c) for c in cells} - known)
        if not new:
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "ab") as fh:  # (a fresh line even after one a kill cut short)
            fh.write(b"\n" + json.dumps(new).encode() + b"\n")
        known.update(new)
