"""JSON encoding of action results for the journal (RunRecord, PeakResult, readings …).

A journal is data: reading one must never import code it names.  So the
dataclasses it rebuilds on resume come from an explicit :class:`JournalTypes`
registry of classes (expctl's result types by default; a backend or session
with result types of its own adds them with :meth:`JournalTypes.with_types`),
never from a module looked up by name.  Other dataclasses are stored as plain
field mappings and come back as dicts (``${result.field}`` reads both).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Mapping
from functools import cache
from types import MappingProxyType
from typing import Any

from expctl.errors import DataError

__all__ = ["JournalTypes", "decode", "encode", "standard_journal_types"]


def _name(cls: type) -> str:
    return f"{cls.__module__}:{cls.__qualname__}"


class JournalTypes:
    """The dataclasses a journal stores by name and rebuilds on resume (immutable).

    Args:
        types: dataclass types; the name stored is ``module:qualname``.
    """

    def __init__(self, types: Iterable[type] = ()) -> None:
        by_name: dict[str, type] = {}
        for cls in types:
            if not (isinstance(cls, type) and dataclasses.is_dataclass(cls)):
                raise DataError(f"only dataclasses can be journaled, not {cls!r}")
            by_name[_name(cls)] = cls
        self._by_name = MappingProxyType(by_name)
        self._names = {cls: name for name, cls in by_name.items()}

    def with_types(self, *types: type) -> JournalTypes:
        """A registry that also knows ``types``."""
        return JournalTypes((*self._by_name.values(), *types))

    def name_of(self, cls: type) -> str | None:
        """The name ``cls`` is stored under, or None if it is not registered."""
        return self._names.get(cls)

    def get(self, name: str) -> type:
        """The class stored as ``name``; a DataError if it is not registered."""
        try:
            return self._by_name[name]
        except KeyError:
            raise DataError(f"journal names {name}, outside the trusted types",
                            allowed=", ".join(n.partition(":")[2] for n in self._by_name)
                            ) from None


@cache
def standard_journal_types() -> JournalTypes:
    """expctl's own results: run records, peaks, run sums, scans, alignment decisions …"""
    from expctl.analysis.azimuthal import AzimuthalResult
    from expctl.analysis.binning import BinnedResult, OnOffResult
    from expctl.analysis.detector import HistogramResult, ProjectionResult
    from expctl.analysis.peaks import PeakResult
    from expctl.analysis.runsums import RunSumResult
    from expctl.devices.protocols import RunRecord
    from expctl.plans.stubs import AlignmentDecision, ScanData
    from expctl.units import Quantity

    return JournalTypes([RunRecord, Quantity, PeakResult, RunSumResult, HistogramResult,
                         ProjectionResult, AzimuthalResult, BinnedResult, OnOffResult,
                         AlignmentDecision, ScanData])


def encode(obj: Any, types: JournalTypes | None = None) -> Any:
    """A JSON-ready form of ``obj`` that :func:`decode` turns back into an equal object.

    Args:
        obj: a result: numbers, text, containers, arrays, dataclasses.
        types: the dataclasses stored by name (default: :func:`standard_journal_types`).
    """
    if obj is None or isinstance(obj, bool | int | str):
        return obj
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else {"__float__": repr(obj)}
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        fields = {f.name: encode(getattr(obj, f.name), types)
                  for f in dataclasses.fields(obj)}
        name = (types or standard_journal_types()).name_of(type(obj))
        return {"__dc__": name, "f": fields} if name else {"__map__": fields}
    if isinstance(obj, Mapping):
        if all(isinstance(k, str) for k in obj):
            return {"__map__": {k: encode(v, types) for k, v in obj.items()}}
        return {"__pairs__": [[encode(k, types), encode(v, types)] for k, v in obj.items()]}
    if isinstance(obj, tuple):
        return {"__t__": [encode(v, types) for v in obj]}
    if isinstance(obj, frozenset | set):
        return {"__fs__": sorted((encode(v, types) for v in obj), key=repr)}
    if isinstance(obj, list):
        return [encode(v, types) for v in obj]
    tolist = getattr(obj, "tolist", None)  # numpy arrays and scalars
    if tolist is not None:
        if getattr(obj, "ndim", 0) == 0:
            return encode(obj.item(), types)
        return {"__nd__": encode(tolist(), types), "dtype": str(obj.dtype)}
    raise DataError(f"cannot journal a result of type {type(obj).__qualname__}",
                    hint="Analysis results must be dataclasses, numbers, strings or arrays.")


def decode(obj: Any, types: JournalTypes | None = None) -> Any:
    """Rebuild what :func:`encode` stored (``types`` as given to it)."""
    if isinstance(obj, list):
        return [decode(v, types) for v in obj]
    if not isinstance(obj, dict):
        return obj
    if "__map__" in obj:
        return {k: decode(v, types) for k, v in obj["__map__"].items()}
    if "__t__" in obj:
        return tuple(decode(v, types) for v in obj["__t__"])
    if "__fs__" in obj:
        return frozenset(decode(v, types) for v in obj["__fs__"])
    if "__float__" in obj:
        return float(obj["__float__"])
    if "__pairs__" in obj:
        return {decode(k, types): decode(v, types) for k, v in obj["__pairs__"]}
    if "__nd__" in obj:
        import numpy as np

        return np.asarray(decode(obj["__nd__"], types), dtype=obj["dtype"])
    if "__dc__" in obj:
        cls = (types or standard_journal_types()).get(str(obj["__dc__"]))
        fields = {k: decode(v, types) for k, v in obj["f"].items()}
        return cls(**{f.name: fields[f.name] for f in dataclasses.fields(cls)
                      if f.init and f.name in fields})
    raise DataError(f"journal holds an unknown record {sorted(obj)!r}")

