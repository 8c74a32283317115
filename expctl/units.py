"""Quantities with units: reading ``"10 ps"``, converting, checking dimensions.

A deliberately small table (length, angle, time, energy, charge, dimensionless)
instead of a general units library: beamline quantities are few, conversions are
exact scale factors, and error messages can list exactly what is accepted.

:func:`lex_quantity` is the one reader of "a number, then maybe a unit" in
expctl: quantity strings (:func:`parse_quantity`), sequence values, the
quantity literals of ``${…}`` expressions (:func:`quantity_literals`) and
``--where`` filters all use it, so ``1e-3 deg``, ``.5ps`` and ``2 µrad`` mean
the same everywhere.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from fractions import Fraction
from functools import cache
from typing import Any

from expctl.errors import UnitError

__all__ = ["LOG_UNITS", "NUMBER", "Quantity", "QuantityToken", "UNITS", "convert",
           "dimension_of", "format_quantity", "in_units", "lex_quantity", "log_unit", "logged",
           "parse_quantity", "quantity_literals"]

#: unit -> (dimension, factor to the dimension's base unit)
UNITS: dict[str, tuple[str, float]] = {
    # length, base metre
    "m": ("length", 1.0), "mm": ("length", 1e-3), "um": ("length", 1e-6),
    "µm": ("length", 1e-6), "nm": ("length", 1e-9),
    # angle, base radian
    "rad": ("angle", 1.0), "mrad": ("angle", 1e-3), "urad": ("angle", 1e-6),
    "µrad": ("angle", 1e-6), "deg": ("angle", 0.017453292519943295),
    "mdeg": ("angle", 1.7453292519943295e-05), "arcsec": ("angle", 4.84813681109536e-06),
    # time, base second
    "s": ("time", 1.0), "ms": ("time", 1e-3), "us": ("time", 1e-6), "µs": ("time", 1e-6),
    "ns": ("time", 1e-9), "ps": ("time", 1e-12), "fs": ("time", 1e-15),
    "min": ("time", 60.0), "h": ("time", 3600.0),
    # photon energy, base eV
    "eV": ("energy", 1.0), "keV": ("energy", 1e3),
    # pulse energy, base joule
    "J": ("pulse_energy", 1.0), "mJ": ("pulse_energy", 1e-3), "uJ": ("pulse_energy", 1e-6),
    "µJ": ("pulse_energy", 1e-6),
    # charge, base coulomb
    "C": ("charge", 1.0), "nC": ("charge", 1e-9), "pC": ("charge", 1e-12),
    # frequency
    "Hz": ("frequency", 1.0), "kHz": ("frequency", 1e3),
    # dimensionless
    "": ("dimensionless", 1.0), "%": ("dimensionless", 1e-2),
    "counts": ("dimensionless", 1.0), "shots": ("dimensionless", 1.0),
}

#: The one unit each dimension is logged in: run files (the ``units`` attribute of every
#: dataset), the catalog, ``--where``, ``runs``/``show`` and ``reduce`` all see values in
#: these, whatever unit a sequence wrote them in (``[500 fs, 1 ps]`` is logged 0.5, 1 ps).
LOG_UNITS: dict[str, str] = {
    "time": "ps", "angle": "deg", "length": "mm", "energy": "keV", "pulse_energy": "uJ",
    "charge": "pC", "frequency": "Hz", "dimensionless": "",
}

#: a decimal number as written, without its sign: ``10``, ``2.5``, ``.5``, ``1e-3``
NUMBER = r"(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"
#: a signed number and the word after it (``%`` or letters): the unit, if it is one
_LEXEME = re.compile(rf"(?P<num>[-+]?{NUMBER})\s*(?P<unit>%|[^\W\d]*)")
#: where a number may start inside a longer text: not within a name or another number
_NUMBER_START = re.compile(r"(?<![\w.])[\d.]")


@dataclass(frozen=True, slots=True)
class Quantity:
    """A number with a unit, e.g. ``Quantity(10.0, "ps")``."""

    value: float
    unit: str

    def to(self, unit: str) -> float:
        """The magnitude in ``unit`` (raises :class:`UnitError` across dimensions)."""
        return convert(self.value, self.unit, unit)

    def __str__(self) -> str:
        return format_quantity(self.value, self.unit)


@dataclass(frozen=True, slots=True)
class QuantityToken:
    """A number and the word written after it, where :func:`lex_quantity` found them.

    ``unit`` is that word as written (``""`` when there is none): whether it is a
    known unit is for the caller to decide.  ``number_end`` and ``end`` are the
    text positions after the number and after the unit.
    """

    number: str
    unit: str
    start: int
    number_end: int
    end: int

    @property
    def value(self) -> float:
        return float(self.number)


def lex_quantity(text: str, pos: int = 0, *, signed: bool = True) -> QuantityToken | None:
    """Read ``number [unit]`` at ``text[pos:]``, or None if no number starts there.

    Args:
        text: the text.
        pos: where the number must start.
        signed: whether a leading ``+``/``-`` belongs to the number.
    """
    m = _LEXEME.match(text, pos)
    if m is None or (not signed and m["num"][0] in "+-"):
        return None
    unit = m["unit"]
    return QuantityToken(m["num"], unit, pos, m.end("num"), m.end() if unit else m.end("num"))


def quantity_literals(text: str) -> list[QuantityToken]:
    """The numbers with a known unit standing alone in ``text`` (``0.5 ps`` in ``x + 0.5 ps``).

    A number inside a name (``x1``) or followed by more of a word (``2 mins``,
    ``3 ms2``) is not one; ``%`` is left to the caller (it is also an operator).
    """
    out: list[QuantityToken] = []
    for m in _NUMBER_START.finditer(text):
        if out and m.start() < out[-1].end:
            continue
        tok = lex_quantity(text, m.start(), signed=False)
        if (tok is not None and tok.unit not in ("", "%") and tok.unit in UNITS
                and not text[tok.end:tok.end + 1].isalnum()
                and text[tok.end:tok.end + 1] != "_"):
            out.append(tok)
    return out


def dimension_of(unit: str) -> str:
    """The dimension of ``unit`` (``"length"``, ``"time"`` …)."""
    try:
        return UNITS[unit][0]
    except KeyError:
        raise UnitError(
            f"unknown unit {unit!r}", allowed=", ".join(u for u in UNITS if u)
        ) from None


def convert(value: float, from_unit: str, to_unit: str) -> float:
    """Convert ``value`` from one unit to another of the same dimension."""
    if from_unit == to_unit:
        return value
    dim_from, f_from = UNITS.get(from_unit, (None, 0.0))
    dim_to, f_to = UNITS.get(to_unit, (None, 0.0))
    if dim_from is None:
        dimension_of(from_unit)
    if dim_to is None:
        dimension_of(to_unit)
    if dim_from != dim_to:
        same = ", ".join(u for u, (d, _) in UNITS.items() if d == dim_to and u)
        raise UnitError(
            f"{from_unit or 'a plain number'} ({dim_from}) cannot be converted to "
            f"{to_unit or 'a plain number'} ({dim_to})",
            allowed=same or "a plain number",
        )
    ratio = _ratio(f_from, f_to)
    return value * ratio.numerator / ratio.denominator


@cache
def _ratio(f_from: float, f_to: float) -> Fraction:
    """Exact ratio of two table factors read as decimals (ps->fs is 1000, s->min is 1/60)."""
    return Fraction(repr(f_from)) / Fraction(repr(f_to))


def parse_quantity(text: str | int | float) -> Quantity:
    """Parse ``"10 ps"``, ``"-2.5e-3 deg"`` or a bare number into a :class:`Quantity`."""
    if isinstance(text, bool):
        raise UnitError(f"expected a quantity such as '10 ps', got {text!r}")
    if isinstance(text, int | float):
        return Quantity(float(text), "")
    stripped = text.strip()
    tok = lex_quantity(stripped)
    if tok is None or tok.end != len(stripped):
        raise UnitError(f"expected a quantity such as '10 ps', got {text!r}")
    dimension_of(tok.unit)
    return Quantity(tok.value, tok.unit)


def in_units(value: object, unit: str) -> object:
    """``value`` as a number in ``unit`` when it is a quantity (``Quantity``, ``"20 mdeg"``);
    plain numbers and other words (``"open"``, ``"high"``) unchanged.

    Raises:
        UnitError: a quantity whose unit is unknown or of another dimension.
    """
    if isinstance(value, Quantity):
        return convert(value.value, value.unit, unit)
    if isinstance(value, str):
        text = value.strip()
        tok = lex_quantity(text)
        if tok is None or tok.end != len(text):
            return value
        return convert(tok.value, tok.unit, unit) if tok.unit else tok.value
    return value


def format_quantity(value: float, unit: str) -> str:
    """Render a value and unit compactly (``"0.01 deg"``, ``"300"``)."""
    text = f"{value:.6g}"
    return f"{text} {unit}" if unit else text


def log_unit(unit: str) -> str:
    """The unit values of ``unit``'s dimension are logged in (``"fs"`` -> ``"ps"``)."""
    return LOG_UNITS[dimension_of(unit)]


def logged(value: Any, unit: str = "") -> tuple[Any, str]:
    """``value`` as the log records it, and its unit (see :data:`LOG_UNITS`).

    A :class:`Quantity`, or a plain number meaning ``unit`` (a device's own unit),
    becomes a float in the log unit of its dimension; a list converts element by
    element (its unit is the elements' one, ``""`` if they disagree); anything else
    (text, flags, indices) is returned as it is, with no unit.
    """
    if isinstance(value, Quantity):
        target = log_unit(value.unit)
        return convert(value.value, value.unit, target), target
    if isinstance(value, int | float) and not isinstance(value, bool):
        if not unit:
            return value, ""
        target = log_unit(unit)
        return convert(float(value), unit, target), target
    if isinstance(value, list | tuple):
        pairs = [logged(v, unit) for v in value]
        units = {u for _, u in pairs}
        return [v for v, _ in pairs], units.pop() if len(units) == 1 else ""
    return value, ""
