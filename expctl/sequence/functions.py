"""The functions and constants a ``${…}`` expression may use, and nothing else."""

from __future__ import annotations

import ast
import math
from collections.abc import Callable
from typing import Any

from expctl.sequence.arith import (
    ExprError,
    Unknown,
    compare,
    describe_value,
    finite,
    is_number,
    kind_of,
    same_dimension,
    unit_of,
)
from expctl.units import Quantity

__all__ = ["CONSTANTS", "FUNCTIONS", "MAX_LIST", "arange", "integer", "linspace"]

#: the most values ``linspace`` and ``range`` may give
MAX_LIST = 100_000


def _plain(name: str, fn: Callable[[float], float]) -> Callable[..., Any]:
    def call(x: Any) -> Any:
        if isinstance(x, Unknown):
            return Unknown("")
        if not is_number(x):
            raise ExprError(f"{name}() needs a plain number, got {kind_of(x)}")
        try:
            return finite(fn(float(x)), "")
        except (ValueError, OverflowError):
            raise ExprError(f"{name}({describe_value(x)}) is undefined") from None
    return call


def _abs(x: Any) -> Any:
    if isinstance(x, Unknown):
        return x
    if isinstance(x, Quantity):
        return Quantity(abs(x.value), x.unit)
    if is_number(x):
        return abs(x)
    raise ExprError(f"abs() needs a number, got {kind_of(x)}")


def _extreme(name: str, pick: Callable[..., Any]) -> Callable[..., Any]:
    def call(*args: Any) -> Any:
        values = list(args[0]) if len(args) == 1 and isinstance(args[0], list) else list(args)
        if not values:
            raise ExprError(f"{name}() needs at least one value")
        if any(isinstance(v, Unknown) for v in values):
            return Unknown(next((unit_of(v) for v in values if unit_of(v) is not None), None))
        best = values[0]
        for v in values[1:]:
            if compare(ast.Lt() if pick is min else ast.Gt(), v, best):
                best = v
        return best
    return call


def _round(x: Any, digits: Any = 0) -> Any:
    if isinstance(x, Unknown):
        return x
    if not isinstance(digits, int) or isinstance(digits, bool) or not -20 <= digits <= 20:
        raise ExprError("round() needs a whole number of digits between -20 and 20")
    if isinstance(x, Quantity):
        return Quantity(round(x.value, digits), x.unit)
    if is_number(x):
        return round(x, digits) if digits else int(round(x))
    raise ExprError(f"round() needs a number, got {kind_of(x)}")


def integer(n: Any, what: str) -> int:
    """``n`` as an int (``3.0`` is 3); anything else not whole is an error naming ``what``."""
    if isinstance(n, float) and n.is_integer():
        n = int(n)
    if not isinstance(n, int) or isinstance(n, bool):
        raise ExprError(f"{what} must be a whole number, got {kind_of(n)}")
    return n


def linspace(start: Any, stop: Any, num: Any) -> list[Any]:
    """``num`` evenly spaced values from ``start`` to ``stop`` inclusive (units kept)."""
    n = integer(num, "linspace's number of points")
    if not 1 <= n <= MAX_LIST:
        raise ExprError(f"linspace needs 1 to {MAX_LIST} points, got {n}")
    a, b, unit = same_dimension(start, stop, "span")
    if n == 1:
        return [finite(a, unit)]
    step = (b - a) / (n - 1)
    return [finite(a + i * step, unit) for i in range(n)]


def arange(start: Any, stop: Any | None = None, step: Any = 1) -> list[Any]:
    """Like Python's ``range`` but also for floats and quantities (stop excluded)."""
    if stop is None:
        start, stop = 0, start
    if all(isinstance(v, int) and not isinstance(v, bool) for v in (start, stop, step)):
        if step == 0:
            raise ExprError("range step must not be zero")
        if len(range(start, stop, step)) > MAX_LIST:
            raise ExprError(f"range gives more than {MAX_LIST} values")
        return list(range(start, stop, step))
    a, b, unit = same_dimension(start, stop, "span")
    s = step.to(unit) if isinstance(step, Quantity) and unit else step
    if isinstance(s, Quantity) or not is_number(s) or s == 0:
        raise ExprError(f"range step must be a non-zero number in {unit or 'plain units'}")
    n = math.ceil((b - a) / s)
    if n > MAX_LIST:
        raise ExprError(f"range gives more than {MAX_LIST} values")
    return [finite(a + i * s, unit) for i in range(max(0, n))]


def _len(x: Any) -> Any:
    if isinstance(x, Unknown):
        return Unknown("")
    if isinstance(x, list | tuple | str):
        return len(x)
    raise ExprError(f"len() needs a list, got {kind_of(x)}")


def _to_float(x: Any) -> Any:
    if isinstance(x, Unknown):
        return Unknown("")
    if is_number(x):
        return float(x)
    raise ExprError(f"float() needs a plain number, got {kind_of(x)}",
                    hint="Strip a unit with division, e.g. delay / 1 ps.")


def _to_int(x: Any) -> Any:
    if isinstance(x, Unknown):
        return Unknown("")
    if is_number(x) and math.isfinite(x):
        return int(x)
    raise ExprError(f"int() needs a plain number, got {kind_of(x)}")


#: The only functions an expression may call.
FUNCTIONS: dict[str, Callable[..., Any]] = {
    "abs": _abs, "min": _extreme("min", min), "max": _extreme("max", max), "round": _round,
    "sqrt": _plain("sqrt", math.sqrt), "exp": _plain("exp", math.exp),
    "log": _plain("log", math.log), "log10": _plain("log10", math.log10),
    "sin": _plain("sin", math.sin), "cos": _plain("cos", math.cos),
    "linspace": linspace, "range": arange, "len": _len, "float": _to_float, "int": _to_int,
}
#: Names that are always defined.
CONSTANTS: dict[str, Any] = {"pi": math.pi, "true": True, "false": False}
