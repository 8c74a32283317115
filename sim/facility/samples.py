"""Sample damage that outlives a session: the damaged cells of each mounted sample.

A pumped shot destroys its spot; a real crystal remembers that after the control
program exits, so the simulated one must too.  ``<data_dir>/facility/samples/
<name>.json`` lists the damaged cells of sample ``name`` (written by atomic
rename after each new damage).  A cell damaged in an earlier session counts as
damaged since before any shot of this one.
"""

from __future__ import annotations

import json
import os
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

    def _path(self, name: str) -> Path | None:
        if not _NAME.match(name):
            raise BackendError(f"sample name {name!r} cannot name a file",
                               allowed="letters, digits and _ . + - (64 at most)")
        return None if self.root is None else self.root / f"{name}.json"

    def load(self, name: str) -> set[int]:
        """The cells of ``name`` damaged so far (none for a new sample)."""
        path = self._path(name)
        if path is None:
            return set(self._memory.get(name, ()))
        try:
            return {int(c) for c in json.loads(path.read_text(encoding="utf-8"))["damaged"]}
        except FileNotFoundError:
            return set()
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise BackendError(f"cannot read the damage record {path}: {exc}") from None

    def save(self, name: str, cells: Iterable[int]) -> None:
        """Replace the record of ``name`` with ``cells``."""
        path = self._path(name)
        cells = sorted(int(c) for c in cells)
        if path is None:
            self._memory[name] = set(cells)
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps({"sample": name, "damaged": cells}), encoding="utf-8")
        os.replace(tmp, path)
