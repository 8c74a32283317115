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
import re
from collections.abc import Mapping
from typing import Any

from expctl.sequence.arith import (
    COMPARISONS,
    ExprError,
    ResultShape,
    Unknown,
    add,
    compare,
    describe_value,
    finite,
    kind_of,
    multiply,
    negate,
    power,
    same_dimension,
    truth,
    unit_of,
)
from expctl.sequence.functions import CONSTANTS, FUNCTIONS, integer, linspace
from expctl.sequence.suggest import did_you_mean
from expctl.units import Quantity, quantity_literals

__all__ = [
    "ExprError",
    "Expression",
    "FUNCTIONS",
    "ResultShape",
    "Unknown",
    "describe_value",
    "is_expression",
    "linspace",
    "parse_expression",
    "render",
]

_WHOLE = re.compile(r"^\s*\$\{(?P<body>.*)\}\s*$", re.S)
_PART = re.compile(r"\$\{(?P<body>[^{}]*)\}")
_PRIVATE = re.compile(r"(?<![\w.])_\w*")
_MAX_LEN = 500
_FINITE_HINT = ("A value that is not a finite number (.nan, .inf, beyond ±1.8e308) cannot "
                "drive a device, count shots or time a wait.")


def is_expression(text: object) -> bool:
    """True if ``text`` is exactly one ``${…}``."""
    return isinstance(text, str) and _WHOLE.match(text) is not None


_ALLOWED = (
    ast.Expression, ast.BinOp, ast.UnaryOp, ast.BoolOp, ast.Compare, ast.IfExp, ast.Call,
    ast.Name, ast.Load, ast.Attribute, ast.Constant, ast.Subscript, ast.List, ast.Tuple,
    ast.Add, ast.Sub, ast.Mult, ast.Div, ast.Pow, ast.Mod, ast.USub, ast.UAdd, ast.Not,
    ast.And, ast.Or, *tuple(COMPARISONS), ast.In, ast.NotIn,
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
        try:
            self._tree = ast.parse(self._without_literals(), mode="eval")
        except SyntaxError as exc:
            raise ExprError(f"invalid expression ${{{self.text}}}: {exc.msg}") from None
        except (ValueError, MemoryError, RecursionError):
            raise ExprError(f"invalid expression ${{{self.text}}}") from None
        self._check(self._tree, 0)

    def _without_literals(self) -> str:
        """The text with each quantity literal (``0.5 ps``) swapped for a name ``_qN_``."""
        parts, pos = [], 0
        for tok in quantity_literals(self.text):
            if not math.isfinite(tok.value):
                raise ExprError(f"{tok.number} {tok.unit} is not a finite number",
                                hint=_FINITE_HINT)
            self._literals.append(Quantity(tok.value, tok.unit))
            parts += [self.text[pos:tok.start], f"_q{len(self._literals) - 1}_"]
            pos = tok.end
        return "".join(parts) + self.text[pos:]

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
        if isinstance(node, ast.Constant) and isinstance(node.value, float) and not math.isfinite(
                node.value):
            raise ExprError(f"a number in ${{{self.text}}} is not finite", hint=_FINITE_HINT)
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
                return value if isinstance(value, Unknown) else not truth(value)
            return value if isinstance(node.op, ast.UAdd) else negate(value)
        if isinstance(node, ast.BinOp):
            a, b = self._eval(node.left, env), self._eval(node.right, env)
            if isinstance(node.op, ast.Add):
                return add(a, b, 1.0, "add")
            if isinstance(node.op, ast.Sub):
                return add(a, b, -1.0, "subtract")
            if isinstance(node.op, ast.Mult):
                return multiply(a, b, divide=False)
            if isinstance(node.op, ast.Div):
                return multiply(a, b, divide=True)
            if isinstance(node.op, ast.Mod):
                if isinstance(a, Unknown) or isinstance(b, Unknown):
                    return Unknown(unit_of(a))
                va, vb, unit = same_dimension(a, b, "take the remainder of")
                if vb == 0:
                    raise ExprError("modulo by zero")
                r = va % vb
                return int(r) if isinstance(a, int) and isinstance(b, int) else finite(r, unit)
            return power(a, b)
        if isinstance(node, ast.BoolOp):
            values = [self._eval(v, env) for v in node.values]
            if any(isinstance(v, Unknown) for v in values):
                return Unknown("")
            truths = [truth(v) for v in values]
            return all(truths) if isinstance(node.op, ast.And) else any(truths)
        if isinstance(node, ast.Compare):
            left = self._eval(node.left, env)
            result: Any = True
            for op, comp in zip(node.ops, node.comparators, strict=True):
                right = self._eval(comp, env)
                r = compare(op, left, right)
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
                return body if isinstance(body, Unknown) else Unknown(unit_of(body))
            return body if truth(test) else orelse
        if isinstance(node, ast.Call):
            args = [self._eval(a, env) for a in node.args]
            fn_name = node.func.id if isinstance(node.func, ast.Name) else ""
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
                raise ExprError(f"cannot index {kind_of(seq)}")
            i = integer(index, "an index")
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
            raise ExprError(f"{ast.unparse(node.value)} is {kind_of(obj)} and has no fields; "
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
