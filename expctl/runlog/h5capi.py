"""The few HDF5 C functions a run file's small objects need, called through ctypes.

h5py wraps every identifier HDF5 hands out in a Python object (registered, locked,
closed on collection): ~10 µs each, more than HDF5 itself needs to create and write
a scalar attribute in an in-memory file.  A run file has ~110 attributes and ~45
scalar datasets, each made, written once and closed; here they never become Python
objects.  The functions are HDF5's own, found through h5py's extension module (the
library h5py loaded, bundled or not: the same identifiers, the same error stack), and
called under h5py's lock, as h5py calls them.

:func:`capi` is None when the symbols cannot be found (an h5py built some other way):
callers then use h5py's low-level API, which makes the same objects.  A call that
fails returns a negative value; callers repeat it through h5py, which raises HDF5's
own message.
"""

from __future__ import annotations

import ctypes
from functools import cache
from typing import Any

__all__ = ["CApi", "capi"]

_hid = ctypes.c_int64
_herr = ctypes.c_int
_name = ctypes.c_char_p
_ptr = ctypes.c_void_p


class CApi:
    """Bound HDF5 functions (``H5Acreate2`` as ``acreate`` …) and h5py's lock."""

    def __init__(self, lib: ctypes.CDLL, lock: Any) -> None:
        def bind(symbol: str, restype: Any, *argtypes: Any) -> Any:
            function = getattr(lib, symbol)
            function.restype = restype
            function.argtypes = list(argtypes)
            return function

        #: h5py's global lock: no other thread calls HDF5 while it is held
        self.lock = lock
        self.acreate = bind("H5Acreate2", _hid, _hid, _name, _hid, _hid, _hid, _hid)
        self.awrite = bind("H5Awrite", _herr, _hid, _hid, _ptr)
        self.aclose = bind("H5Aclose", _herr, _hid)
        self.aexists = bind("H5Aexists", ctypes.c_int, _hid, _name)
        self.adelete = bind("H5Adelete", _herr, _hid, _name)
        self.dcreate = bind("H5Dcreate2", _hid, _hid, _name, _hid, _hid, _hid, _hid, _hid)
        self.dopen = bind("H5Dopen2", _hid, _hid, _name, _hid)
        self.dwrite = bind("H5Dwrite", _herr, _hid, _hid, _hid, _hid, _hid, _ptr)
        self.dclose = bind("H5Dclose", _herr, _hid)


@cache
def capi() -> CApi | None:
    """The bound functions, or None where h5py's library does not export them."""
    from h5py import _objects, h5

    try:
        return CApi(ctypes.CDLL(h5.__file__), _objects.phil)
    except (OSError, AttributeError):
        return None
