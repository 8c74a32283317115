"""``expctl reduce --follow``: reduce again whenever another selected run stops.

The catalog is the signal: a run whose row reaches status 0 is complete on
disk (its file closed and checksummed), so polling the WAL database is enough
and needs no connection to the running session.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from expctl.runlog.catalog import Catalog
from expctl.runlog.reduce import Cube, ReduceOptions, reduce_runs
from expctl.runlog.where import Filter

__all__ = ["Follower", "binnable"]


def binnable(row: Mapping[str, Any], options: ReduceOptions) -> bool:
    """Whether a catalog row's run carries the bin variable (dark or alignment runs may not)."""
    prefix, _, name = options.bin_var.partition("/")
    return prefix != "scan" or name in (row.get("scan") or {})


@dataclass
class Follower:
    """Polls the catalog; each :meth:`poll` that finds new stopped runs reduces them all.

    Args:
        data_dir: the data directory.
        options: reduction options.
        select: a ``--where`` filter; None selects every run.
        on_cube: called with each new cube (writes files, prints a line).
    """

    data_dir: Path
    options: ReduceOptions
    select: Filter | None = None
    on_cube: Callable[[Cube], None] | None = None
    seen: set[int] = field(default_factory=set)

    def poll(self) -> Cube | None:
        """Reduce if a selected run has stopped since the last poll; else None."""
        if not Path(self.data_dir, "catalog.sqlite").exists():
            return None
        with Catalog(self.data_dir, readonly=True) as catalog:
            rows = [r for r in catalog.rows()
                    if r["status"] == 0 and r["file"] and r["shots"] > 0
                    and r["outcome"] != "superseded"
                    and binnable(r.values, self.options)
                    and (self.select is None or self.select(r.values))]
        runs = {r.run for r in rows}
        if not runs - self.seen:
            return None
        self.seen = runs
        cube = reduce_runs([Path(self.data_dir) / r["file"] for r in rows], self.options)
        if self.on_cube is not None:
            self.on_cube(cube)
        return cube
