"""HDF5 files built in memory and put on disk whole (run files, alignment-scan files).

h5py's cost is per object, not per byte: a small file is cheapest built on HDF5's
core driver (nothing on disk) and written out as one image.  The image replaces the
file under its name by rename, so nobody — a reader, or recovery after ``kill -9`` —
ever sees a half-written file (ADR 16).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from expctl.paths import DataDir

if TYPE_CHECKING:
    import h5py

__all__ = ["image", "memory_access", "memory_file", "replace_whole"]


def memory_file(path: Path) -> h5py.File:
    """An HDF5 file held in memory only (core driver, nothing written beside ``path``):
    ``h5py.File(…, "w", driver="core", backing_store=False, libver="latest")``, its
    access properties made once."""
    import h5py
    from h5py import h5f

    name = f"{path}.in-memory".encode()
    return h5py.File(h5f.create(name, h5f.ACC_TRUNC, fapl=memory_access()))


@cache
def memory_access() -> Any:
    """The file access properties of :func:`memory_file` (h5py's for those arguments)."""
    from h5py import h5f, h5p

    fapl = h5p.create(h5p.FILE_ACCESS)
    fapl.set_fapl_core(backing_store=False)
    fapl.set_libver_bounds(h5f.LIBVER_LATEST, h5f.LIBVER_LATEST)
    return fapl


def image(f: h5py.File) -> bytes:
    """The bytes of an in-memory HDF5 file as it stands (its metadata flushed first)."""
    f.flush()
    return bytes(f.id.get_file_image())


def replace_whole(path: Path, data: bytes,
                  guard: Callable[[Path], None] | None = None) -> None:
    """Put ``data`` under ``path`` whole: written to the ``.partial`` (created exclusively,
    never through a link), then renamed over it.  A reader holding the old file keeps its
    snapshot; nobody ever sees a half-written file.  ``guard(path)`` is called before the
    ``.partial`` is made and before the rename (it raises if writing there is unsafe)."""
    partial = DataDir.partial(path)
    if guard is not None:
        guard(path)
    out = _create_exclusive(partial)
    try:
        with out:
            out.write(data)
    except BaseException:
        with contextlib.suppress(OSError):
            partial.unlink()
        raise
    if guard is not None:
        guard(path)
    os.replace(partial, path)  # complete enough to bear its name


def _create_exclusive(path: Path) -> BinaryIO:
    """A new file at ``path`` to write into: refused if anything (a link, a stale file) is
    there."""
    fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY | os.O_NOFOLLOW, 0o644)
    return os.fdopen(fd, "wb")
