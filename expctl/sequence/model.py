"""The parsed form of a sequence: arguments, the step base, parameters, the document.

Every step remembers where it was written (``loc``) and every argument keeps
its own node, so checks and run-time errors can point at the exact line.
Arguments stay unevaluated (:class:`Arg`) until an environment of params,
loop variables and results is at hand.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Literal

from expctl.errors import Location, SequenceError, UnitError
from expctl.records import record
from expctl.sequence.expr import ExprError, Expression, is_expression, parse_expression, render
from expctl.sequence.suggest import did_you_mean
from expctl.units import UNITS, Quantity, lex_quantity

__all__ = ["Arg", "FaultSpec", "ParamSpec", "SequenceDoc", "Step", "expr_error", "non_finite"]

_NON_FINITE_WORDS = frozenset({"nan", "inf", "infinity"})


def _quantity(text: str, loc: Location) -> Quantity | float | None:
    """``"10 ps"`` -> Quantity, ``"1e5"`` -> float, other text -> None.

    A number followed by a word that is no unit is an error with a did-you-mean.
    """
    stripped = text.strip()
    tok = lex_quantity(stripped)
    if tok is None or tok.end != len(stripped):
        return None
    if tok.unit not in UNITS:
        known = [u for u in UNITS if u]
        raise UnitError(f"unknown unit {tok.unit!r} in {stripped!r}", location=loc,
                        hint=did_you_mean(tok.unit, known)
                        or f"Known units: {', '.join(known)}.")
    return Quantity(tok.value, tok.unit) if tok.unit else tok.value


def non_finite(raw: Any, *, words: bool = False) -> str | None:
    """How a written value that is no finite number reads (``.nan``, ``'1e400 deg'``), or None.

    YAML reads ``.nan``, ``.inf`` and numbers beyond ±1.8e308 as non-finite
    floats, and a quantity such as ``1e400 deg`` overflows the same way.
    ``words`` also counts the bare words ``nan`` and ``inf`` (typed for a
    parameter, as in ``--set delay=nan``).
    """
    if isinstance(raw, float) and not math.isfinite(raw):
        return ".nan" if math.isnan(raw) else ".inf" if raw > 0 else "-.inf"
    if isinstance(raw, str):
        text = raw.strip()
        tok = lex_quantity(text)
        if tok is not None and tok.end == len(text) and not math.isfinite(tok.value):
            return repr(text)
        if words and text.lower().lstrip("+-") in _NON_FINITE_WORDS:
            return repr(text)
    return None


def expr_error(exc: ExprError, loc: Location, device: str | None = None) -> SequenceError:
    """An expression problem as a SequenceError at ``loc``."""
    return SequenceError(exc.message, location=loc, device=device, hint=exc.hint)


@record
class Arg:
    """One argument as written: a literal, a quantity string, or a ``${…}`` expression."""

    raw: Any
    loc: Location
    expr: Expression | None = None

    @classmethod
    def of(cls, raw: Any, loc: Location) -> Arg:
        """Wrap ``raw``, parsing an expression now so syntax errors surface at load time."""
        if is_expression(raw):
            try:
                return cls(raw, loc, parse_expression(raw))
            except ExprError as exc:
                raise expr_error(exc, loc) from None
        return cls(raw, loc)

    def value(self, env: dict[str, Any]) -> Any:
        """The value in ``env``: numbers stay numbers, ``"10 ps"`` becomes a Quantity."""
        if self.expr is not None:
            try:
                return self.expr.evaluate(env)
            except ExprError as exc:
                raise expr_error(exc, self.loc) from None
        raw = self.raw
        if isinstance(raw, list):
            return [Arg.of(v, self.loc).value(env) for v in raw]
        if isinstance(raw, str):
            if "${" in raw:
                try:
                    return render(raw, env)
                except ExprError as exc:
                    raise expr_error(exc, self.loc) from None
            quantity = _quantity(raw, self.loc)
            if quantity is not None:
                return quantity
        return raw

    @property
    def names(self) -> set[str]:
        return self.expr.names() if self.expr is not None else set()

    def __str__(self) -> str:
        if isinstance(self.raw, Quantity):
            return str(self.raw)
        return str(self.raw)


@record
class FaultSpec:
    """``on_fault:`` of a step: ``retry`` (with a count), ``skip`` or ``abort``."""

    action: Literal["retry", "skip", "abort"] = "abort"
    retries: int = 0


@record
class Step:
    """What every step has: where it was written, its label and its fault policy.

    Each step kind adds its own fields in its verb module
    (:mod:`expctl.sequence.verbs`), beside the code that reads, checks and
    compiles it.
    """

    loc: Location
    label: str = ""
    on_fault: FaultSpec | None = None


@record
class ParamSpec:
    """A declared parameter: its default (an argument) and where it was declared."""

    name: str
    default: Arg
    loc: Location


@record
class SequenceDoc:
    """A whole sequence file, parsed."""

    path: Path
    name: str
    description: str
    beamline: str | None
    params: dict[str, ParamSpec]
    safe_state: tuple[Step, ...]
    steps: tuple[Step, ...]
    loc: Location
