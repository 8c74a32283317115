"""Small HDF5 helpers shared by the run writer, the alignment log and the cube writer.

Kept apart so every file expctl writes follows the same conventions: JSON for
nested metadata in attributes, ISO 8601 times for NeXus, compression only where
it pays (noisy doubles do not compress, and gzip on them costs more than the disk).
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import re
import zlib
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import numpy as np

from expctl.errors import CorruptFileError, DataError, StorageError, storage_error

if TYPE_CHECKING:
    import h5py

__all__ = [
    "compression_for",
    "iso_time",
    "json_attr",
    "open_for_reading",
    "reading",
    "unreadable",
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


def open_for_reading(path: Any) -> h5py.File:
    """Open a run file that may still be written (SWMR) or was left by a crash.

    A cleanly closed file opens normally; a file whose writer is alive or was
    killed carries the SWMR-write flag, which only an SWMR reader accepts.  The
    HDF5 file lock is not taken (a reader must never block the writer's stop,
    and archives may sit on file systems without locks).  A truncated or
    damaged file is a :class:`~expctl.errors.CorruptFileError` at once: an SWMR
    reader would retry its checksums for minutes, so SWMR reads are bounded too.
    """
    import h5py

    for locking in (False, None):  # this process may hold it with the lock (writer, tests)
        try:
            return h5py.File(path, "r", locking=locking)
        except FileNotFoundError:
            raise DataError(f"run file {path} does not exist") from None
        except OSError as exc:
            if _LOCKING_CLASH in str(exc):
                continue
            if "already open for write" not in str(exc):  # not the SWMR-write flag
                raise unreadable(path, exc) from None
            break
    for locking in (False, None):
        try:
            return h5py.File(_open_swmr(path, locking=locking))
        except (OSError, RuntimeError) as exc:
            if _LOCKING_CLASH in str(exc) and locking is False:
                continue
            raise unreadable(path, exc) from None
    raise DataError(f"run file {path} cannot be opened")  # not reached: the loops return


#: HDF5's complaint when one process opens a file twice with different locking settings.
_LOCKING_CLASH = "file locking flag values don't match"


#: Metadata checksum retries of an SWMR reader (HDF5's default of 100 can take minutes).
SWMR_READ_ATTEMPTS = 20


def _open_swmr(path: Any, *, locking: bool | None) -> Any:
    """A low-level SWMR-read file id with bounded metadata retries (no file lock if
    ``locking`` is False; HDF5's default if None)."""
    import h5py

    fapl = h5py.h5p.create(h5py.h5p.FILE_ACCESS)
    fapl.set_libver_bounds(h5py.h5f.LIBVER_LATEST, h5py.h5f.LIBVER_LATEST)
    if locking is False:
        fapl.set_file_locking(False, True)
    _set_read_attempts(fapl.id, SWMR_READ_ATTEMPTS)
    return h5py.h5f.open(os.fsencode(path), h5py.h5f.ACC_RDONLY | h5py.h5f.ACC_SWMR_READ,
                         fapl=fapl)


def _set_read_attempts(fapl_id: int, attempts: int) -> None:
    """``H5Pset_metadata_read_attempts`` (h5py does not wrap it), from the HDF5 library h5py
    loaded; where that library cannot be found, HDF5's default stays."""
    import ctypes

    try:
        with open("/proc/self/maps", encoding="utf-8") as maps:
            libs = sorted({line.split()[-1] for line in maps
                           if re.search(r"/libhdf5(-[0-9a-f]+)?\.so", line)})
        fn = ctypes.CDLL(libs[0]).H5Pset_metadata_read_attempts
    except (OSError, IndexError, AttributeError):
        return
    fn.argtypes = [ctypes.c_int64, ctypes.c_uint]
    fn.restype = ctypes.c_int
    fn(fapl_id, attempts)


def unreadable(path: Any, exc: BaseException) -> StorageError:
    """What an HDF5 file that cannot be read means: an OS refusal, or a damaged file."""
    code = getattr(exc, "errno", None)
    if isinstance(exc, OSError) and code is not None and code not in (errno.EIO, errno.EINVAL):
        return storage_error(exc, "read", path)
    reason = re.sub(r"^Unable to [a-z ]+\(|\)$", "", str(exc).strip()) or type(exc).__name__
    return CorruptFileError(
        f"{path} is not a readable HDF5 file ({reason})", path=path,
        hint="It was cut short (a full disk, a crash) or damaged; `expctl check` lists such "
             "files, and a run's copy can be checked against its SHA-256 in the catalog.")


@contextlib.contextmanager
def reading(path: Any) -> Iterator[None]:
    """Errors of reading objects in an open file (checksums, torn metadata) as CorruptFileError."""
    try:
        yield
    except (OSError, RuntimeError) as exc:
        raise unreadable(path, exc) from None
