"""Where expctl keeps its data: the one map of a data directory, and the rule that finds it.

Layout 2 of ``<data_dir>`` (every module asks :class:`DataDir`, none spells a name)::

    expctl-layout.json          layout version marker, written with the first file
    catalog.sqlite              SQLite run catalog (runs, alignment scans)
    runs/bl<N>/run<NNNNNN>.h5   one small-data HDF5 file per run
    alignment/scan<NNNNNN>.*    logged scans, alignment and console (HDF5 + PNG, ADR 14)
    reduced/                    reduction cubes and their plots
    journal/<campaign>.jsonl    crash-safe campaign journals
    facility/                   the simulated facility's archive (run table, sync DB)
    locks/                      controller locks
    samples/                    the sample registry
    shell_history               the operator shell's history

A directory without the marker but with a catalog or run files was written before
markers existed: it is layout 1.  Each layout is described in :data:`LAYOUTS`.
Writing never mixes layouts: :func:`prepare_for_writing` refuses a directory of
another layout with a message naming both and what to do; reading commands
accept older layouts (readers take what an old file has) and refuse newer ones.

Bottom layer and nearly import-free on purpose, so start-up paths (``--help``,
``validate``, the shell's first prompt) can use it without loading the run
logger or the backend.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

from expctl.errors import CorruptFileError, StorageError, storage_error

__all__ = [
    "DATA_DIR_HELP",
    "LAYOUT_FILE",
    "LAYOUTS",
    "LAYOUT_VERSION",
    "DataDir",
    "LayoutError",
    "UnsafePathError",
    "alignment_dir",
    "catalog_path",
    "check_layout",
    "default_data_dir",
    "prepare_for_writing",
    "reduced_dir",
    "resolve_data_dir",
    "run_file_path",
]

#: The ``--data-dir`` help text every command shows.
DATA_DIR_HELP = "data directory (default: $EXPCTL_DATA_DIR or ./expctl-data)"
#: The layout this expctl writes (and the newest it reads).
LAYOUT_VERSION = 2
#: What each layout is, for messages about a directory in another one.
LAYOUTS = {
    1: "run files expctl-smalldata/1: scan values in the units a sequence wrote them in, "
       "no units, float event_time, no fiducials",
    2: "run files expctl-smalldata/2: every logged value in one declared unit (a units "
       "attribute on each dataset, a units column in the catalog), smalldata fiducials, "
       "packed event_time, damage/, Sums/, scan/varStep",
}
#: The layout marker's file name, directly in the data directory.
LAYOUT_FILE = "expctl-layout.json"
#: A run file's name: ``run000012.h5``, ``run000012.unreadable.h5``, ``run000012.h5.partial``.
_RUN_NAME = re.compile(r"run(\d{6,})(?:(\.unreadable)?\.h5|\.h5(\.partial))")


class LayoutError(StorageError):
    """The data directory was written in a layout this expctl does not read."""


class UnsafePathError(StorageError):
    """A write would follow a symbolic link out of the data directory."""


def default_data_dir() -> Path:
    """``$EXPCTL_DATA_DIR`` if set, else ``./expctl-data``."""
    return Path(os.environ.get("EXPCTL_DATA_DIR") or "expctl-data")


def resolve_data_dir(given: str | os.PathLike[str] | None) -> Path:
    """An explicit ``--data-dir`` wins; otherwise the default rule."""
    return Path(given) if given else default_data_dir()


@dataclass(frozen=True, slots=True)
class DataDir:
    """The map of one data directory: every file and folder expctl keeps there."""

    root: Path

    def __init__(self, root: str | os.PathLike[str]) -> None:
        object.__setattr__(self, "root", Path(root))

    @property
    def layout_marker(self) -> Path:
        return self.root / LAYOUT_FILE

    @property
    def catalog(self) -> Path:
        """The SQLite run catalog."""
        return self.root / "catalog.sqlite"

    @property
    def runs(self) -> Path:
        """The folder of all run files (one sub-folder per beamline)."""
        return self.root / "runs"

    def run_dir(self, beamline: int) -> Path:
        return self.runs / f"bl{beamline}"

    def run_file(self, beamline: int, run: int) -> Path:
        """The small-data HDF5 file of one run: ``runs/bl<N>/run<NNNNNN>.h5``."""
        return self.run_dir(beamline) / f"run{run:06d}.h5"

    @staticmethod
    def partial(path: Path) -> Path:
        """Where a run file is created before it is complete enough to bear its name."""
        return path.with_name(path.name + ".partial")

    @staticmethod
    def set_aside(path: Path) -> Path:
        """Where an unreadable run file is kept (``run000012.unreadable.h5``), never deleted."""
        return path.with_name(path.name.split(".", 1)[0] + ".unreadable.h5")

    @staticmethod
    def run_of(path: Path) -> tuple[int, str] | None:
        """``(run, kind)`` of a name in a run folder; kind is ``file``, ``partial`` or
        ``unreadable``; None for anything else."""
        m = _RUN_NAME.fullmatch(path.name)
        if m is None:
            return None
        kind = "partial" if m.group(3) else "unreadable" if m.group(2) else "file"
        return int(m.group(1)), kind

    def run_files(self) -> list[tuple[int, int, str, Path]]:
        """``(beamline, run, kind, path)`` of every run-file name under ``runs/``, sorted."""
        found = []
        if not self.runs.is_dir():
            return []
        for folder in sorted(self.runs.glob("bl*")):
            if not folder.name[2:].isdigit() or not folder.is_dir():
                continue
            for path in folder.iterdir():
                parsed = self.run_of(path)
                if parsed is not None:
                    found.append((int(folder.name[2:]), parsed[0], parsed[1], path))
        return sorted(found)

    @property
    def alignment(self) -> Path:
        """Small files (HDF5 + PNG) of logged scans: alignment scans and scan records."""
        return self.root / "alignment"

    def scan_file(self, number: int, suffix: str = ".h5") -> Path:
        """A logged scan's file: ``alignment/scan<NNNNNN>.h5`` (its plot: ``.png``)."""
        return self.alignment / f"scan{number:06d}{suffix}"

    @property
    def reduced(self) -> Path:
        """Default home of reduction cubes and their plots."""
        return self.root / "reduced"

    @property
    def journal(self) -> Path:
        """Campaign journals, one JSON-lines file per campaign."""
        return self.root / "journal"

    def journal_file(self, campaign_id: str) -> Path:
        return self.journal / f"{campaign_id}.jsonl"

    @property
    def facility(self) -> Path:
        """The simulated facility's archive (the sim backend's run table and sync DB)."""
        return self.root / "facility"

    @property
    def locks(self) -> Path:
        """Controller locks (one per beamline)."""
        return self.root / "locks"

    @property
    def samples(self) -> Path:
        """The sample registry (which spots are exposed)."""
        return self.root / "samples"

    @property
    def shell_history(self) -> Path:
        """The operator shell's persistent history."""
        return self.root / "shell_history"

    def inside(self, path: Path) -> bool:
        """Whether ``path``, with every symbolic link resolved, lies in this directory."""
        root = self.root.resolve()
        target = Path(path).resolve()
        return target == root or root in target.parents

    def guard_write(self, path: Path) -> Path:
        """``path`` if writing it cannot follow a symbolic link out of this directory.

        A link planted where expctl writes (a run file, the catalog) or a folder
        that leads elsewhere is refused: link the whole data directory instead.
        """
        path = Path(path)
        if path.is_symlink():
            raise UnsafePathError(
                f"refusing to write {path}: it is a symbolic link to {os.readlink(path)}",
                path=path, hint="expctl never writes through links inside the data directory; "
                                "remove the link (and check who planted it).")
        if not self.inside(path.parent):
            raise UnsafePathError(
                f"refusing to write {path}: its folder leads to {path.parent.resolve()}, "
                f"outside the data directory {self.root}", path=path,
                hint="Replace the linked folder by a real one; to keep data on another disk, "
                     "point --data-dir (or a link to the whole directory) there.")
        return path


def run_file_path(data_dir: Path, beamline: int, run: int) -> Path:
    """The small-data HDF5 file of one run (see :meth:`DataDir.run_file`)."""
    return DataDir(data_dir).run_file(beamline, run)


def catalog_path(data_dir: Path) -> Path:
    """The SQLite run catalog (see :attr:`DataDir.catalog`)."""
    return DataDir(data_dir).catalog


def alignment_dir(data_dir: Path) -> Path:
    """Files of logged alignment scans (see :attr:`DataDir.alignment`)."""
    return DataDir(data_dir).alignment


def reduced_dir(data_dir: Path) -> Path:
    """Default home of reduction cubes (see :attr:`DataDir.reduced`)."""
    return DataDir(data_dir).reduced


def check_layout(data_dir: Path, *, writing: bool = False) -> int:
    """The layout version of ``data_dir``; :class:`LayoutError` if this expctl cannot use it.

    A directory without a marker is layout 1 if it holds a catalog or run files
    (written before markers), else new (this expctl's layout).

    Args:
        data_dir: the data directory.
        writing: the caller will write there: only this expctl's layout will do (a
            directory of two layouts would be read wrongly by both versions).
    """
    layout = DataDir(data_dir)
    marker = layout.layout_marker
    try:
        text = marker.read_text(encoding="utf-8")
    except FileNotFoundError:
        found = 1 if layout.catalog.exists() or layout.runs.exists() else LAYOUT_VERSION
        if writing and found != LAYOUT_VERSION:
            raise _refuse_older(layout.root, found) from None
        return found
    except OSError as exc:
        raise storage_error(exc, "read the layout marker", marker) from None
    try:
        found = json.loads(text)["layout"]
        if not isinstance(found, int) or isinstance(found, bool):
            raise TypeError
    except (ValueError, KeyError, TypeError):
        raise CorruptFileError(
            f"the layout marker {marker} is not readable", path=marker,
            hint=f'It should hold {{"layout": {LAYOUT_VERSION}}}; restore it from a copy of '
                 "the data directory.") from None
    if found > LAYOUT_VERSION:
        raise LayoutError(
            f"{data_dir} holds data in layout {found}; this expctl reads layouts up to "
            f"{LAYOUT_VERSION}", path=marker, hint="Use a newer expctl to read it.")
    if writing and found != LAYOUT_VERSION:
        raise _refuse_older(layout.root, found)
    return found


def _refuse_older(data_dir: Path, found: int) -> LayoutError:
    return LayoutError(
        f"{data_dir} holds data in layout {found} ({LAYOUTS.get(found, 'unknown')}); this "
        f"expctl writes layout {LAYOUT_VERSION} ({LAYOUTS[LAYOUT_VERSION]}) and does not mix "
        "them in one directory", path=DataDir(data_dir).layout_marker,
        hint="Take new data in a new data directory (--data-dir or EXPCTL_DATA_DIR); "
             "`expctl runs`, `show` and `reduce` still read this one.")


def prepare_for_writing(data_dir: Path) -> DataDir:
    """Create ``data_dir`` if needed and make sure it is in this expctl's layout.

    Writes the layout marker into a new (or pre-marker) directory, atomically, so a
    directory expctl has written to always says which layout it holds.
    """
    layout = DataDir(data_dir)
    check_layout(layout.root, writing=True)
    marker = layout.layout_marker
    try:
        layout.root.mkdir(parents=True, exist_ok=True)
        if not marker.exists():
            from expctl import __version__

            body = json.dumps({"layout": LAYOUT_VERSION, "creator": f"expctl {__version__}"})
            tmp = marker.with_name(f".{LAYOUT_FILE}.{os.getpid()}.tmp")
            tmp.write_text(body + "\n", encoding="utf-8")
            os.replace(tmp, marker)
    except OSError as exc:
        raise storage_error(exc, "prepare the data directory", exc.filename or layout.root
                            ) from None
    return layout
