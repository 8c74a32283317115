"""Parts of run files a writer has built before, copied whole instead of built again.

The runs of a campaign share most of their structure: the same configuration
(``UserDataCfg/``), the same per-shot columns with the same attributes,
conventional names and NeXus links.  Built object by object that is ~100 HDF5
calls per run; HDF5 copies a whole tree in one ``H5Ocopy`` (hard links inside
it stay links) several times faster.  A :class:`Skeletons` keeps each tree it
was asked to build once, in an in-memory HDF5 file of its own, under a key that
says everything the tree was built from (:func:`frozen`); a later request with
an equal key gets a copy.  What differs from run to run and the key leaves out
(values, lengths) is written over the copy, so a copied tree holds exactly what
building it would.
"""

from __future__ import annotations

import pickle
from collections.abc import Callable, Hashable
from typing import Any

from expctl.runlog import fileimage, h5build

__all__ = ["Skeletons", "frozen"]

#: Trees kept per writer at most (a campaign needs a handful; keys beyond are built).
MAX_KEPT = 64


def frozen(value: Any) -> Hashable | None:
    """A key equal for two values only if they are written identically, or None if it
    cannot be made (the tree is then built, not copied).

    The pickle of the value: it records types and bits (``1``, ``1.0`` and ``True``
    differ, so do ``-0.0`` and ``0.0``; arrays by dtype, shape and bytes), which is what
    the HDF5 objects made from it depend on.  Values equal but pickled differently
    (another key order) only cost a build.
    """
    try:
        return pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
    except Exception:  # noqa: BLE001 (anything pickle refuses is simply not kept)
        return None


class Skeletons:
    """Groups built once and copied after (one per writer; :meth:`close` frees them)."""

    def __init__(self) -> None:
        self._file: Any = None  # in-memory HDF5 file (low-level id), made on first use
        self._kept: dict[Hashable, bytes] = {}

    def group(self, parent: Any, name: str, key: Hashable | None,
              build: Callable[[Any], None], refill: Callable[[Any], None] | None = None
              ) -> Any:
        """The new group ``parent/name``: a copy of the one kept under ``key`` (then
        ``refill(group)`` writes what the key leaves out: values that differ from run to
        run), or made and filled by ``build(group)`` and kept (unless ``key`` is None)."""
        from h5py import h5g, h5o

        encoded = name.encode()
        kept = None if key is None else self._kept.get(key)
        if kept is not None:
            h5o.copy(self._file, kept, parent, encoded)
            made = h5g.open(parent, encoded)
            if refill is not None:
                refill(made)
            return made
        made = h5build.group(parent, name)
        build(made)
        if key is not None and len(self._kept) < MAX_KEPT:
            kept = b"%d" % len(self._kept)
            h5o.copy(parent, encoded, self._store(), kept)
            self._kept[key] = kept
        return made

    def _store(self) -> Any:
        if self._file is None:
            from h5py import h5f

            # named for this object: HDF5 refuses to create a file of an open one's name,
            # and several writers (sessions) may live in one process
            name = f"skeletons-{id(self):x}.in-memory".encode()
            self._file = h5f.create(name, h5f.ACC_TRUNC, fapl=fileimage.memory_access())
        return self._file

    def close(self) -> None:
        """Free the kept trees."""
        if self._file is not None:
            self._file.close()
            self._file = None
        self._kept.clear()
