"""``@record``: a frozen dataclass that costs less to define at import.

``@dataclass(frozen=True)`` writes six methods as Python source and compiles each one
(``__init__``, ``__repr__``, ``__eq__``, ``__hash__``, ``__setattr__``, ``__delattr__``): ~1 ms
of CPU per class on these machines, ~0.15 ms per compile, paid by every process that
imports the class — 150-odd classes before a campaign's first run.  ``record`` lets
dataclasses write what must be generated (``__init__``, fast per instance; the frozen
``__setattr__``/``__delattr__``) and gives the class ``__eq__``, ``__hash__`` and ``__repr__``
made of closures over its fields, which compile nothing: ~40 % less per class (ADR 23).

They behave as dataclasses' own: ``__eq__`` compares the fields with ``compare=True`` as a
tuple (so a NaN field equals itself, as in a tuple) with an instance of the very same
class, else returns ``NotImplemented``; ``__hash__`` hashes the fields dataclasses would
hash; ``__repr__`` shows the fields with ``repr=True`` and guards against recursion.
A method the class defines itself is kept.  ``fields``, ``replace``, ``asdict`` and
``__match_args__`` are dataclasses' (a test compares both kinds of class).
"""

from __future__ import annotations

import dataclasses
import reprlib
from collections.abc import Callable
from operator import attrgetter
from typing import Any, TypeVar, dataclass_transform

__all__ = ["record"]

T = TypeVar("T", bound=type)


@dataclass_transform(frozen_default=True, field_specifiers=(dataclasses.field,))
def record(cls: T | None = None, /, *, kw_only: bool = False) -> Any:
    """A frozen dataclass of ``cls`` (``@record`` or ``@record(kw_only=True)``)."""

    def wrap(klass: T) -> T:
        own = dict(klass.__dict__)  # (before dataclasses adds to it)
        dataclasses.dataclass(klass, frozen=True, eq=False, repr=False, kw_only=kw_only)
        fields = dataclasses.fields(klass)
        if "__eq__" not in own:
            klass.__eq__ = _eq(_getter([f.name for f in fields if f.compare]))  # type: ignore
        # as dataclasses do: a __hash__ of None that came with the class's own __eq__ is
        # replaced, one the class set itself is kept
        if "__hash__" not in own or (own["__hash__"] is None and "__eq__" in own):
            hashed = [f.name for f in fields if (f.compare if f.hash is None else f.hash)]
            klass.__hash__ = _hash(_getter(hashed))  # type: ignore[assignment]
        if "__repr__" not in own:
            klass.__repr__ = _repr([f.name for f in fields if f.repr])  # type: ignore
        return klass

    return wrap if cls is None else wrap(cls)


def _getter(names: list[str]) -> Callable[[Any], tuple[Any, ...]]:
    """The named attributes as a tuple (``attrgetter`` returns a bare value for one name)."""
    if len(names) == 1:
        one = attrgetter(names[0])
        return lambda obj: (one(obj),)
    if not names:
        return lambda obj: ()
    return attrgetter(*names)


def _eq(key: Callable[[Any], tuple[Any, ...]]) -> Callable[[Any, Any], Any]:
    def __eq__(self: Any, other: Any) -> Any:
        if other.__class__ is self.__class__:
            return key(self) == key(other)
        return NotImplemented

    return __eq__


def _hash(key: Callable[[Any], tuple[Any, ...]]) -> Callable[[Any], int]:
    def __hash__(self: Any) -> int:
        return hash(key(self))

    return __hash__


def _repr(names: list[str]) -> Callable[[Any], str]:
    @reprlib.recursive_repr()
    def __repr__(self: Any) -> str:
        shown = ", ".join(f"{name}={getattr(self, name)!r}" for name in names)
        return f"{self.__class__.__qualname__}({shown})"

    return __repr__
