"""Arguments turned into the values steps need, with the same rules when checking and running.

The checker calls these with :class:`~expctl.sequence.expr.Unknown` placeholders
for values known only during the run; the compiler with real values, where an
``Unknown`` can no longer occur (:func:`known`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from expctl.errors import ExpctlError, Location, SequenceError
from expctl.sequence.expr import Unknown, describe_value
from expctl.sequence.model import Arg, SequenceDoc

__all__ = ["MAX_LOOP", "count_value", "given", "known", "resolve_params", "scalar",
           "whole_number"]

#: the most iterations a loop, and the most values a list, may have
MAX_LOOP = 1_000_000

T = TypeVar("T")


def count_value(arg: Arg, env: Mapping[str, Any], what: str, *, minimum: int = 0,
                maximum: int = MAX_LOOP) -> int | Unknown:
    """A whole-number argument (shots, points, repeat count) with range checking."""
    value = arg.value(dict(env))
    if isinstance(value, Unknown):
        return value
    whole = isinstance(value, int) or (isinstance(value, float) and value.is_integer())
    if isinstance(value, bool) or not whole:
        raise SequenceError(f"{what} must be a whole number, got {describe_value(value)}",
                            location=arg.loc, device=what)
    if not minimum <= value <= maximum:
        shown = f"{value:.6g}" if abs(value) >= 1e9 else str(value)
        raise SequenceError(f"{what} must be between {minimum} and {maximum}, got {shown}",
                            location=arg.loc, device=what, allowed=f"{minimum} .. {maximum}")
    return int(value)


def known(value: T | Unknown) -> T:
    """A value at run time; the checker proved it computable, so Unknown here is a bug."""
    if isinstance(value, Unknown):
        raise SequenceError(f"a value of the sequence could not be computed ({value})")
    return value


def given(arg: Arg | None) -> Arg:
    """An argument the schema made mandatory."""
    if arg is None:
        raise SequenceError("a mandatory argument of a step is missing")
    return arg


def whole_number(arg: Arg | None, env: dict[str, Any], what: str, *, minimum: int = 0,
                 default: int = 1) -> int:
    """A whole number at run time (shots, points, repeat count); ``default`` when omitted."""
    if arg is None:
        return default
    return int(known(count_value(arg, env, what, minimum=minimum)))


def scalar(v: Any) -> Any:
    """A list element as written (``"2 ps"``) turned into its value (a Quantity)."""
    if isinstance(v, str):
        return Arg.of(v, Location()).value({})
    return v


def resolve_params(doc: SequenceDoc, overrides: Mapping[str, Any],
                   report: Callable[[ExpctlError], None] | None = None) -> dict[str, Any]:
    """Params of ``doc``: defaults evaluated in order, overridden by ``overrides``.

    ``overrides`` values may be :class:`Arg` (``--set``, include params), evaluated
    here with the params before them in scope; a single value given for a list
    parameter becomes a one-element list.  Errors go to ``report`` (the param
    is then Unknown), or are raised without one.
    """
    env: dict[str, Any] = {}
    for name, spec in doc.params.items():
        try:
            if name not in overrides:
                env[name] = spec.default.value(env)
                continue
            value = overrides[name]
            if isinstance(value, Arg):
                value = value.value(env)
            if isinstance(spec.default.value(env), list) and not isinstance(value, list):
                value = [value]
            env[name] = [scalar(v) for v in value] if isinstance(value, list) else value
        except ExpctlError as exc:
            if report is None:
                raise
            report(exc)
            env[name] = Unknown(None)
    return env
