"""Wiring the run-log subscribers to an engine's event bus."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from expctl.engine.events import EngineEvent, EventBus
from expctl.runlog.alignment import AlignmentLogger, AlignmentScan
from expctl.runlog.catalog import Catalog
from expctl.runlog.logbook import Logbook
from expctl.runlog.scans import ScanLogger
from expctl.runlog.writer import RunFileWriter

__all__ = ["RunLogHandle", "attach"]


@dataclass
class RunLogHandle:
    """What :func:`attach` wired up; ``close()`` unsubscribes and closes files."""

    writer: RunFileWriter
    catalog: Catalog
    alignment: AlignmentLogger
    scans: ScanLogger
    logbook: Logbook
    recovered: list[int] = field(default_factory=list)
    _unsubscribe: Callable[[], None] | None = None

    def __call__(self, event: EngineEvent) -> None:
        # order matters: the writer closes a run's file before the catalog checksums it
        self.writer(event)
        self.catalog(event)
        self.alignment(event)
        self.scans(event)
        self.logbook(event)

    def close(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        self.alignment.flush()
        self.scans.close()
        self.writer.close()
        self.catalog.close()


def attach(bus: EventBus, data_dir: Path, *,
           alignment_plotter: Callable[[AlignmentScan, Path], Any] | None = None,
           ) -> RunLogHandle:
    """Subscribe the run writer, catalog and alignment log to ``bus``.

    Runs a crashed session left ``running`` are recovered first (files made
    readable, rows marked ``incomplete``); their numbers are in
    ``handle.recovered``.

    Args:
        bus: the engine's event bus.
        data_dir: the data directory.
        alignment_plotter: draws alignment-scan PNGs, e.g.
            ``expctl.ui.plots.plot_alignment`` (injected: ``ui`` sits above ``runlog``).
    """
    data_dir = Path(data_dir)
    catalog = Catalog(data_dir)
    recovered = catalog.recover()
    scans = ScanLogger(data_dir, catalog)
    scans.recover()
    handle = RunLogHandle(writer=RunFileWriter(data_dir), catalog=catalog,
                          alignment=AlignmentLogger(data_dir, catalog, alignment_plotter),
                          scans=scans, logbook=Logbook(data_dir), recovered=recovered)
    handle._unsubscribe = bus.subscribe(handle)
    return handle
