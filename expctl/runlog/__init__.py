"""Run logging for downstream reduction: run files, catalog, alignment log, reduction.

Everything here is an engine-event subscriber or a reader of what the
subscribers wrote; :func:`attach` wires the subscribers to a session's bus.
The names below are imported when first used (PEP 562): a command that needs the
catalog, or the sample registry's database helpers, does not pay for reduction.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
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
    from expctl.runlog.runfile import FILE_FORMAT
    from expctl.runlog.where import Filter, parse_where
    from expctl.runlog.writer import RunFileWriter

#: where each exported name lives
_WHERE = {
    'AlignmentLogger': 'expctl.runlog.alignment',
    'AlignmentScan': 'expctl.runlog.alignment',
    'BinStats': 'expctl.runlog.reduce',
    'CUBE_FORMAT': 'expctl.runlog.cube',
    'Catalog': 'expctl.runlog.catalog',
    'CatalogRow': 'expctl.runlog.catalog',
    'Cube': 'expctl.runlog.reduce',
    'FILE_FORMAT': 'expctl.runlog.runfile',
    'Filter': 'expctl.runlog.where',
    'Follower': 'expctl.runlog.follow',
    'Jitter': 'expctl.runlog.fit',
    'PumpFitResult': 'expctl.runlog.fit',
    'PumpedShots': 'expctl.runlog.fit',
    'RebuildReport': 'expctl.runlog.rebuild',
    'ReduceOptions': 'expctl.runlog.reduce',
    'RunData': 'expctl.runlog.reader',
    'RunFileWriter': 'expctl.runlog.writer',
    'RunLogHandle': 'expctl.runlog.attach',
    'alignment_dir': 'expctl.paths',
    'attach': 'expctl.runlog.attach',
    'catalog_path': 'expctl.paths',
    'emg_response': 'expctl.runlog.fit',
    'file_checksum': 'expctl.runlog.catalog',
    'fit_pump_response': 'expctl.runlog.fit',
    'parse_where': 'expctl.runlog.where',
    'read_alignment': 'expctl.runlog.alignment',
    'read_run': 'expctl.runlog.reader',
    'rebuild_catalog': 'expctl.runlog.rebuild',
    'recover': 'expctl.runlog.recovery',
    'recover_file': 'expctl.runlog.recovery',
    'reduce_runs': 'expctl.runlog.reduce',
    'reduced_dir': 'expctl.paths',
    'run_file_path': 'expctl.paths',
    'run_summary': 'expctl.runlog.reader',
    'write_cube': 'expctl.runlog.cube',
}

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


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_WHERE])
