"""Arithmetic of expression values: numbers, quantities with units, run-time placeholders.

Units follow the operations (``1 ps + 500 fs`` is ``1.5 ps``); a value known
only during the run is an :class:`Unknown` that carries its units through, so
the static check finds unit mismatches before anything runs.  Every result is
finite: overflow and NaN are errors, never values.
"""

from __future__ import annotations

import ast
import math
import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from expctl.errors import SequenceError
from expctl.units import Quantity, convert, dimension_of, format_quantity

__all__ = ["COMPARISONS", "ExprError", "ResultShape", "Unknown", "add", "compare",
           "describe_value", "finite", "is_number", "kind_of", "multiply", "negate", "power",
           "same_dimension", "truth", "unit_of"]

_MAX_POWER = 1e6


class ExprError(SequenceError):
    """A problem in one expression, not yet located: the caller adds file and line
    (:func:`~expctl.sequence.model.expr_error`)."""

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)


@dataclass(frozen=True, slots=True)
class Unknown:
    """A value known only at run time; ``unit`` is its units if known (``""`` plain)."""

    unit: str | None = None
    what: str = "a value known only during the run"


@dataclass(frozen=True, slots=True)
class ResultShape:
    """What a named result will look like: its kind and its fields (name -> units or None)."""

    kind: str
    fields: Mapping[str, str | None]


def describe_value(value: Any) -> str:
    """A short human rendering of an expression value for messages and dry-run output."""
    if isinstance(value, Quantity):
        return format_quantity(value.value, value.unit)
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, list | tuple):
        if len(value) > 6:
            return (f"[{', '.join(describe_value(v) for v in value[:3])}, …, "
                    f"{describe_value(value[-1])}] ({len(value)} values)")
        return f"[{', '.join(describe_value(v) for v in value)}]"
    if isinstance(value, Unknown):
        return "?"
    return str(value)


def is_number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def unit_of(v: Any) -> str | None:
    if isinstance(v, Quantity):
        return v.unit
    if is_number(v):
        return ""
    if isinstance(v, Unknown):
        return v.unit
    return None


def kind_of(v: Any) -> str:
    if isinstance(v, Quantity):
        return f"quantity {describe_value(v)}"
    if isinstance(v, bool):
        return "true/false"
    if is_number(v):
        return f"number {describe_value(v)}"
    if isinstance(v, str):
        return f"text {v!r}"
    if isinstance(v, list | tuple):
        return "list"
    return type(v).__name__


def same_dimension(a: Any, b: Any, what: str) -> tuple[float, float, str]:
    ua, ub = unit_of(a), unit_of(b)
    if ua is None or ub is None:
        raise ExprError(f"cannot {what} {kind_of(a)} and {kind_of(b)}")
    va = a.value if isinstance(a, Quantity) else float(a)
    vb = b.value if isinstance(b, Quantity) else float(b)
    if ua == ub:
        return va, vb, ua
    if ua == "" or ub == "":
        q, n = (a, b) if ua else (b, a)
        raise ExprError(
            f"cannot {what} {kind_of(q)} and plain {kind_of(n)}",
            hint=f"Give the number a unit, e.g. {describe_value(n)} {q.unit}.",
        )
    try:
        return va, convert(vb, ub, ua), ua
    except Exception:
        raise ExprError(f"cannot {what} {ua} ({dimension_of(ua)}) and {ub} "
                        f"({dimension_of(ub)})") from None


def finite(value: float, unit: str) -> Any:
    if not math.isfinite(value):
        raise ExprError("the result is not a finite number")
    return Quantity(value, unit) if unit else value


def add(a: Any, b: Any, sign: float, what: str) -> Any:
    if isinstance(a, Unknown) or isinstance(b, Unknown):
        ua, ub = unit_of(a), unit_of(b)
        if ua is not None and ub is not None and ua != ub and "" not in (ua, ub):
            same_dimension(Quantity(1.0, ua), Quantity(1.0, ub), what)
        return Unknown(ua if ua is not None else ub)
    if isinstance(a, list) and isinstance(b, list) and sign > 0:
        return a + b
    va, vb, unit = same_dimension(a, b, what)
    result = va + sign * vb
    if is_number(a) and is_number(b) and isinstance(a, int) and isinstance(b, int):
        return int(result)
    return finite(result, unit)


def multiply(a: Any, b: Any, divide: bool) -> Any:
    what = "divide" if divide else "multiply"
    if isinstance(a, Unknown) or isinstance(b, Unknown):
        ua, ub = unit_of(a), unit_of(b)
        if divide and ua is not None and ua == ub:
            return Unknown("")
        return Unknown(ua if not ub else (ub if not ua and not divide else None))
    ua, ub = unit_of(a), unit_of(b)
    if ua is None or ub is None:
        raise ExprError(f"cannot {what} {kind_of(a)} and {kind_of(b)}")
    va = a.value if isinstance(a, Quantity) else float(a)
    vb = b.value if isinstance(b, Quantity) else float(b)
    if divide:
        if vb == 0:
            raise ExprError("division by zero")
        if ua and ub:
            return finite(va / convert(vb, ub, ua) if dimension_of(ua) == dimension_of(ub)
                         else _raise_units(a, b, what), "")
        if ub:
            raise ExprError(f"cannot divide a plain number by {kind_of(b)}")
        return finite(va / vb, ua)
    if ua and ub:
        _raise_units(a, b, what)
    result = va * vb
    if isinstance(a, int) and isinstance(b, int) and not isinstance(a, bool):
        return int(result)
    return finite(result, ua or ub)


def _raise_units(a: Any, b: Any, what: str) -> float:
    raise ExprError(f"cannot {what} {kind_of(a)} by {kind_of(b)}: products of units are not "
                    "supported")


def power(a: Any, b: Any) -> Any:
    if isinstance(a, Unknown) or isinstance(b, Unknown):
        return Unknown("")
    if not (is_number(a) and is_number(b)):
        raise ExprError(f"** needs plain numbers, got {kind_of(a)} and {kind_of(b)}")
    if abs(b) > 64 or abs(a) > _MAX_POWER:
        raise ExprError("number too large for **", hint="Keep bases below 1e6 and exponents "
                        "within ±64.")
    try:
        result = a ** b
    except ZeroDivisionError:
        raise ExprError("0 cannot be raised to a negative power") from None
    if isinstance(result, complex):
        raise ExprError("a negative number to a fractional power is not a real number")
    return finite(float(result), "") if isinstance(result, float) else result


def negate(a: Any) -> Any:
    if isinstance(a, Unknown):
        return a
    if isinstance(a, Quantity):
        return Quantity(-a.value, a.unit)
    if is_number(a):
        return -a
    raise ExprError(f"cannot negate {kind_of(a)}")


COMPARISONS: dict[type[ast.cmpop], Callable[[Any, Any], bool]] = {
    ast.Lt: operator.lt, ast.LtE: operator.le, ast.Gt: operator.gt, ast.GtE: operator.ge,
    ast.Eq: operator.eq, ast.NotEq: operator.ne,
}


def compare(op: ast.cmpop, a: Any, b: Any) -> Any:
    if isinstance(op, ast.In | ast.NotIn):
        if isinstance(b, Unknown) or isinstance(a, Unknown):
            return Unknown("")
        if not isinstance(b, list | tuple):
            raise ExprError(f"`in` needs a list on its right, got {kind_of(b)}")
        found = any(_equal(a, v) for v in b)
        return found if isinstance(op, ast.In) else not found
    fn = COMPARISONS[type(op)]
    if isinstance(a, Unknown) or isinstance(b, Unknown):
        return Unknown("")
    if isinstance(a, str) or isinstance(b, str):
        if type(op) in (ast.Eq, ast.NotEq):
            return fn(a, b)
        raise ExprError(f"cannot order {kind_of(a)} and {kind_of(b)}")
    if isinstance(a, bool) or isinstance(b, bool):
        if type(op) in (ast.Eq, ast.NotEq):
            return fn(a, b)
        raise ExprError(f"cannot order {kind_of(a)} and {kind_of(b)}")
    va, vb, _ = same_dimension(a, b, "compare")
    return fn(va, vb)


def _equal(a: Any, b: Any) -> bool:
    try:
        return bool(compare(ast.Eq(), a, b))
    except ExprError:
        return False


def truth(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if is_number(value):
        return value != 0
    raise ExprError(f"expected true/false, got {kind_of(value)}")
