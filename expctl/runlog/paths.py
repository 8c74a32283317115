"""Where expctl keeps its own files inside the data directory.

The simulator's facility stores live under ``<data_dir>/facility/``; everything
expctl writes itself (run files, catalog, alignment scans, cubes) lives beside it
so a whole beamtime is one directory that can be copied away.
"""

from __future__ import annotations

from pathlib import Path

__all__ = [
    "alignment_dir",
    "catalog_path",
    "reduced_dir",
    "run_file_path",
]


def run_file_path(data_dir: Path, beamline: int, run: int) -> Path:
    """The small-data HDF5 file of one run: ``runs/bl<N>/run<NNNNNN>.h5``."""
    return Path(data_dir) / "runs" / f"bl{beamline}" / f"run{run:06d}.h5"


def catalog_path(data_dir: Path) -> Path:
    """The SQLite run catalog."""
    return Path(data_dir) / "catalog.sqlite"


def alignment_dir(data_dir: Path) -> Path:
    """Small files (HDF5 + PNG) of logged alignment scans."""
    return Path(data_dir) / "alignment"


def reduced_dir(data_dir: Path) -> Path:
    """Default home of reduction cubes and their plots."""
    return Path(data_dir) / "reduced"
