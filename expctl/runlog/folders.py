"""Writing only into folders found inside the data directory, cheaply, run after run.

:meth:`DataDir.guard_write` resolves every level of a path (a dozen system calls
and much path arithmetic); the run writer and the catalog's leases write into the
same two folders for every run.  A :class:`FolderGuard` resolves a folder once
and then trusts it while it is the very folder it checked (same device and inode,
one ``stat``): writes land only in a folder that was found inside the data
directory, whatever is renamed or linked around it later; a folder put in its
place is checked again.  The file itself is checked for a link every time.
"""

from __future__ import annotations

import os
from pathlib import Path

from expctl.paths import DataDir

__all__ = ["FolderGuard"]


class FolderGuard:
    """:meth:`DataDir.guard_write` for one data directory, remembering checked folders."""

    def __init__(self, layout: DataDir) -> None:
        self.layout = layout
        #: folder -> (device, inode) it had when it was found inside the data directory
        self._safe: dict[Path, tuple[int, int]] = {}

    def __call__(self, path: Path, *, make_folder: bool = False) -> None:
        """Raise :class:`~expctl.paths.UnsafePathError` unless writing ``path`` stays in
        the data directory; ``make_folder`` creates its folder first if missing."""
        folder = path.parent
        try:
            found = os.stat(folder)
        except FileNotFoundError:
            if not make_folder:
                raise
            folder.mkdir(parents=True, exist_ok=True)
            found = os.stat(folder)
        identity = (found.st_dev, found.st_ino)
        if self._safe.get(folder) == identity and not os.path.islink(path):
            return
        self.layout.guard_write(path)
        after = os.stat(folder)
        if (after.st_dev, after.st_ino) == identity:  # (not swapped while it was checked)
            self._safe[folder] = identity
