"""A smalldata-style reader written from LCLS's public conventions, not from expctl's code.

smalldata users load a run file into one flat table (xarray-like): every
per-shot dataset under its path with ``/`` replaced by ``__``
(``ipm_pd_i0__sum``, ``lightStatus__laser``), time from the packed
``event_time`` (``seconds = event_time >> 32``, ``nanoseconds = event_time &
0xFFFFFFFF``), ``fiducials`` beside it, per-run sums under ``Sums/``, the scan
under ``scan/`` with its step in ``scan/varStep``, detector damage under
``damage/<det>``, and configuration under ``UserDataCfg/``.  :func:`load`
does exactly that and checks what such a reader relies on.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import h5py
import numpy as np

#: Per-shot datasets every smalldata file has (its index, time and light status).
REQUIRED = ("event_time", "fiducials", "lightStatus__xray", "lightStatus__laser")


@dataclass
class SmallData:
    """One run as a smalldata user holds it."""

    shots: dict[str, np.ndarray]  # a__b name -> per-shot values
    sums: dict[str, float]        # Sums/<det>_<key> -> per-run sum
    config: dict[str, Any]        # UserDataCfg/... (flattened with __)
    seconds: np.ndarray
    nanoseconds: np.ndarray


def load(path: Path) -> SmallData:
    """Flatten a run file the smalldata way; AssertionError where a convention is broken."""
    shots: dict[str, np.ndarray] = {}
    sums: dict[str, float] = {}
    config: dict[str, Any] = {}
    with h5py.File(path, "r") as f:
        n = f["event_time"].shape[0]

        for name, obj in _walk(f):
            key = name.replace("/", "__")
            if name.startswith("Sums/"):
                sums[name.split("/", 1)[1]] = float(obj[()])
            elif name.startswith("UserDataCfg/"):
                config[key.split("__", 1)[1]] = obj[()]
            elif obj.ndim >= 1 and obj.shape[0] == n and not name.startswith("epicsOnce/"):
                shots[key] = obj[()]
        assert f["event_time"].dtype == np.uint64, f["event_time"].dtype
    for key in REQUIRED:
        assert key in shots, f"{path.name}: no {key}"
    event_time = shots["event_time"]
    return SmallData(shots=shots, sums=sums, config=config,
                     seconds=(event_time >> np.uint64(32)).astype(np.int64),
                     nanoseconds=(event_time & np.uint64(0xFFFFFFFF)).astype(np.int64))


def _walk(group: h5py.Group, prefix: str = "") -> list[tuple[str, h5py.Dataset]]:
    """Every dataset by every name outside the NeXus ``entry`` (links visited under each
    name, as a reader that lists groups sees them)."""
    out: list[tuple[str, h5py.Dataset]] = []
    for key, obj in group.items():
        name = f"{prefix}{key}"
        if isinstance(obj, h5py.Dataset):
            out.append((name, obj))
        elif name != "entry":
            out.extend(_walk(obj, f"{name}/"))
    return out
