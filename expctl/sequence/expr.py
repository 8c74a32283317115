"""The safe expression language of ``${…}``: a whitelist evaluator over Python's ``ast``.

Nothing here calls ``eval``: an expression is parsed with :func:`ast.parse`, every
node is checked against a whitelist, and a small tree walker computes the value.
Names resolve only to params, loop variables and named results; attributes only
into a result's declared fields; calls only to the functions in :data:`FUNCTIONS`.
Quantities with units are first-class (``${rock.center + 0.001 deg}``).

The same walker checks sequences statically: values not known before the run
(analysis results) are :class:`Unknown` placeholders that flow through the
arithmetic, so unknown names, missing result fields and unit mismatches are
found at validation time.
"""

from __future__ import annotations

import ast
import dataclasses
import math
import operator
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from expctl.sequence.suggest import did_you_mean
from expctl.units import UNITS, Quantity, convert, dimension_of, format_quantity

__all__ = [
    "ExprError",
    "Expression",
    "FUNCTIONS",
    "ResultShape",
    "Unknown",
    "describe_value",
    "is_expression",
    "parse_expression",
    "render",
]

_WHOLE = re.compile(r"^\s*\$\{(?P<body>.*)\}\s*$", re.S)
_PART = re.compile(r"\$\{(?P<body>[^{}]*)\}")
_UNIT_ALT = "|".join(re.escape(u) for u in sorted((u for u in UNITS if u and u != "%"),
                                                   key=len, reverse=True))
_LITERAL = re.compile(
    rf"(?<![\w.])(?P<num>(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*(?P<unit>{_UNIT_ALT})(?![\w])"
)
_PRIVATE = re.compile(r"(?<![\w.])_\w*")
_MAX_LEN = 500
_MAX_POWER = 1e6
_MAX_LIST = 100_000


class ExprError(Exception):
    """A problem in one expression; the caller adds file/line and turns it into a SequenceError."""

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


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


def is_expression(text: object) -> bool:
    """True if ``text`` is exactly one ``${…}``."""
    return isinstance(text, str) and _WHOLE.match(text) is not None


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


# -- arithmetic on numbers and quantities --------------------------------------------

def _is_num(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def _unit_of(v: Any) -> str | None:
    if isinstance(v, Quantity):
        return v.unit
    if _is_num(v):
        return ""
    if isinstance(v, Unknown):
        return v.unit
    return None


def _kind(v: Any) -> str:
    if isinstance(v, Quantity):
        return f"quantity {describe_value(v)}"
    if isinstance(v, bool):
        return "true/false"
    if _is_num(v):
        return f"number {describe_value(v)}"
    if isinstance(v, str):
        return f"text {v!r}"
    if isinstance(v, list | tuple):
        return "list"
    return type(v).__name__


def _same_dim(a: Any, b: Any, what: str) -> tuple[float, float, str]:
    ua, ub = _unit_of(a), _unit_of(b)
    if ua is None or ub is None:
        raise ExprError(f"cannot {what} {_kind(a)} and {_kind(b)}")
    va = a.value if isinstance(a, Quantity) else float(a)
    vb = b.value if isinstance(b, Quantity) else float(b)
    if ua == ub:
        return va, vb, ua
    if ua == "" or ub == "":
        q, n = (a, b) if ua else (b, a)
        raise ExprError(
            f"cannot {what} {_kind(q)} and plain {_kind(n)}",
            hint=f"Give the number a unit, e.g. {describe_value(n)} {q.unit}.",
        )
    try:
        return va, convert(vb, ub, ua), ua
    except Exception:
        raise ExprError(f"cannot {what} {ua} ({dimension_of(ua)}) and {ub} "
                        f"({dimension_of(ub)})") from None


def _make(value: float, unit: str) -> Any:
    if not math.isfinite(value):
        raise ExprError("the result is not a finite number")
    return Quantity(value, unit) if unit else value


def _add(a: Any, b: Any, sign: float, what: str) -> Any:
    if isinstance(a, Unknown) or isinstance(b, Unknown):
        ua, ub = _unit_of(a), _unit_of(b)
        if ua is not None and ub is not None and ua != ub and "" not in (ua, ub):
            _same_dim(Quantity(1.0, ua), Quantity(1.0, ub), what)
        return Unknown(ua if ua is not None else ub)
    if isinstance(a, list) and isinstance(b, list) and sign > 0:
        return a + b
    va, vb, unit = _same_dim(a, b, what)
    result = va + sign * vb
    if _is_num(a) and _is_num(b) and isinstance(a, int) and isinstance(b, int):
        return int(result)
    return _make(result, unit)


def _mul(a: Any, b: Any, divide: bool) -> Any:
    what = "divide" if divide else "multiply"
    if isinstance(a, Unknown) or isinstance(b, Unknown):
        ua, ub = _unit_of(a), _unit_of(b)
        if divide and ua is not None and ua == ub:
            return Unknown("")
        return Unknown(ua if not ub else (ub if not ua and not divide else None))
    ua, ub = _unit_of(a), _unit_of(b)
    if ua is None or ub is None:
        raise ExprError(f"cannot {what} {_kind(a)} and {_kind(b)}")
    va = a.value if isinstance(a, Quantity) else float(a)
    vb = b.value if isinstance(b, Quantity) else float(b)
    if divide:
        if vb == 0:
            raise ExprError("division by zero")
        if ua and ub:
            return _make(va / convert(vb, ub, ua) if dimension_of(ua) == dimension_of(ub)
                         else _raise_units(a, b, what), "")
        if ub:
            raise ExprError(f"cannot divide a plain number by {_kind(b)}")
        return _make(va / vb, ua)
    if ua and ub:
        _raise_units(a, b, what)
    result = va * vb
    if isinstance(a, int) and isinstance(b, int) and not isinstance(a, bool):
        return int(result)
    return _make(result, ua or ub)


def _raise_units(a: Any, b: Any, what: str) -> float:
    raise ExprError(f"cannot {what} {_kind(a)} by {_kind(b)}: products of units are not "
                    "supported")


def _pow(a: Any, b: Any) -> Any:
    if isinstance(a, Unknown) or isinstance(b, Unknown):
        return Unknown("")
    if not (_is_num(a) and _is_num(b)):
        raise ExprError(f"** needs plain numbers, got {_kind(a)} and {_kind(b)}")
    if abs(b) > 64 or abs(a) > _MAX_POWER:
        raise ExprError("number too large for **", hint="Keep bases below 1e6 and exponents "
                        "within ±64.")
    try:
        result = a ** b
    except ZeroDivisionError:
        raise ExprError("0 cannot be raised to a negative power") from None
    if isinstance(result, complex):
        raise ExprError("a negative number to a fractional power is not a real number")
    return _make(float(result), "") if isinstance(result, float) else result


def _neg(a: Any) -> Any:
    if isinstance(a, Unknown):
        return a
    if isinstance(a, Quantity):
        return Quantity(-a.value, a.unit)
    if _is_num(a):
        return -a
    raise ExprError(f"cannot negate {_kind(a)}")


_COMPARE: dict[type[ast.cmpop], Callable[[Any, Any], bool]] = {
    ast.Lt: operator.lt, ast.LtE: operator.le, ast.Gt: operator.gt, ast.GtE: operator.ge,
    ast.Eq: operator.eq, ast.NotEq: operator.ne,
}


def _compare(op: ast.cmpop, a: Any, b: Any) -> Any:
    if isinstance(op, ast.In | ast.NotIn):
        if isinstance(b, Unknown) or isinstance(a, Unknown):
            return Unknown("")
        if not isinstance(b, list | tuple):
            raise ExprError(f"`in` needs a list on its right, got {_kind(b)}")
        found = any(_equal(a, v) for v in b)
        return found if isinstance(op, ast.In) else not found
    fn = _COMPARE[type(op)]
    if isinstance(a, Unknown) or isinstance(b, Unknown):
        return Unknown("")
    if isinstance(a, str) or isinstance(b, str):
        if type(op) in (ast.Eq, ast.NotEq):
            return fn(a, b)
        raise ExprError(f"cannot order {_kind(a)} and {_kind(b)}")
    if isinstance(a, bool) or isinstance(b, bool):
        if type(op) in (ast.Eq, ast.NotEq):
            return fn(a, b)
        raise ExprError(f"cannot order {_kind(a)} and {_kind(b)}")
    va, vb, _ = _same_dim(a, b, "compare")
    return fn(va, vb)


def _equal(a: Any, b: Any) -> bool:
    try:
        return bool(_compare(ast.Eq(), a, b))
    except ExprError:
        return False


# -- functions ------------------------------------------------------------------------

def _plain(name: str, fn: Callable[[float], float]) -> Callable[..., Any]:
    def call(x: Any) -> Any:
        if isinstance(x, Unknown):
            return Unknown("")
        if not _is_num(x):
            raise ExprError(f"{name}() needs a plain number, got {_kind(x)}")
        try:
            return _make(fn(float(x)), "")
        except (ValueError, OverflowError):
            raise ExprError(f"{name}({describe_value(x)}) is undefined") from None
    return call


def _abs(x: Any) -> Any:
    if isinstance(x, Unknown):
        return x
    if isinstance(x, Quantity):
        return Quantity(abs(x.value), x.unit)
    if _is_num(x):
        return abs(x)
    raise ExprError(f"abs() needs a number, got {_kind(x)}")


def _extreme(name: str, pick: Callable[..., Any]) -> Callable[..., Any]:
    def call(*args: Any) -> Any:
        values = list(args[0]) if len(args) == 1 and isinstance(args[0], list) else list(args)
        if not values:
            raise ExprError(f"{name}() needs at least one value")
        if any(isinstance(v, Unknown) for v in values):
            return Unknown(next((_unit_of(v) for v in values if _unit_of(v) is not None), None))
        best = values[0]
        for v in values[1:]:
            if _compare(ast.Lt() if pick is min else ast.Gt(), v, best):
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
    if _is_num(x):
        return round(x, digits) if digits else int(round(x))
    raise ExprError(f"round() needs a number, got {_kind(x)}")


def _count(n: Any, what: str) -> int:
    if isinstance(n, float) and n.is_integer():
        n = int(n)
    if not isinstance(n, int) or isinstance(n, bool):
        raise ExprError(f"{what} must be a whole number, got {_kind(n)}")
    return n


def linspace(start: Any, stop: Any, num: Any) -> list[Any]:
    """``num`` evenly spaced values from ``start`` to ``stop`` inclusive (units kept)."""
    n = _count(num, "linspace's number of points")
    if not 1 <= n <= _MAX_LIST:
        raise ExprError(f"linspace needs 1 to {_MAX_LIST} points, got {n}")
    a, b, unit = _same_dim(start, stop, "span")
    if n == 1:
        return [_make(a, unit)]
    step = (b - a) / (n - 1)
    return [_make(a + i * step, unit) for i in range(n)]


def arange(start: Any, stop: Any | None = None, step: Any = 1) -> list[Any]:
    """Like Python's ``range`` but also for floats and quantities (stop excluded)."""
    if stop is None:
        start, stop = 0, start
    if all(isinstance(v, int) and not isinstance(v, bool) for v in (start, stop, step)):
        if step == 0:
            raise ExprError("range step must not be zero")
        if len(range(start, stop, step)) > _MAX_LIST:
            raise ExprError(f"range gives more than {_MAX_LIST} values")
        return list(range(start, stop, step))
    a, b, unit = _same_dim(start, stop, "span")
    s = step.to(unit) if isinstance(step, Quantity) and unit else step
    if isinstance(s, Quantity) or not _is_num(s) or s == 0:
        raise ExprError(f"range step must be a non-zero number in {unit or 'plain units'}")
    n = math.ceil((b - a) / s)
    if n > _MAX_LIST:
        raise ExprError(f"range gives more than {_MAX_LIST} values")
    return [_make(a + i * s, unit) for i in range(max(0, n))]


def _len(x: Any) -> Any:
    if isinstance(x, Unknown):
        return Unknown("")
    if isinstance(x, list | tuple | str):
        return len(x)
    raise ExprError(f"len() needs a list, got {_kind(x)}")


def _to_float(x: Any) -> Any:
    if isinstance(x, Unknown):
        return Unknown("")
    if _is_num(x):
        return float(x)
    raise ExprError(f"float() needs a plain number, got {_kind(x)}",
                    hint="Strip a unit with division, e.g. delay / 1 ps.")


def _to_int(x: Any) -> Any:
    if isinstance(x, Unknown):
        return Unknown("")
    if _is_num(x) and math.isfinite(x):
        return int(x)
    raise ExprError(f"int() needs a plain number, got {_kind(x)}")


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

_ALLOWED = (
    ast.Expression, ast.BinOp, ast.UnaryOp, ast.BoolOp, ast.Compare, ast.IfExp, ast.Call,
    ast.Name, ast.Load, ast.Attribute, ast.Constant, ast.Subscript, ast.List, ast.Tuple,
    ast.Add, ast.Sub, ast.Mult, ast.Div, ast.Pow, ast.Mod, ast.USub, ast.UAdd, ast.Not,
    ast.And, ast.Or, *tuple(_COMPARE), ast.In, ast.NotIn,
)


def _field_names(obj: Any) -> list[str] | None:
    """The declared fields of a result object, or None when it has none."""
    if isinstance(obj, ResultShape):
        return list(obj.fields)
    if isinstance(obj, Unknown | Quantity):
        return None
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        props = [n for n in dir(type(obj)) if not n.startswith("_")
                 and isinstance(getattr(type(obj), n, None), property)]
        return [f.name for f in dataclasses.fields(obj)] + props
    if isinstance(obj, Mapping):
        return [k for k in obj if isinstance(k, str)]
    return None


class Expression:
    """One parsed ``${…}`` expression.

    Args:
        text: the expression body (without ``${`` and ``}``).

    Raises:
        ExprError: for syntax errors and anything outside the whitelist.
    """

    def __init__(self, text: str) -> None:
        self.text = text.strip()
        if not self.text:
            raise ExprError("empty expression ${}")
        if len(self.text) > _MAX_LEN:
            raise ExprError(f"expression longer than {_MAX_LEN} characters")
        hidden = _PRIVATE.search(self.text)
        if hidden:
            raise ExprError(f"names starting with '_' are not allowed ({hidden.group(0)})")
        self._literals: list[Quantity] = []
        rewritten = _LITERAL.sub(self._literal, self.text)
        try:
            self._tree = ast.parse(rewritten, mode="eval")
        except SyntaxError as exc:
            raise ExprError(f"invalid expression ${{{self.text}}}: {exc.msg}") from None
        except (ValueError, MemoryError, RecursionError):
            raise ExprError(f"invalid expression ${{{self.text}}}") from None
        self._check(self._tree, 0)

    def _literal(self, m: re.Match[str]) -> str:
        self._literals.append(Quantity(float(m["num"]), m["unit"]))
        return f"_q{len(self._literals) - 1}_"

    def _check(self, node: ast.AST, depth: int) -> None:
        if depth > 40:
            raise ExprError("expression nests too deeply")
        if not isinstance(node, _ALLOWED):
            raise ExprError(f"{_describe_node(node)} is not allowed in expressions",
                            hint="Expressions may use numbers, quantities, + - * / **, "
                                 "comparisons, and/or/not, names, result fields and "
                                 f"{', '.join(sorted(FUNCTIONS))}().")
        if isinstance(node, ast.Attribute) and node.attr.startswith("_"):
            raise ExprError(f"attribute {node.attr!r} is not allowed; only result fields are")
        if isinstance(node, ast.Call):
            if not isinstance(node.func, ast.Name):
                self._check(node.func, depth + 1)
                raise ExprError(f"only the listed functions can be called, not "
                                f"{ast.unparse(node.func)}(…)",
                                hint=f"Allowed: {', '.join(sorted(FUNCTIONS))}.")
            if node.func.id not in FUNCTIONS:
                name = node.func.id
                raise ExprError(f"{name}() is not an allowed function",
                                hint=did_you_mean(name, list(FUNCTIONS))
                                or f"Allowed: {', '.join(sorted(FUNCTIONS))}.")
            if node.keywords:
                raise ExprError(f"{node.func.id}() takes no keyword arguments")
        if isinstance(node, ast.Constant) and not isinstance(node.value, int | float | str):
            raise ExprError(f"constant {node.value!r} is not allowed")
        for child in ast.iter_child_nodes(node):
            self._check(child, depth + 1)

    def names(self) -> set[str]:
        """Free names the expression refers to (params, loop variables, results)."""
        out = set()
        for node in ast.walk(self._tree):
            if isinstance(node, ast.Name) and not node.id.startswith("_q") \
                    and node.id not in FUNCTIONS:
                out.add(node.id)
        return out

    def evaluate(self, env: Mapping[str, Any]) -> Any:
        """The value in ``env`` (names -> values; :class:`Unknown` for run-time values)."""
        try:
            return self._eval(self._tree.body, env)
        except ExprError:
            raise
        except RecursionError:
            raise ExprError("expression nests too deeply") from None
        except (OverflowError, ValueError, TypeError, ArithmeticError, MemoryError) as exc:
            raise ExprError(f"cannot evaluate ${{{self.text}}}: {exc}") from None

    def _eval(self, node: ast.expr, env: Mapping[str, Any]) -> Any:  # noqa: C901
        if isinstance(node, ast.Constant):
            value = node.value
            if isinstance(value, int) and not isinstance(value, bool) and abs(value) > 10**18:
                raise ExprError("number too large")
            return value
        if isinstance(node, ast.Name):
            return self._name(node.id, env)
        if isinstance(node, ast.Attribute):
            return self._attribute(node, env)
        if isinstance(node, ast.UnaryOp):
            value = self._eval(node.operand, env)
            if isinstance(node.op, ast.Not):
                return value if isinstance(value, Unknown) else not _truth(value)
            return value if isinstance(node.op, ast.UAdd) else _neg(value)
        if isinstance(node, ast.BinOp):
            a, b = self._eval(node.left, env), self._eval(node.right, env)
            if isinstance(node.op, ast.Add):
                return _add(a, b, 1.0, "add")
            if isinstance(node.op, ast.Sub):
                return _add(a, b, -1.0, "subtract")
            if isinstance(node.op, ast.Mult):
                return _mul(a, b, divide=False)
            if isinstance(node.op, ast.Div):
                return _mul(a, b, divide=True)
            if isinstance(node.op, ast.Mod):
                if isinstance(a, Unknown) or isinstance(b, Unknown):
                    return Unknown(_unit_of(a))
                va, vb, unit = _same_dim(a, b, "take the remainder of")
                if vb == 0:
                    raise ExprError("modulo by zero")
                r = va % vb
                return int(r) if isinstance(a, int) and isinstance(b, int) else _make(r, unit)
            return _pow(a, b)
        if isinstance(node, ast.BoolOp):
            values = [self._eval(v, env) for v in node.values]
            if any(isinstance(v, Unknown) for v in values):
                return Unknown("")
            truths = [_truth(v) for v in values]
            return all(truths) if isinstance(node.op, ast.And) else any(truths)
        if isinstance(node, ast.Compare):
            left = self._eval(node.left, env)
            result: Any = True
            for op, comp in zip(node.ops, node.comparators, strict=True):
                right = self._eval(comp, env)
                r = _compare(op, left, right)
                if isinstance(r, Unknown) or isinstance(result, Unknown):
                    result = Unknown("")
                else:
                    result = result and r
                left = right
            return result
        if isinstance(node, ast.IfExp):
            test = self._eval(node.test, env)
            body, orelse = self._eval(node.body, env), self._eval(node.orelse, env)
            if isinstance(test, Unknown):
                return body if isinstance(body, Unknown) else Unknown(_unit_of(body))
            return body if _truth(test) else orelse
        if isinstance(node, ast.Call):
            args = [self._eval(a, env) for a in node.args]
            fn_name = node.func.id  # type: ignore[attr-defined]
            try:
                return FUNCTIONS[fn_name](*args)
            except TypeError:
                raise ExprError(f"wrong number of arguments for {fn_name}()") from None
        if isinstance(node, ast.List | ast.Tuple):
            return [self._eval(e, env) for e in node.elts]
        if isinstance(node, ast.Subscript):
            seq = self._eval(node.value, env)
            index = self._eval(node.slice, env)
            if isinstance(seq, Unknown) or isinstance(index, Unknown):
                return Unknown(None)
            if not isinstance(seq, list | tuple):
                raise ExprError(f"cannot index {_kind(seq)}")
            i = _count(index, "an index")
            if not -len(seq) <= i < len(seq):
                raise ExprError(f"index {i} is outside the list of {len(seq)} values")
            return seq[i]
        raise ExprError(f"{_describe_node(node)} is not allowed in expressions")

    def _name(self, name: str, env: Mapping[str, Any]) -> Any:
        if name.startswith("_q") and name.endswith("_") and name[2:-1].isdigit():
            return self._literals[int(name[2:-1])]
        if name in env:
            return env[name]
        if name in CONSTANTS:
            return CONSTANTS[name]
        if name in FUNCTIONS:
            raise ExprError(f"{name} is a function; call it as {name}(…)")
        raise ExprError(f"unknown name {name!r} in ${{{self.text}}}",
                        hint=did_you_mean(name, [*env, *CONSTANTS])
                        or (f"Known names: {', '.join(sorted(env))}." if env else None))

    def _attribute(self, node: ast.Attribute, env: Mapping[str, Any]) -> Any:
        obj = self._eval(node.value, env)
        if isinstance(obj, Unknown) and obj.unit is None:
            return Unknown(None)
        fields = _field_names(obj)
        if fields is None:
            raise ExprError(f"{ast.unparse(node.value)} is {_kind(obj)} and has no fields; "
                            f"cannot read .{node.attr}")
        if node.attr not in fields:
            raise ExprError(f"{ast.unparse(node.value)} has no field {node.attr!r}",
                            hint=did_you_mean(node.attr, fields)
                            or f"Fields: {', '.join(fields)}.")
        if isinstance(obj, ResultShape):
            unit = obj.fields[node.attr]
            return Unknown(unit, f"{ast.unparse(node)} (known after the {obj.kind} step runs)")
        value = obj[node.attr] if isinstance(obj, Mapping) else getattr(obj, node.attr)
        if hasattr(value, "item") and callable(value.item) and getattr(value, "ndim", 1) == 0:
            value = value.item()  # numpy scalar -> Python number
        return value


def _truth(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if _is_num(value):
        return value != 0
    raise ExprError(f"expected true/false, got {_kind(value)}")


def _describe_node(node: ast.AST) -> str:
    names = {ast.Lambda: "lambda", ast.ListComp: "a comprehension",
             ast.GeneratorExp: "a generator", ast.Dict: "a dictionary", ast.Set: "a set",
             ast.JoinedStr: "an f-string", ast.NamedExpr: "assignment (:=)",
             ast.Starred: "unpacking (*)", ast.Slice: "slicing", ast.Await: "await"}
    for kind, text in names.items():
        if isinstance(node, kind):
            return text
    return type(node).__name__


def render(text: str, env: Mapping[str, Any]) -> str:
    """Fill ``${…}`` parts inside a longer string (labels, comments)."""
    return _PART.sub(lambda m: describe_value(Expression(m["body"]).evaluate(env)), text)


def parse_expression(text: str) -> Expression:
    """Parse the body of an exactly-one-``${…}`` string."""
    m = _WHOLE.match(text)
    return Expression(m["body"] if m else text)
