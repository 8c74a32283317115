"""Building HDF5 objects through h5py's low-level API, exactly as its high-level API would
(run files, alignment-scan files).

A run file has ~120 objects and ~100 attributes; h5py's high-level API spends
100–400 µs on each (property lists, types and selections worked out anew every
time), several times what HDF5 itself needs on an in-memory file.  Here the
types, dataspaces and property lists are made once per process (h5py is
imported lazily) and every object is created with the same settings h5py's
``create_group``, ``create_dataset``, ``attrs[...] =`` and ``group[name] = obj``
use, so the stored file is the same (``benchmarks/run_fingerprint.py``).

Functions take and return h5py's low-level identifiers (``GroupID``,
``DatasetID``, ``FileID``: ``obj.id`` of a high-level object); values this
module has no fast path for (arrays of strings, compound types) go through the
high-level API, unchanged.
"""

from __future__ import annotations

import ctypes
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any

import numpy as np

from expctl.runlog.h5capi import capi
from expctl.runlog.h5util import json_attr

__all__ = ["Column", "append", "column", "group", "link", "overwrite", "set_attrs", "write_mapping"]


class _Kit:
    """The HDF5 types, dataspaces and property lists every run file needs, made once."""

    def __init__(self) -> None:
        import h5py
        from h5py import h5d, h5p, h5s, h5t

        self.h5py = h5py
        self.scalar_space = h5s.create(h5s.SCALAR)
        # (file type, memory type, numpy type) of a Python or numpy scalar, as h5py picks them
        self.scalars: dict[type, tuple[Any, Any, np.dtype[Any]]] = {}
        for kind, dtype in ((str, h5py.string_dtype()), (int, np.dtype(np.int64)),
                            (float, np.dtype(np.float64)), (np.float64, np.dtype(np.float64)),
                            (np.int64, np.dtype(np.int64))):
            self.scalars[kind] = (h5t.py_create(dtype, logical=True), h5t.py_create(dtype),
                                  dtype)
        self.scalar_dcpl = h5p.create(h5p.DATASET_CREATE)
        self.scalar_dcpl.set_fill_time(h5d.FILL_TIME_ALLOC)
        self.scalar_dcpl.set_obj_track_times(False)
        self.array_dcpl = h5p.create(h5p.DATASET_CREATE)  # create_dataset(name, data=arr)
        self.array_dcpl.set_obj_track_times(False)
        self.gcpl = h5p.create(h5p.GROUP_CREATE)  # create_group(name)
        self.gcpl.set_obj_track_times(False)
        self.lcpl = h5p.create(h5p.LINK_CREATE)  # ASCII names, intermediate groups made
        self.lcpl.set_create_intermediate_group(True)
        self.lcpl.set_char_encoding(h5t.CSET_ASCII)
        self._types: dict[str, Any] = {}
        self._column_dcpls: dict[tuple[Any, ...], Any] = {}
        #: HDF5's C functions for the small objects (None: h5py's low-level API for all)
        self.c = capi()
        ids = {kind: (found[0].id, found[1].id) for kind, found in self.scalars.items()}
        # (file type, memory type, value -> C buffer) by Python type; text is handed to
        # HDF5 as the UTF-8 ``char *`` h5py would make (its memory type for ``str`` is a
        # Python object), so the memory type is the file's variable-length string
        self.c_scalars: dict[type, tuple[int, int, Any]] = {
            str: (ids[str][0], ids[str][0], _c_text),
            int: (*ids[int], _c_int), np.int64: (*ids[np.int64], _c_int),
            float: (*ids[float], _c_float), np.float64: (*ids[np.float64], _c_float),
        }

    def file_type(self, dtype: np.dtype[Any]) -> Any:
        """The file type h5py makes for ``dtype`` (made once for numbers)."""
        found = self._types.get(dtype.str) if dtype.kind in "biuf" else None
        if found is None:
            from h5py import h5t

            found = h5t.py_create(dtype, logical=True)
            if dtype.kind in "biuf":
                self._types[dtype.str] = found
        return found

    def column_dcpl(self, chunks: tuple[int, ...], fill: Any, compression: Mapping[str, Any]
                    ) -> Any:
        """The creation property list h5py's ``create_dataset`` makes for a column."""
        key = (chunks, repr(fill), tuple(sorted(compression.items())))
        dcpl = self._column_dcpls.get(key)
        if dcpl is None:
            from h5py import h5p

            dcpl = h5p.create(h5p.DATASET_CREATE)
            dcpl.set_chunk(chunks)
            if compression.get("shuffle"):
                dcpl.set_shuffle()
            if compression.get("compression") == "gzip":
                dcpl.set_deflate(compression.get("compression_opts", 4))
            if fill is not None:
                dcpl.set_fill_value(np.array(fill))
            dcpl.set_obj_track_times(False)
            self._column_dcpls[key] = dcpl
        return dcpl

    def scalar(self, value: Any) -> tuple[Any, Any, np.ndarray] | None:
        """(file type, memory type, value as a 0-d array), or None: not a plain scalar."""
        found = self.scalars.get(type(value))
        if found is None or (type(value) is int and not -(1 << 63) <= value < (1 << 63)):
            return None
        htype, mtype, dtype = found
        return htype, mtype, np.array(value, dtype=dtype)

    def c_scalar(self, value: Any) -> tuple[int, int, Any] | None:
        """(file type, memory type, C buffer) of a plain scalar for HDF5's C functions, or
        None: not a plain scalar, no C functions, or text HDF5 cannot take as a C string."""
        found = self.c_scalars.get(type(value)) if self.c is not None else None
        if found is None:
            return None
        buffer = found[2](value)
        return None if buffer is None else (found[0], found[1], buffer)


def _c_int(value: int) -> Any:
    return ctypes.byref(ctypes.c_int64(value)) if -(1 << 63) <= value < (1 << 63) else None


def _c_float(value: float) -> Any:
    return ctypes.byref(ctypes.c_double(value))


def _c_text(value: str) -> Any:
    """A ``char **`` to ``value`` in UTF-8; None for text with NUL (a C string ends there)
    or that UTF-8 cannot encode (lone surrogates): h5py decides about those."""
    if "\0" in value:
        return None
    try:
        return ctypes.byref(ctypes.c_char_p(value.encode()))
    except UnicodeEncodeError:
        return None


@cache
def _kit() -> _Kit:
    """The kit, made on first use."""
    return _Kit()


def _high_level(oid: Any) -> Any:
    """The high-level object of a low-level id (for the values without a fast path)."""
    h5py = _kit().h5py
    if isinstance(oid, h5py.h5d.DatasetID):
        return h5py.Dataset(oid)
    return h5py.Group(oid)


def set_attrs(oid: Any, values: Mapping[str, Any]) -> None:
    """``obj.attrs.update(values)`` on the object ``oid`` (an existing attribute replaced)."""
    kit = _kit()
    c = kit.c
    if c is None:
        for key, value in values.items():
            _set_attr(oid, key, value)
        return
    with c.lock:
        _c_attrs(kit, oid.id, values, lambda: oid)


def _c_attrs(kit: _Kit, loc: int, values: Mapping[str, Any], h5py_id: Any) -> None:
    """``values`` as scalar attributes of the object ``loc`` through HDF5's C functions
    (under h5py's lock); a value that is not a plain scalar, or that HDF5 refuses, goes
    through h5py on the object ``h5py_id()`` (which raises HDF5's message)."""
    space = kit.scalar_space.id
    for key, value in values.items():
        made = kit.c_scalar(value)
        if made is None or not _c_attr(kit.c, loc, key.encode(), space, made):
            _set_attr(h5py_id(), key, value)


def _c_attr(c: Any, loc: int, name: bytes, space: int, made: tuple[int, int, Any]) -> bool:
    """One scalar attribute through HDF5's C functions; False if HDF5 refused a step (the
    caller repeats it through h5py, which raises HDF5's message)."""
    if c.aexists(loc, name) > 0 and c.adelete(loc, name) < 0:
        return False
    attr = c.acreate(loc, name, made[0], space, 0, 0)
    if attr < 0:
        return False
    written = c.awrite(attr, made[1], made[2]) >= 0
    c.aclose(attr)
    return written


def _set_attr(oid: Any, key: str, value: Any) -> None:
    """One attribute through h5py's low-level API (its high-level one for other values)."""
    from h5py import h5a

    kit = _kit()
    made = kit.scalar(value)
    if made is None:
        _high_level(oid).attrs[key] = value
        return
    name = key.encode()
    if h5a.exists(oid, name):
        h5a.delete(oid, name)
    htype, mtype, arr = made
    h5a.create(oid, name, htype, kit.scalar_space).write(arr, mtype=mtype)


def group(parent: Any, name: str) -> Any:
    """A new group ``name`` under ``parent`` (``parent.create_group(name)``)."""
    from h5py import h5g

    kit = _kit()
    return h5g.create(parent, name.encode(), lcpl=kit.lcpl, gcpl=kit.gcpl)


def link(parent: Any, name: str, target: Any) -> None:
    """A hard link ``name`` under ``parent`` to the object ``target`` (``parent[name] = obj``)."""
    from h5py import h5o

    h5o.link(target, parent, name.encode(), lcpl=_kit().lcpl)


def _scalar_dataset(parent: Any, name: bytes, value: Any) -> Any:
    """A scalar string or number dataset as ``create_dataset(name, data=value)`` makes it;
    None (nothing made) for anything else."""
    from h5py import h5d, h5s

    kit = _kit()
    made = kit.scalar(value)
    if made is None:
        return None
    htype, mtype, arr = made
    ds = h5d.create(parent, name, htype, kit.scalar_space, dcpl=kit.scalar_dcpl, lcpl=kit.lcpl)
    ds.write(h5s.ALL, h5s.ALL, arr, mtype=mtype)
    return ds


def _c_scalar_dataset(parent: Any, name: bytes, value: Any,
                      attrs: Mapping[str, Any] | None) -> bool:
    """:func:`_scalar_dataset` with ``attrs``, through HDF5's C functions (never a Python
    object); False if nothing was made (not a plain scalar, or HDF5 refused to create it:
    the caller makes it through h5py, which raises HDF5's message)."""
    kit = _kit()
    c = kit.c
    made = kit.c_scalar(value)
    if c is None or made is None:
        return False
    space = kit.scalar_space.id
    with c.lock:
        ds = c.dcreate(parent.id, name, made[0], space, kit.lcpl.id, kit.scalar_dcpl.id, 0)
        if ds < 0:
            return False
        try:
            if c.dwrite(ds, made[1], 0, 0, 0, made[2]) < 0:
                _scalar_write(parent, name, value)  # (raises HDF5's message)
            _c_attrs(kit, ds, attrs or {}, lambda: _dataset(parent, name))
        finally:
            c.dclose(ds)
    return True


def _dataset(parent: Any, name: bytes) -> Any:
    from h5py import h5d

    return h5d.open(parent, name)


def _scalar_write(parent: Any, name: bytes, value: Any) -> None:
    """Write a plain scalar into the existing dataset ``parent/name`` through h5py."""
    from h5py import h5s

    made = _kit().scalar(value)
    if made is None:
        raise TypeError(f"{name.decode()!r}: {type(value).__name__} is not a scalar number "
                        "or text")
    _dataset(parent, name).write(h5s.ALL, h5s.ALL, made[2], mtype=made[1])


def _array_dataset(parent: Any, name: bytes, arr: np.ndarray) -> Any:
    """A contiguous numeric dataset as ``create_dataset(name, data=arr)`` makes it."""
    from h5py import h5d, h5s

    kit = _kit()
    arr = arr if arr.flags.c_contiguous else arr.copy(order="C")  # (0-d stays 0-d)
    space = h5s.create_simple(arr.shape)
    ds = h5d.create(parent, name, kit.file_type(arr.dtype), space, dcpl=kit.array_dcpl,
                    lcpl=kit.lcpl)
    ds.write(h5s.ALL, h5s.ALL, arr)
    return ds


def write_mapping(parent: Any, mapping: Mapping[str, Any],
                  attrs: Mapping[str, Mapping[str, Any]] | None = None) -> None:
    """Write nested configuration as groups and datasets (``UserDataCfg/``, ``epicsOnce/``).

    Mappings become sub-groups, numbers and arrays datasets, strings string
    datasets; ``None`` is recorded as an empty string so the key stays visible.
    ``attrs`` gives attributes of the datasets made for some keys (``units``).
    """
    kit = _kit()
    for key, value in mapping.items():
        name = (str(key).replace("/", "_") or "_").encode()
        if isinstance(value, Mapping):
            from h5py import h5g

            sub = (h5g.open(parent, name) if parent.links.exists(name)
                   else h5g.create(parent, name, lcpl=kit.lcpl, gcpl=kit.gcpl))
            write_mapping(sub, value)
            continue
        value = "" if value is None else value
        extra = attrs.get(key) if attrs else None
        if _c_scalar_dataset(parent, name, value, extra):
            continue
        made = _scalar_dataset(parent, name, value)
        if made is None:
            made = _other_dataset(parent, name, value)
        if extra:
            set_attrs(made, extra)


def _other_dataset(parent: Any, name: bytes, value: Any) -> Any:
    """A dataset of a value that is not a plain scalar: an array, or JSON text."""
    arr = np.asarray(value)
    if arr.dtype.kind in "OU":  # (``create_dataset(name, data=json, dtype=string_dtype())``)
        from h5py import h5d, h5s

        kit = _kit()
        htype, mtype, text = kit.scalars[str]
        ds = h5d.create(parent, name, htype, kit.scalar_space, dcpl=kit.array_dcpl,
                        lcpl=kit.lcpl)
        ds.write(h5s.ALL, h5s.ALL, np.array(json_attr(value), dtype=text), mtype=mtype)
        return ds
    if arr.dtype.kind == "b":
        return _array_dataset(parent, name, arr.astype(np.uint8))
    if arr.dtype.kind in "iuf":
        return _array_dataset(parent, name, arr)
    return _high_level(parent).create_dataset(name.decode(), data=arr).id


def overwrite(parent: Any, values: Mapping[str, Any]) -> None:
    """Write new values into existing scalar datasets of ``parent`` (same types: the
    numbers of a copied tree)."""
    kit = _kit()
    c = kit.c
    for name, value in values.items():
        encoded = name.encode()
        made = kit.c_scalar(value)
        if c is not None and made is not None:
            with c.lock:
                ds = c.dopen(parent.id, encoded, 0)
                if ds >= 0:
                    written = c.dwrite(ds, made[1], 0, 0, 0, made[2]) >= 0
                    c.dclose(ds)
                    if written:
                        continue
        _scalar_write(parent, encoded, value)


@dataclass(frozen=True, slots=True)
class Column:
    """A per-shot dataset and how its chunks are stored (see :func:`append`)."""

    id: Any  # h5py.h5d.DatasetID
    dtype: np.dtype[Any]
    rest: tuple[int, ...]  # the shape of a row
    chunks: tuple[int, ...]
    fill: Any
    compression: Mapping[str, Any]


def column(parent: Any, name: str, dtype: np.dtype[Any], rest: tuple[int, ...], *,
           chunks: tuple[int, ...], fill: Any, compression: Mapping[str, Any]) -> Any:
    """An empty per-shot dataset of ``dtype`` growing along its first axis, rows of shape
    ``rest`` (``create_dataset(name, shape=(0, *rest), maxshape=(None, *rest),
    chunks=…, dtype=…, fillvalue=fill, **compression)``)."""
    from h5py import h5d, h5s

    kit = _kit()
    space = h5s.create_simple((0, *rest), (h5s.UNLIMITED, *rest))
    return h5d.create(parent, name.encode(), kit.file_type(dtype), space,
                      dcpl=kit.column_dcpl(chunks, fill, compression), lcpl=kit.lcpl)


def append(col: Column, start: int, values: np.ndarray | None, n: int) -> None:
    """Grow a per-shot dataset to ``start + n`` rows and write ``values`` (``n`` rows) there
    (``ds.resize(start + n, axis=0); ds[start:start + n] = values``); ``values`` None
    leaves the new rows at the fill value."""
    from h5py import h5s

    ds = col.id
    ds.set_extent((start + n, *col.rest))
    if values is None or not n:
        return
    if col.dtype.kind == "O":  # (strings: through h5py's own conversions)
        _kit().h5py.Dataset(ds)[start:start + n] = values
        return
    arr = np.asarray(values, order="C")
    if start == 0 and _first_chunk(col, arr):
        return
    fspace = ds.get_space()
    fspace.select_hyperslab((start, *(0 for _ in col.rest)), arr.shape)
    ds.write(h5s.create_simple(arr.shape), fspace, arr)


def _first_chunk(col: Column, arr: np.ndarray) -> bool:
    """Write the first rows of a 1-D column as its whole first chunk, filtered here as
    HDF5's pipeline would (fill value after the rows, shuffle, deflate) — a third of the
    cost of HDF5's partial-chunk write; False (nothing written) where that does not apply."""
    rows = col.chunks[0]
    if (arr.ndim != 1 or len(col.chunks) != 1 or len(arr) > rows or arr.dtype != col.dtype
            or col.fill is None or not set(col.compression) <= _FILTERS):
        return False
    chunk = np.full(rows, col.fill, dtype=col.dtype)
    chunk[:len(arr)] = arr
    raw = chunk.view(np.uint8)
    if col.compression.get("shuffle") and chunk.itemsize > 1:
        raw = raw.reshape(rows, chunk.itemsize).T
    data = raw.tobytes()
    if col.compression.get("compression") == "gzip":
        data = zlib.compress(data, col.compression.get("compression_opts", 4))
    col.id.write_direct_chunk((0,), data, 0)
    return True


#: The filter settings :func:`_first_chunk` knows how to apply.
_FILTERS = frozenset({"compression", "compression_opts", "shuffle"})
