"""Pure parsing of shell input: lines into commands, tokens into device targets and numbers.

Values may carry units, attached or as the next word (``mv delay 5 ps``,
``mv theta 11.41deg``, ``rock theta 36 mdeg 21``); they are converted to the
device's units by the same rules a YAML sequence uses
(:func:`expctl.sequence.devices.target`), so the shell and sequences accept
and refuse exactly the same things.  Nothing here touches a device.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

from expctl.devices.access import AccessLevel
from expctl.devices.profile import DeviceSpec
from expctl.errors import ExpctlError, Location, UserError
from expctl.shell.registry import CommandRegistry, ShellCommand
from expctl.units import UNITS, Quantity, parse_quantity

__all__ = [
    "Invocation",
    "join_units",
    "parse_amount",
    "parse_assignments",
    "parse_count",
    "parse_line",
    "parse_relative",
    "parse_targets",
    "split_line",
]

_SHELL = Location("<shell>")


@dataclass(frozen=True, slots=True)
class Invocation:
    """A command and its argument tokens (units already joined to their numbers)."""

    command: ShellCommand
    args: list[str]
    line: str


def split_line(line: str) -> list[str]:
    """Shell-like words (quotes group, ``#`` starts a comment); UserError on a bad quote."""
    lexer = shlex.shlex(line, posix=True, punctuation_chars=False)
    lexer.whitespace_split = True
    lexer.commenters = "#"
    try:
        return list(lexer)
    except ValueError as exc:
        raise UserError(f"cannot read the line: {exc}",
                        hint="Close the quote, or escape it with a backslash.") from None


def _is_number(token: str) -> bool:
    try:
        float(token)
    except ValueError:
        return False
    return True


def join_units(tokens: Sequence[str], is_name: Callable[[str], bool] = lambda _: False
               ) -> list[str]:
    """Merge a unit word into the number before it: ``["5", "ps"]`` -> ``["5 ps"]``.

    A word that is also a device name (``is_name``) is never taken as a unit.
    """
    out: list[str] = []
    for tok in tokens:
        if (out and tok in UNITS and tok and not is_name(tok) and _is_number(out[-1])):
            out[-1] = f"{out[-1]} {tok}"
        else:
            out.append(tok)
    return out


def parse_line(line: str, registry: CommandRegistry,
               is_name: Callable[[str], bool] = lambda _: False) -> Invocation | None:
    """The command a line asks for, with its argument count checked; None for a blank line."""
    words = split_line(line)
    if not words:
        return None
    command = registry.get(words[0])
    args = join_units(words[1:], is_name)
    command.check_count(len(args))
    return Invocation(command, args, line.strip())


@contextmanager
def _at_shell() -> Iterator[None]:
    """Errors from the sequence rules carry a file location; at the prompt there is none."""
    try:
        yield
    except ExpctlError as exc:
        exc.location = None
        raise


def _value(token: str) -> Quantity | float | str:
    try:
        q = parse_quantity(token)
    except ExpctlError:
        if _is_number(token.split()[0]):  # a number with a unit we do not know
            raise
        return token  # a state name: open, closed, high, on …
    return q.value if q.unit == "" else q


def parse_targets(tokens: Sequence[str], devices: Mapping[str, DeviceSpec], verb: str,
                  access: AccessLevel = AccessLevel.USER) -> dict[str, float | str]:
    """``["theta", "11.41", "sample_x", "1 mm"]`` -> ``{"theta": 11.41, "sample_x": 1.0}``.

    Args:
        tokens: device/value pairs (units joined).
        devices: the profile's device specs.
        verb: ``move``, ``set`` or ``request`` (decides which devices are allowed).
        access: the session's access level.

    Raises:
        UserError: unknown device, wrong units, out of limits, no access, odd count.
    """
    from expctl.sequence.devices import device_spec, target

    if len(tokens) % 2 or not tokens:
        raise UserError(f"expected DEVICE VALUE pairs, got {' '.join(tokens) or 'nothing'}")
    out: dict[str, float | str] = {}
    with _at_shell():
        for name, raw in zip(tokens[::2], tokens[1::2], strict=True):
            spec = device_spec(devices, name, _SHELL)
            if name in out:
                raise UserError(f"{name} is given twice", device=name)
            out[name] = target(spec, _value(raw), verb, _SHELL, access)
    return out


def parse_relative(tokens: Sequence[str], devices: Mapping[str, DeviceSpec]
                   ) -> dict[str, float]:
    """``mvr`` pairs: steps converted to each axis' units (limits are checked on the target)."""
    from expctl.sequence.devices import device_spec

    if len(tokens) % 2 or not tokens:
        raise UserError(f"expected DEVICE STEP pairs, got {' '.join(tokens) or 'nothing'}")
    out: dict[str, float] = {}
    with _at_shell():
        for name, raw in zip(tokens[::2], tokens[1::2], strict=True):
            spec = device_spec(devices, name, _SHELL)
            if spec.limits.choices is not None:
                raise UserError(f"{name} has states, not positions; it cannot move by a step",
                                device=name, allowed=spec.limits.describe())
            out[name] = parse_amount(raw, spec.units, f"the step of {name}")
    return out


def parse_amount(token: str, unit: str, what: str) -> float:
    """A number in ``unit``: plain (taken as ``unit``) or with convertible units."""
    try:
        q = parse_quantity(token)
    except ExpctlError as exc:
        raise UserError(f"{what} must be a number, got {token!r}",
                        hint=exc.message if _is_number(token.split()[0]) else None) from None
    if q.unit in ("", unit):
        return float(q.value)
    with _at_shell():
        return q.to(unit)


def parse_count(token: str, what: str, minimum: int = 1) -> int:
    """A whole number ≥ ``minimum`` (points, shots)."""
    try:
        n = int(token)
    except ValueError:
        raise UserError(f"{what} must be a whole number, got {token!r}") from None
    if n < minimum:
        raise UserError(f"{what} must be at least {minimum}, got {n}")
    return n


def parse_assignments(tokens: Sequence[str]) -> list[str]:
    """``NAME=VALUE`` words for a sequence's parameters (checked against the file later)."""
    for tok in tokens:
        name, sep, _ = tok.partition("=")
        if not sep or not name.strip():
            raise UserError(f"expected NAME=VALUE, got {tok!r}",
                            hint="Sequence parameters are given as name=value, "
                                 "e.g. shots=10.")
    return list(tokens)
