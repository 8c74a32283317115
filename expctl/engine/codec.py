"""JSON encoding of action results for the journal (RunRecord, PeakResult, readings …).

Dataclasses are stored with their import path and rebuilt on resume, but only
from trusted packages (``expctl``, ``sim``): a journal is data, and reading
one must never import arbitrary code.
"""

from __future__ import annotations

import dataclasses
import importlib
import math
from collections.abc import Mapping
from typing import Any

from expctl.errors import DataError

__all__ = ["TRUSTED_PACKAGES", "decode", "encode"]

TRUSTED_PACKAGES: tuple[str, ...] = ("expctl", "sim")


def encode(obj: Any) -> Any:
    """A JSON-ready form of ``obj`` that :func:`decode` turns back into an equal object."""
    if obj is None or isinstance(obj, bool | int | str):
        return obj
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else {"__float__": repr(obj)}
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        cls = type(obj)
        return {"__dc__": f"{cls.__module__}:{cls.__qualname__}",
                "f": {f.name: encode(getattr(obj, f.name)) for f in dataclasses.fields(obj)}}
    if isinstance(obj, Mapping):
        if all(isinstance(k, str) for k in obj):
            return {"__map__": {k: encode(v) for k, v in obj.items()}}
        return {"__pairs__": [[encode(k), encode(v)] for k, v in obj.items()]}
    if isinstance(obj, tuple):
        return {"__t__": [encode(v) for v in obj]}
    if isinstance(obj, frozenset | set):
        return {"__fs__": sorted((encode(v) for v in obj), key=repr)}
    if isinstance(obj, list):
        return [encode(v) for v in obj]
    tolist = getattr(obj, "tolist", None)  # numpy arrays and scalars
    if tolist is not None:
        if getattr(obj, "ndim", 0) == 0:
            return encode(obj.item())
        return {"__nd__": encode(tolist()), "dtype": str(obj.dtype)}
    raise DataError(f"cannot journal a result of type {type(obj).__qualname__}",
                    hint="Analysis results must be dataclasses, numbers, strings or arrays.")


def decode(obj: Any) -> Any:
    """Rebuild what :func:`encode` stored."""
    if isinstance(obj, list):
        return [decode(v) for v in obj]
    if not isinstance(obj, dict):
        return obj
    if "__map__" in obj:
        return {k: decode(v) for k, v in obj["__map__"].items()}
    if "__t__" in obj:
        return tuple(decode(v) for v in obj["__t__"])
    if "__fs__" in obj:
        return frozenset(decode(v) for v in obj["__fs__"])
    if "__float__" in obj:
        return float(obj["__float__"])
    if "__pairs__" in obj:
        return {decode(k): decode(v) for k, v in obj["__pairs__"]}
    if "__nd__" in obj:
        import numpy as np

        return np.asarray(decode(obj["__nd__"]), dtype=obj["dtype"])
    if "__dc__" in obj:
        return _rebuild(obj["__dc__"], {k: decode(v) for k, v in obj["f"].items()})
    raise DataError(f"journal holds an unknown record {sorted(obj)!r}")


def _rebuild(path: str, fields: dict[str, Any]) -> Any:
    module, _, qualname = path.partition(":")
    if module.split(".")[0] not in TRUSTED_PACKAGES:
        raise DataError(f"journal names {path}, outside the trusted packages",
                        allowed=", ".join(TRUSTED_PACKAGES))
    try:
        cls: Any = importlib.import_module(module)
        for part in qualname.split("."):
            cls = getattr(cls, part)
    except (ImportError, AttributeError):
        raise DataError(f"journal names {path}, which no longer exists") from None
    if not (isinstance(cls, type) and dataclasses.is_dataclass(cls)):
        raise DataError(f"journal names {path}, which is not a dataclass")
    init = {f.name: fields[f.name] for f in dataclasses.fields(cls) if f.init and f.name in fields}
    return cls(**init)
