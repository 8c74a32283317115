"""A small, safe filter language for selecting runs (``--where``), never ``eval``.

Grammar::

    expr    := or
    or      := and ("or" and)*
    and     := not ("and" not)*
    not     := "not" not | compare | "(" expr ")"
    compare := value (("==" | "!=" | "<" | "<=" | ">" | ">=" | "~") value)?
             | value "in" "(" value ("," value)* ")"
    value   := NUMBER [UNIT] | 'string' | "string" | NAME

A NAME is a catalog column (``run``, ``label``, ``status``, ``outcome``,
``shots``, ``sequence`` …) or a scan / loop / parameter value, looked up in
that order (``delay`` finds ``scan.delay``); dotted names select explicitly
(``params.spots_per_delay``).  A bare word that names nothing is a string, so
``label==pumped`` works unquoted.  Numbers may carry units: compared with a
name, the number is converted to the unit the catalog records for that name
(``delay > 600 fs`` is ``delay > 0.6`` for a delay logged in ps; ``delay >
5 mm`` is refused), else to the log unit of its dimension
(:data:`expctl.units.LOG_UNITS`).  ``~`` matches a glob (``step_path ~
'*pumped*'``).  A comparison with a missing value is false.

Bounded like every input: at most :data:`MAX_LENGTH` characters, :data:`MAX_NESTING`
levels of parentheses and ``not``, numbers of at most :data:`MAX_DIGITS` characters.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from expctl.errors import UnitError, UserError
from expctl.units import LOG_UNITS, UNITS, convert, dimension_of, lex_quantity

__all__ = ["Filter", "parse_where"]

_TOKEN = re.compile(r"""
    (?P<ws>\s+)
  | (?P<str>'[^']*'|"[^"]*")
  | (?P<op>==|!=|<=|>=|<|>|~|\(|\)|,)
  | (?P<name>[A-Za-z_µ%][\w.\[\]/µ%-]*)
""", re.VERBOSE)
#: characters that continue a name: a unit followed by one is part of a longer word
_NAME_CHAR = re.compile(r"[\w.\[\]/µ%-]")

_KEYWORDS = {"and", "or", "not", "in"}
#: Characters in one ``--where`` expression.
MAX_LENGTH = 4000
#: Levels of parentheses and ``not`` (the parser and the filter recurse through them).
MAX_NESTING = 50
#: Characters of one number.
MAX_DIGITS = 100
_MISSING = object()
_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "==": lambda a, b: a == b, "!=": lambda a, b: a != b,
    "<": lambda a, b: a < b, "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b, ">=": lambda a, b: a >= b,
    "~": lambda a, b: fnmatch.fnmatchcase(str(a), str(b)),
}


@dataclass(frozen=True, slots=True)
class _Tok:
    kind: str
    text: str
    col: int


@dataclass(frozen=True, slots=True)
class Filter:
    """A parsed ``--where`` expression; call it with a catalog row (a mapping)."""

    source: str
    _fn: Callable[[Mapping[str, Any]], Any]

    def __call__(self, row: Mapping[str, Any]) -> bool:
        return bool(self._fn(row))


def _error(source: str, col: int, what: str) -> UserError:
    shown = source if len(source) <= 120 else source[:100] + "…"
    return UserError(f"--where {shown!r}: {what} at column {col + 1}",
                     allowed="comparisons (== != < <= > >= ~ in) joined by and/or/not, "
                             "e.g. 'label==pumped and delay>0'")


def _tokens(source: str) -> list[_Tok]:
    out: list[_Tok] = []
    pos = 0
    while pos < len(source):
        number = lex_quantity(source, pos)
        if number is not None:  # a number, and its unit if the word after it is one
            out.append(_Tok("num", number.number, pos))
            pos = number.number_end
            if number.unit in UNITS and number.unit and not _NAME_CHAR.match(
                    source, number.end):
                out.append(_Tok("unit", number.unit, number.end - len(number.unit)))
                pos = number.end
            continue
        m = _TOKEN.match(source, pos)
        if m is None:
            raise _error(source, pos, f"unexpected {source[pos]!r}")
        kind = m.lastgroup or ""
        if kind != "ws":
            text = m.group()
            if (kind == "name" and text in _KEYWORDS) or (kind == "op" and text in "(),"):
                kind = text
            out.append(_Tok(kind, text, pos))
        pos = m.end()
    out.append(_Tok("end", "", len(source)))
    return out


class _Parser:
    def __init__(self, source: str) -> None:
        self.source = source
        self.toks = _tokens(source)
        self.i = 0
        self.depth = 0

    def peek(self) -> _Tok:
        return self.toks[self.i]

    def take(self, kind: str | None = None) -> _Tok:
        tok = self.toks[self.i]
        if kind is not None and tok.kind != kind:
            found = "end of expression" if tok.kind == "end" else repr(tok.text)
            raise _error(self.source, tok.col, f"expected {kind!r}, found {found}")
        self.i += 1
        return tok

    def parse(self) -> Callable[[Mapping[str, Any]], Any]:
        fn = self.or_()
        tok = self.peek()
        if tok.kind != "end":
            raise _error(self.source, tok.col, f"unexpected {tok.text!r}")
        return fn

    def or_(self) -> Callable[[Mapping[str, Any]], Any]:
        parts = [self.and_()]
        while self.peek().kind == "or":
            self.take()
            parts.append(self.and_())
        return parts[0] if len(parts) == 1 else (lambda r: any(p(r) for p in parts))

    def and_(self) -> Callable[[Mapping[str, Any]], Any]:
        parts = [self.not_()]
        while self.peek().kind == "and":
            self.take()
            parts.append(self.not_())
        return parts[0] if len(parts) == 1 else (lambda r: all(p(r) for p in parts))

    def not_(self) -> Callable[[Mapping[str, Any]], Any]:
        tok = self.peek()
        if tok.kind in ("not", "("):
            self.depth += 1
            if self.depth > MAX_NESTING:
                raise _error(self.source, tok.col, f"more than {MAX_NESTING} levels of "
                                                   "parentheses and not")
            self.take()
            if tok.kind == "not":
                inner = self.not_()
                self.depth -= 1
                return lambda r: not inner(r)
            inner = self.or_()
            self.take(")")
            self.depth -= 1
            return inner
        return self.compare()

    def compare(self) -> Callable[[Mapping[str, Any]], Any]:
        left = self.value()
        tok = self.peek()
        if tok.kind == "op" and tok.text in _COMPARE:
            self.take()
            right = self.value()
            op = _COMPARE[tok.text]
            a, b = left.against(right, self.source), right.against(left, self.source)
            return lambda r: _apply(op, a(r), b(r))
        if tok.kind == "in":
            self.take()
            self.take("(")
            options = [self.value()]
            while self.peek().kind == ",":
                self.take()
                options.append(self.value())
            self.take(")")
            pairs = [(left.against(o, self.source), o.against(left, self.source))
                     for o in options]
            return lambda r: any(_apply(_COMPARE["=="], a(r), b(r)) for a, b in pairs)
        get = left.against(None, self.source)
        return lambda r: (v := get(r)) is not _MISSING and bool(v)

    def value(self) -> _Operand:
        tok = self.take()
        if tok.kind == "num":
            if len(tok.text) > MAX_DIGITS:
                raise _error(self.source, tok.col, f"a number of {len(tok.text)} characters "
                                                   f"(at most {MAX_DIGITS})")
            number = float(tok.text)
            unit_tok = self.peek()
            if unit_tok.kind == "unit":
                self.take()
                dimension_of(unit_tok.text)
                return _Operand(quantity=(number, unit_tok.text), text=f"{tok.text} "
                                                                       f"{unit_tok.text}")
            return _Operand(constant=number)
        if tok.kind == "str":
            return _Operand(constant=tok.text[1:-1])
        if tok.kind == "name":
            return _Operand(name=tok.text)
        found = "end of expression" if tok.kind == "end" else repr(tok.text)
        raise _error(self.source, tok.col, f"expected a value, found {found}")


@dataclass(frozen=True, slots=True)
class _Operand:
    """One side of a comparison: a name, a constant, or a number with a unit."""

    name: str | None = None
    constant: Any = None
    quantity: tuple[float, str] | None = None
    text: str = ""

    def against(self, other: _Operand | None, source: str
                ) -> Callable[[Mapping[str, Any]], Any]:
        """This side's value in a row, a quantity converted to the unit ``other`` is
        logged in (the log unit of its dimension when that is not recorded)."""
        if self.name is not None:
            name = self.name
            return lambda r: _lookup(r, name)[0]
        if self.quantity is None:
            constant = self.constant
            return lambda r: constant
        number, unit = self.quantity
        fallback = LOG_UNITS.get(dimension_of(unit), unit)
        default = convert(number, unit, fallback)
        if other is None or other.name is None:
            return lambda r: default
        name, text = other.name, self.text

        def value(row: Mapping[str, Any]) -> Any:
            target = _lookup(row, name)[1]
            if target is None or target == fallback:
                return default
            try:
                return convert(number, unit, target)
            except UnitError:
                logged_in = target or "plain numbers"
                raise UserError(f"--where {source!r}: {name} is logged in {logged_in}, which "
                                f"{text} cannot be compared with",
                                allowed=f"a value in {logged_in}") from None
        return value


def _lookup(row: Mapping[str, Any], name: str) -> tuple[Any, str | None]:
    """Column, else scan/loop/params value, else a dotted path, else the word itself; and
    the unit the row records for it (None when it records none)."""
    if name in row:
        return row[name], None
    units = row.get("units")
    units = units if isinstance(units, Mapping) else {}
    for section in ("scan", "loop", "params"):
        sub = row.get(section)
        if isinstance(sub, Mapping) and name in sub:
            return sub[name], units.get(f"{section}.{name}")
    if "." in name:
        node: Any = row
        for part in name.split("."):
            if not isinstance(node, Mapping) or part not in node:
                return _MISSING, None
            node = node[part]
        return node, units.get(name)
    return name, None


def _apply(op: Callable[[Any, Any], bool], a: Any, b: Any) -> bool:
    if a is _MISSING or b is _MISSING or a is None or b is None:
        return False
    if isinstance(a, str) and isinstance(b, (int, float)):
        a = _number(a)
    elif isinstance(b, str) and isinstance(a, (int, float)) and op is not _COMPARE["~"]:
        b = _number(b)
    if a is None or b is None:
        return False
    try:
        return op(a, b)
    except TypeError:
        return False


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def parse_where(source: str) -> Filter:
    """Parse a ``--where`` expression (raises :class:`UserError` naming the column)."""
    if not source.strip():
        raise _error(source, 0, "empty expression")
    if len(source) > MAX_LENGTH:
        raise UserError(f"--where is {len(source)} characters long; at most {MAX_LENGTH}",
                        hint="Select by a few columns, or with `in (…)` lists.")
    return Filter(source, _Parser(source).parse())
