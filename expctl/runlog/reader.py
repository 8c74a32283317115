"""Reading run files back: metadata, per-shot columns, a summary for ``expctl show``.

Every read is bounded and read-only: a damaged or truncated file is a
:class:`~expctl.errors.CorruptFileError` naming it, never a hang or a bug, and
nothing is written next to the file (archives the user cannot write read too).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from expctl.errors import CorruptFileError, DataError
from expctl.runlog.h5util import open_for_reading, reading
from expctl.runlog.runfile import FILE_FORMAT

__all__ = ["ColumnMissingError", "RunData", "read_attributes", "read_run", "read_user_config",
           "run_summary"]

_JSON_ATTRS = ("detectors", "loop", "params", "scan", "sample_spot", "problems", "units")
#: Groups of configuration and run sums, not per-shot columns.
_NOT_PER_SHOT = ("entry", "UserDataCfg", "Sums", "epicsOnce")


class ColumnMissingError(DataError):
    """A run file lacks a per-shot dataset the caller asked for (the file itself is fine)."""


@dataclass(frozen=True, slots=True)
class RunData:
    """One run's root attributes (JSON decoded), the per-shot columns asked for and the
    units of those that carry one (files of layout 1 carry none)."""

    path: Path
    attrs: dict[str, Any]
    columns: dict[str, np.ndarray]
    units: dict[str, str] = field(default_factory=dict)

    @property
    def shots(self) -> int:
        return len(next(iter(self.columns.values()))) if self.columns else 0


def _attrs(f: Any, names: tuple[str, ...] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    items = f.attrs.items() if names is None else ((k, f.attrs[k]) for k in names
                                                   if k in f.attrs)
    for key, value in items:
        if isinstance(value, np.generic):
            value = value.item()
        if key in _JSON_ATTRS and isinstance(value, str):
            try:
                value = json.loads(value)
            except ValueError:
                raise CorruptFileError(f"{f.filename}: attribute {key!r} is not valid JSON",
                                       path=f.filename) from None
        out[key] = value
    return out


def _check_format(path: Path, f: Any) -> None:
    fmt = f.attrs.get("file_format", "")
    fmt = fmt.decode(errors="replace") if isinstance(fmt, bytes) else str(fmt)
    if not fmt.startswith(FILE_FORMAT.split("/")[0]):
        raise CorruptFileError(f"{path} is not an expctl run file (file_format={fmt[:80]!r})",
                               path=path, hint=f"Run files say file_format={FILE_FORMAT!r}.")


def read_run(path: Path, keys: tuple[str, ...] | None = None, *,
             required: tuple[str, ...] = (), attrs: tuple[str, ...] | None = None) -> RunData:
    """Read a run file (also one still being written, or left by a crash).

    Args:
        path: the run file.
        keys: per-shot datasets to read; all 1-D ones when None.  Missing
            optional keys are skipped.
        required: keys whose absence is a :class:`DataError` naming what exists
            (unless the run has no per-shot data at all: it ended before a shot).
        attrs: root attributes to read; all when None (reading ~30 attributes
            costs more than the data of a short run).
    """
    path = Path(path)
    if not path.exists():
        raise DataError(f"run file {path} does not exist")
    with open_for_reading(path) as f, reading(path):
        _check_format(path, f)
        meta = _attrs(f, attrs)
        available = _per_shot_datasets(f)
        missing = [k for k in required if k not in available]
        if missing and available:  # a run stopped before its first shot has no columns
            raise ColumnMissingError(f"{path.name} has no per-shot {', '.join(missing)}",
                            allowed=", ".join(sorted(available)))
        wanted = {k: ds for k, ds in available.items() if keys is None or k in keys}
        n = min((ds.shape[0] for ds in wanted.values()), default=0)
        # an SWMR reader may see datasets mid-append: cut to the common length
        columns = {k: ds[:n] for k, ds in wanted.items()}
        units = {k: _text(ds.attrs["units"]) for k, ds in wanted.items() if "units" in ds.attrs}
    return RunData(path=path, attrs=meta, columns=columns, units=units)


def _text(value: Any) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else str(value)


def read_user_config(path: Path, name: str) -> str | None:
    """``UserDataCfg/<name>`` of a run file as text; None when the run does not declare it."""
    with open_for_reading(path) as f, reading(path):
        _check_format(Path(path), f)
        ds = f.get(f"UserDataCfg/{name}")
        return None if ds is None else _text(ds[()])


def read_attributes(path: Path) -> dict[str, Any]:
    """A run file's root attributes (JSON decoded): what the catalog is rebuilt from."""
    with open_for_reading(path) as f, reading(path):
        _check_format(Path(path), f)
        return _attrs(f)


def _per_shot_datasets(f: Any, *, one_d: bool = True) -> dict[str, Any]:
    """Datasets outside the metadata groups, by their own name: the per-shot columns (1-D)
    or all.  A second name of a dataset (``fiducials`` of ``tag``, ``ipm_…/sum``) is
    left out: its ``target`` attribute names the first.

    Walked by hand because ``visititems`` reports a hard-linked dataset under
    only one of its names, which may be its NeXus link in ``entry/data``.
    """
    found: dict[str, Any] = {}
    stack = [(name, obj) for name, obj in f.items() if name not in _NOT_PER_SHOT]
    while stack:
        name, obj = stack.pop()
        if hasattr(obj, "shape"):
            target = _text(obj.attrs.get("target", f"/{name}"))
            if target != f"/{name}":
                continue
            if len(obj.shape) == 1 or (not one_d and len(obj.shape) > 1):
                found[name] = obj
        else:
            stack.extend((f"{name}/{k}", v) for k, v in obj.items())
    return dict(sorted(found.items()))


def run_summary(path: Path) -> dict[str, Any]:
    """Everything ``expctl show`` prints: attributes, datasets, config, snapshot, sums."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"run file {path} does not exist")
    with open_for_reading(path) as f, reading(path):
        _check_format(path, f)
        datasets = {name: {"shape": list(ds.shape), "dtype": str(ds.dtype),
                           "units": _text(ds.attrs.get("units", ""))}
                    for name, ds in _per_shot_datasets(f, one_d=False).items()}
        return {
            "file": str(path),
            "attrs": _attrs(f),
            "datasets": datasets,
            "UserDataCfg": _group_values(f.get("UserDataCfg")),
            "epicsOnce": _group_values(f.get("epicsOnce")),
            "Sums": {k: {"shape": list(v.shape), "total": float(np.sum(v[()])),
                         "units": _text(v.attrs.get("units", ""))}
                     for k, v in f.get("Sums", {}).items()},
        }


def _group_values(group: Any) -> dict[str, Any]:
    if group is None:
        return {}
    out: dict[str, Any] = {}
    for key, obj in group.items():
        if hasattr(obj, "shape"):
            value = obj[()]
            if isinstance(value, bytes):
                value = value.decode()
            elif isinstance(value, np.ndarray):
                value = value.tolist()
            elif isinstance(value, np.generic):
                value = value.item()
            out[key] = value
        else:
            out[key] = _group_values(obj)
    return out
