"""Small HDF5 helpers shared by the run writer, the alignment log and the cube writer.

Kept apart so every file expctl writes follows the same conventions: JSON for
nested metadata in attributes, ISO 8601 times for NeXus, compression only where
it pays (noisy doubles do not compress, and gzip on them costs more than the disk).
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import h5py

__all__ = [
    "compression_for",
    "iso_time",
    "json_attr",
    "open_for_reading",
    "write_mapping",
]

#: Compress a per-shot column only if a shuffled zlib-1 trial shrinks it below this ratio.
COMPRESSION_THRESHOLD = 0.75
_TRIAL_BYTES = 1 << 18
_MIN_TRIAL = 256


def json_attr(value: Any) -> str:
    """Nested metadata as a JSON attribute (readable by every HDF5 tool)."""
    return json.dumps(value, sort_keys=True, default=_jsonable)


def _jsonable(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return str(value)


def iso_time(unix_seconds: float | None) -> str:
    """ISO 8601 (UTC) as NeXus wants it; empty when the time is unknown."""
    if unix_seconds is None:
        return ""
    return datetime.fromtimestamp(float(unix_seconds), tz=UTC).isoformat()


def compression_for(sample: np.ndarray) -> dict[str, Any]:
    """h5py filter arguments for a column whose first values are ``sample``.

    Counters, flags, tags, times and scan values shrink 5–100× under
    shuffle+gzip; shot-to-shot noise in float64 does not (ratio ≈ 0.85) and
    would cut logging throughput by 5×, so it is stored chunked but raw.
    """
    if sample.dtype.kind in "OUS":
        return {"compression": "gzip", "compression_opts": 1}
    if sample.size < _MIN_TRIAL:  # too little to judge; small blocks mean a slow stream anyway
        return {"compression": "gzip", "compression_opts": 1, "shuffle": True}
    flat = np.ascontiguousarray(sample).reshape(-1)
    nbytes = min(flat.nbytes, _TRIAL_BYTES)
    n = max(1, nbytes // max(1, flat.itemsize))
    raw = flat[:n].view(np.uint8).reshape(n, flat.itemsize)
    shuffled = raw.T.tobytes()
    if not shuffled or len(zlib.compress(shuffled, 1)) <= COMPRESSION_THRESHOLD * len(shuffled):
        return {"compression": "gzip", "compression_opts": 1, "shuffle": True}
    return {}


def write_mapping(group: h5py.Group, mapping: Mapping[str, Any]) -> None:
    """Write nested configuration as groups and datasets (``UserDataCfg/``, ``epicsOnce/``).

    Mappings become sub-groups, numbers and arrays datasets, strings string
    datasets; ``None`` is recorded as an empty string so the key stays visible.
    """
    import h5py

    for key, value in mapping.items():
        name = str(key).replace("/", "_") or "_"
        if isinstance(value, Mapping):
            write_mapping(group.require_group(name), value)
        elif value is None:
            group.create_dataset(name, data="", dtype=h5py.string_dtype())
        elif isinstance(value, str):
            group.create_dataset(name, data=value, dtype=h5py.string_dtype())
        else:
            arr = np.asarray(value)
            if arr.dtype.kind in "OU":
                group.create_dataset(name, data=json_attr(value), dtype=h5py.string_dtype())
            elif arr.dtype.kind == "b":
                group.create_dataset(name, data=arr.astype(np.uint8))
            else:
                group.create_dataset(name, data=arr)


def open_for_reading(path: Any) -> h5py.File:
    """Open a run file that may still be written (SWMR) or was left by a crash.

    A cleanly closed file opens normally; a file whose writer is alive or was
    killed carries the SWMR-write flag, which only an SWMR reader accepts.
    """
    import h5py

    try:
        return h5py.File(path, "r")
    except OSError:
        return h5py.File(path, "r", swmr=True)
