"""Run logging for downstream reduction: run files, catalog, alignment log, reduction.

Everything here is an engine-event subscriber or a reader of what the
subscribers wrote; :func:`attach` wires the subscribers to a session's bus.
"""

from expctl.paths import alignment_dir, catalog_path, reduced_dir, run_file_path
from expctl.runlog.alignment import AlignmentLogger, AlignmentScan, read_alignment
from expctl.runlog.attach import RunLogHandle, attach
from expctl.runlog.catalog import Catalog, CatalogRow, file_checksum
from expctl.runlog.cube import CUBE_FORMAT, write_cube
from expctl.runlog.fit import (
    Jitter,
    PumpedShots,
    PumpFitResult,
    emg_response,
    fit_pump_response,
)
from expctl.runlog.follow import Follower
from expctl.runlog.reader import RunData, read_run, run_summary
from expctl.runlog.rebuild import RebuildReport, rebuild_catalog
from expctl.runlog.recovery import recover, recover_file
from expctl.runlog.reduce import BinStats, Cube, ReduceOptions, reduce_runs
from expctl.runlog.where import Filter, parse_where
from expctl.runlog.writer import FILE_FORMAT, RunFileWriter

__all__ = [
    "CUBE_FORMAT",
    "FILE_FORMAT",
    "AlignmentLogger",
    "AlignmentScan",
    "BinStats",
    "Catalog",
    "CatalogRow",
    "Cube",
    "Filter",
    "Follower",
    "Jitter",
    "PumpFitResult",
    "PumpedShots",
    "RebuildReport",
    "ReduceOptions",
    "RunData",
    "RunFileWriter",
    "RunLogHandle",
    "alignment_dir",
    "attach",
    "catalog_path",
    "emg_response",
    "file_checksum",
    "fit_pump_response",
    "parse_where",
    "read_alignment",
    "read_run",
    "rebuild_catalog",
    "recover",
    "recover_file",
    "reduce_runs",
    "reduced_dir",
    "run_file_path",
    "run_summary",
    "write_cube",
]
