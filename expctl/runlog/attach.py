"""Wiring the run-log subscribers to an engine's event bus, with their failure policies.

The run writer and the catalog are *critical*: if either fails, the bus raises
and the engine stops through the safe state (nothing is taken that cannot be
logged).  The alignment log (scan files, PNG plots) is not: its failures are
reported as bus warnings and data taking goes on.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from expctl.engine.events import EngineEvent, EventBus, RunStarted, RunStopped
from expctl.paths import prepare_for_writing
from expctl.runlog.alignment import AlignmentLogger, AlignmentScan
from expctl.runlog.catalog import Catalog
from expctl.runlog.logbook import Logbook
from expctl.runlog.recovery import recover
from expctl.runlog.scans import ScanLogger
from expctl.runlog.smalldata import SmallDataConfig
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
    _unsubscribe: list[Callable[[], None]] = field(default_factory=list)

    def __call__(self, event: EngineEvent) -> None:
        # a run is registered before its file exists (so no file is ever without a row);
        # at its end the writer closes the file before the catalog checksums it
        if isinstance(event, RunStarted):
            self.catalog(event)
            self.writer(event)
        else:
            self.writer(event)
            if isinstance(event, RunStopped):
                self.catalog.written(event.record.run, self.writer.written(event.record.run))
            self.catalog(event)
        self.scans(event)  # scan records are data too: a failure stops the engine

    def supersede(self, runs: list[int]) -> list[int]:
        """Mark completed runs a resumed campaign redoes as ``superseded`` (see recovery)."""
        from expctl.runlog.recovery import supersede

        return supersede(self.catalog, runs)

    def close(self) -> list[str]:
        """Unsubscribe, wait for the alignment plots, close the files; returns the plot
        failures nobody was told about yet."""
        for unsubscribe in self._unsubscribe:
            unsubscribe()
        self._unsubscribe.clear()
        try:
            self.scans.close()
            return self.alignment.finish()
        finally:
            self.writer.close()
            self.catalog.close()


def attach(bus: EventBus, data_dir: Path, *,
           alignment_plotter: Callable[[AlignmentScan, Path], Any] | None = None,
           smalldata: SmallDataConfig | None = None) -> RunLogHandle:
    """Subscribe the run writer, catalog (critical) and alignment log (not) to ``bus``.

    The data directory is prepared (layout marker) and runs a crashed session left
    ``running`` are recovered first (files made readable, rows marked
    ``incomplete``, orphan files registered); their numbers are in
    ``handle.recovered``.

    Args:
        bus: the engine's event bus.
        data_dir: the data directory.
        alignment_plotter: draws alignment-scan PNGs, e.g.
            ``expctl.ui.plots.plot_alignment``, or queues them and returns a future
            (``expctl.ui.plotworker.BackgroundPlotter``); injected: ``ui`` sits above
            ``runlog``.
        smalldata: what the beamline profile adds to run files
            (:meth:`SmallDataConfig.from_profile`).
    """
    data_dir = Path(data_dir)
    prepare_for_writing(data_dir)
    catalog = Catalog(data_dir)
    try:
        recovered = recover(catalog)
        scans = ScanLogger(data_dir, catalog)
        scans.recover()
    except BaseException:
        catalog.close()
        raise
    handle = RunLogHandle(writer=RunFileWriter(data_dir, smalldata=smalldata), catalog=catalog,
                          alignment=AlignmentLogger(data_dir, catalog, alignment_plotter),
                          scans=scans, logbook=Logbook(data_dir), recovered=recovered)
    handle._unsubscribe = [
        bus.subscribe(handle, name="run log (run files, scan records and catalog)"),
        bus.subscribe(handle.alignment, critical=False, name="alignment log"),
        bus.subscribe(handle.logbook, critical=False, name="logbook"),
    ]
    return handle
