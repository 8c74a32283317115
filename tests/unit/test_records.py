"""``@record`` behaves as ``@dataclass(frozen=True)``: compared class by class."""

from __future__ import annotations

import dataclasses
import math
import pickle
from dataclasses import FrozenInstanceError, dataclass, field

import pytest

from expctl.records import record


@record
class Point:
    x: int
    y: float = 0.0


def _pair(**kw):
    """The same class made by dataclasses and by ``record``."""

    def body(ns: dict) -> None:
        ns["__annotations__"] = {"a": "int", "b": "float", "c": "tuple[int, ...]",
                                 "hidden": "str", "loose": "str", "extra": "list[int]"}
        ns.update(c=(), hidden=field(default="h", repr=False), loose=field(default="x",
                  compare=False), extra=field(default_factory=list, hash=False))

    import types

    plain = dataclass(frozen=True, **kw)(types.new_class("Thing", (), {}, body))
    made = record(**kw)(types.new_class("Thing", (), {}, body))
    return plain, made


def test_equality_hash_and_repr_are_dataclasses_own() -> None:
    plain, made = _pair()
    nan = math.nan
    for args in [(1, 2.0, (3,)), (1, nan, ()), (0, -0.0, (1, 2))]:
        p1, p2 = plain(*args), plain(*args)
        m1, m2 = made(*args), made(*args)
        assert (m1 == m2) == (p1 == p2)
        assert repr(m1) == repr(p1)
        assert (m1 == made(*args, loose="other")) == (p1 == plain(*args, loose="other"))
        if not isinstance(args[1], float) or not math.isnan(args[1]):
            assert hash(m1) == hash(p1)
    assert (made(1, 2.0) == made(2, 2.0)) is False
    assert made(1, 2.0).__eq__(plain(1, 2.0)) is NotImplemented
    assert (made(1, 2.0, extra=[1]) == made(1, 2.0, extra=[2])) is False
    assert hash(made(1, 2.0, extra=[1])) == hash(made(1, 2.0, extra=[2]))
    nan_field = made(1, nan)
    assert nan_field == nan_field  # (fields compared as a tuple, identity first)


def test_fields_replace_match_args_and_frozenness_are_dataclasses() -> None:
    plain, made = _pair(kw_only=True)
    m = made(a=1, b=2.0)
    assert [f.name for f in dataclasses.fields(m)] == [f.name for f in dataclasses.fields(plain)]
    assert dataclasses.replace(m, a=5) == made(a=5, b=2.0)
    assert dataclasses.asdict(m) == dataclasses.asdict(plain(a=1, b=2.0))
    assert made.__match_args__ == plain.__match_args__
    with pytest.raises(FrozenInstanceError):
        m.a = 3  # type: ignore[misc]
    with pytest.raises(TypeError):
        made(1, 2.0)  # type: ignore[misc]  # (keyword-only)
    assert pickle.loads(pickle.dumps(Point(1, 2.0))) == Point(1, 2.0)


def test_methods_the_class_defines_are_kept_and_subclasses_work() -> None:
    @record
    class Base:
        x: int
        y: int = 0

        def __repr__(self) -> str:
            return f"<{self.x}>"

    @record
    class Child(Base):
        z: int = 1

    assert repr(Base(1)) == "<1>"
    assert Child(1, 2, 3) == Child(1, 2, 3) != Child(1, 2, 4)
    assert Child(1) != Base(1)
    assert {Child(1): "a"}[Child(1)] == "a"

    @record
    class OwnEq:
        x: int

        def __eq__(self, other: object) -> bool:
            return True

    assert OwnEq(1) == OwnEq(2)
    assert hash(OwnEq(1)) == hash((1,))  # (the __hash__ = None of its __eq__ replaced)


def test_a_recursive_repr_is_cut() -> None:
    @record
    class Box:
        items: list

    box = Box([])
    box.items.append(box)
    assert repr(box).endswith(".<locals>.Box(items=[...])")  # (the qualname, as dataclasses)
