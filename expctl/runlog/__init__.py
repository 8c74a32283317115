"""Run logging for downstream reduction: run files, catalog, alignment log, reduction.

Everything here is an engine-event subscriber or a reader of what the
subscribers wrote; :func:`attach` wires the subscribers to a session's bus.
"""

from expctl.runlog.paths import (
    alignment_dir,
    catalog_path,
    default_data_dir,
    reduced_dir,
    run_file_path,
)
from expctl.runlog.writer import FILE_FORMAT, RunFileWriter, recover_file

__all__ = [
    "FILE_FORMAT",
    "RunFileWriter",
    "alignment_dir",
    "catalog_path",
    "default_data_dir",
    "recover_file",
    "reduced_dir",
    "run_file_path",
]
