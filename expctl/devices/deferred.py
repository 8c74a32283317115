"""Readings whose values are computed when someone looks at them.

A simulated detector knows at read time *which* shots a reading covers, but
computing their physics (monitors, Bragg reflection, photon counts, noise)
costs far more than the engine spends on a step-scan point.  A plan that only
collects readings (``scan``), or a rehearsal that counts beamline time, need
not pay for values nobody reads: a backend may return a
:class:`DeferredReading` whose values are computed on first access from
inputs frozen at read time, so *when* they are computed never changes them.
Anything that stores or sends a reading elsewhere (pickling, a journal, a
file) gets plain numbers: pickling resolves it into a ``dict``.
"""

from __future__ import annotations

from collections.abc import Callable, ItemsView, Iterator, Mapping, Sequence, ValuesView
from typing import Any, cast

__all__ = ["DeferredReading", "Readings", "merge_readings", "plain_reading"]

_new = object.__new__


class DeferredReading(Mapping[str, Any]):
    """One device's reading: its signal names now, its values on first access.

    Args:
        keys: the signal names (known without computing anything).
        compute: ``compute(source)`` returns ``{signal: value}`` for exactly ``keys``; it
            must not depend on when it is called (two threads racing to the first access
            both call it).
        source: what the values are computed from (frozen at read time).
        known: values known at read time without computing anything (a beam status
            beside a pulse energy from the shots): looking at them computes nothing;
            ``compute`` gives the other keys.

    A step scan keeps every reading, so a reading is small: no closure per read
    (``compute`` is one function per device), which also keeps the garbage
    collector's work per point down.
    """

    __slots__ = ("_compute", "_keys", "_known", "_source", "_values")

    def __init__(self, keys: tuple[str, ...], compute: Callable[[Any], dict[str, Any]],
                 source: Any, known: dict[str, Any] | None = None) -> None:
        self._keys = keys
        self._compute = compute
        self._source = source
        self._known = known
        self._values: dict[str, Any] | None = None

    def resolve(self) -> dict[str, Any]:
        """The values (computed now if they were not yet; the source is let go then, so
        kept readings keep numbers, not shots)."""
        values = self._values
        if values is None:
            source = self._source
            if source is None:  # another thread has just computed them
                return cast(dict[str, Any], self._values)
            values = self._compute(source)
            if self._known is not None:
                values = {**self._known, **values}
            self._values = values
            self._source = None
        return values

    @classmethod
    def of(cls, keys: tuple[str, ...], compute: Callable[[Any], dict[str, Any]], source: Any,
           known: dict[str, Any] | None = None) -> DeferredReading:
        """``DeferredReading(keys, compute, source, known)``, made without calling the class
        (cheaper in Python 3.11: a scan reads at every point)."""
        reading = _new(cls)
        reading._keys, reading._compute, reading._source = keys, compute, source
        reading._known = known
        reading._values = None
        return reading

    @property
    def resolved(self) -> bool:
        """Whether the values have been computed."""
        return self._values is not None

    def __getitem__(self, key: str) -> Any:
        if key not in self._keys:
            raise KeyError(key)
        known = self._known
        if known is not None and key in known:
            return known[key]
        return self.resolve()[key]

    def items(self) -> ItemsView[str, Any]:
        return self.resolve().items()

    def values(self) -> ValuesView[Any]:
        return self.resolve().values()

    def __contains__(self, key: object) -> bool:
        return key in self._keys

    def __iter__(self) -> Iterator[str]:
        return iter(self._keys)

    def __len__(self) -> int:
        return len(self._keys)

    def __reduce__(self) -> tuple[Any, ...]:
        return dict, (self.resolve(),)

    def __repr__(self) -> str:
        return repr(self.resolve())


class Readings(Mapping[str, Any]):
    """Several devices' readings as one mapping (a later device's signal wins, as with
    ``dict.update``); looking up a signal resolves only the reading that holds it."""

    __slots__ = ("_index", "_parts")

    def __init__(self, parts: Sequence[Mapping[str, Any]]) -> None:
        self._parts = parts  # (the caller's list: one object fewer per kept reading)
        self._index: dict[str, Mapping[str, Any]] | None = None  # signal -> part, when asked

    def _where(self) -> dict[str, Mapping[str, Any]]:
        index = self._index
        if index is None:
            index = self._index = {key: part for part in self._parts for key in part}
        return index

    def __getitem__(self, key: str) -> Any:
        return self._where()[key][key]

    def __contains__(self, key: object) -> bool:
        return key in self._where()

    def __iter__(self) -> Iterator[str]:
        return iter(self._where())

    def __len__(self) -> int:
        return len(self._where())

    def resolve(self) -> dict[str, Any]:
        """Every value, as one plain ``dict``."""
        out: dict[str, Any] = {}
        for part in self._parts:
            out.update(part.resolve() if isinstance(part, DeferredReading) else part)
        return out

    def items(self) -> ItemsView[str, Any]:
        return self.resolve().items()

    def values(self) -> ValuesView[Any]:
        return self.resolve().values()

    def __reduce__(self) -> tuple[Any, ...]:
        return dict, (self.resolve(),)

    def __repr__(self) -> str:
        return repr(self.resolve())


def plain_reading(reading: Mapping[str, Any]) -> dict[str, Any]:
    """A reading's values as a new plain ``dict`` (deferred values computed now)."""
    if isinstance(reading, Readings):
        return reading.resolve()
    return dict(reading.resolve() if isinstance(reading, DeferredReading) else reading)


def merge_readings(parts: Sequence[Mapping[str, Any]]) -> Mapping[str, Any]:
    """The readings of several devices as one mapping: a ``dict`` when every part is one
    (nothing deferred), else a :class:`Readings` view that keeps the deferred parts
    deferred."""
    out: dict[str, Any] = {}
    for part in parts:
        if type(part) is not dict:
            merged = _new(Readings)  # (Readings(parts), without calling the class)
            merged._parts, merged._index = parts, None
            return merged
        out.update(part)
    return out
