"""Scans as the operator sees them: a header, one line per point as it arrives, the peak.

:class:`ScanPrinter` is an engine-event subscriber writing plain lines (no
cursor tricks), so the same output suits the shell (printed above the prompt),
IPython, and a ``| tee`` log; rows never exceed the width it is given, and
columns that do not fit are left out whole (the record keeps them all).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["ScanPrinter", "format_stats", "number_text", "quantity_text"]

#: a row's index column
_INDEX_WIDTH = 4
#: space between columns
_GAP = 2


def number_text(value: Any, digits: int = 6) -> str:
    """A number with ``digits`` significant digits (``nan`` shown as ``—``)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)
    if not math.isfinite(value):
        return "—"
    return f"{value:.{digits}g}"


def quantity_text(value: Any, unit: str, digits: int = 6) -> str:
    """``11.4021 deg``; a unitless number alone."""
    text = number_text(value, digits)
    return f"{text} {unit}" if unit and text != "—" else text


@dataclass
class _Column:
    key: str
    title: str
    width: int
    decimals: int | None = None  # fixed decimals (axes), else significant digits


@dataclass
class _Scan:
    number: int
    axes: tuple[str, ...]
    planned: int
    signal: str | None
    i0: str | None
    units: Mapping[str, str]
    columns: list[_Column] = field(default_factory=list)
    values: dict[str, list[float]] = field(default_factory=dict)
    points: int = 0
    one_d: bool = True


class ScanPrinter:
    """Prints scans live: header, rows as points arrive, outcome and peak statistics.

    Args:
        write: prints one line (or several joined by newlines).
        width: the terminal width now (a number, or a function asked at each scan).
        where: names the file a scan is kept in (``where(number)``), if known.
    """

    def __init__(self, write: Callable[[str], None], width: int | Callable[[], int] = 80,
                 where: Callable[[int], str] | None = None) -> None:
        self.write = write
        self._width = width
        self.where = where
        self._scan: _Scan | None = None

    def width(self) -> int:
        return max(40, int(self._width() if callable(self._width) else self._width))

    def __call__(self, event: Any) -> None:
        from expctl.engine.events import ScanClosed, ScanOpened, ScanPointTaken

        if isinstance(event, ScanPointTaken):
            self._row(event)
        elif isinstance(event, ScanOpened):
            self._header(event)
        elif isinstance(event, ScanClosed):
            self._footer(event)

    # -- header --------------------------------------------------------------------------
    def _header(self, ev: Any) -> None:
        scan = _Scan(ev.number, tuple(ev.axes), ev.points, ev.signal, ev.i0, dict(ev.units),
                     one_d=len(ev.shape) <= 1)
        self._scan = scan
        head = f"scan {ev.number}  {ev.command or ev.kind}"
        self.write(_fit_words(f"{head}  ({ev.points} point{'s' if ev.points != 1 else ''})",
                              self.width()))

    def _choose_columns(self, scan: _Scan, values: Mapping[str, Any]) -> None:
        """Axes, the signal, I0 and their ratio first; other measured signals while the width
        allows."""
        numeric = [k for k, v in values.items()
                   if isinstance(v, int | float) and not isinstance(v, bool)]
        wanted: list[str] = [a for a in scan.axes if a in numeric]
        for key in (scan.signal, scan.i0):
            if key and key in numeric and key not in wanted:
                wanted.append(key)
        ratio = bool(scan.signal and scan.i0 and scan.signal in numeric and scan.i0 in numeric)
        # other measured quantities (with a unit); status words and fractions (the beam's
        # on/off, a saturated fraction) stay in the record only
        rest = sorted(k for k in numeric if k not in wanted and scan.units.get(k))
        budget = self.width() - _INDEX_WIDTH
        columns: list[_Column] = []

        def add(col: _Column) -> bool:
            nonlocal budget
            need = col.width + _GAP
            if need > budget:
                return False
            columns.append(col)
            budget -= need
            return True

        for key in wanted:
            add(self._column(scan, key, axis=key in scan.axes))
        if ratio:
            add(_Column("/", _short_ratio(scan.signal or "", scan.i0 or ""),
                        max(10, len(_short_ratio(scan.signal or "", scan.i0 or "")))))
        for key in rest:
            if not add(self._column(scan, key, axis=False)):
                break
        scan.columns = columns

    @staticmethod
    def _column(scan: _Scan, key: str, *, axis: bool) -> _Column:
        unit = scan.units.get(key, "")
        title = f"{key} [{unit}]" if unit else key
        return _Column(key, title, max(len(title), 11 if axis else 10),
                       decimals=6 if axis else None)

    # -- rows ----------------------------------------------------------------------------
    def _row(self, ev: Any) -> None:
        scan = self._scan
        if scan is None or ev.number != scan.number:
            return
        values = ev.values
        if not scan.columns:
            self._choose_columns(scan, values)
            titles = " " * (_INDEX_WIDTH - 1) + "#" + "".join(
                " " * _GAP + c.title.rjust(c.width) for c in scan.columns)
            self.write(titles)
        scan.points += 1
        for key, value in values.items():
            if isinstance(value, int | float) and not isinstance(value, bool):
                scan.values.setdefault(key, []).append(float(value))
        cells = [str(ev.index + 1).rjust(_INDEX_WIDTH)]
        for col in scan.columns:
            cells.append(self._cell(col, values).rjust(col.width))
        self.write((" " * _GAP).join(cells))

    def _cell(self, col: _Column, values: Mapping[str, Any]) -> str:
        scan = self._scan
        if col.key == "/" and scan is not None:
            num, den = values.get(scan.signal or ""), values.get(scan.i0 or "")
            if isinstance(num, int | float) and isinstance(den, int | float) and den > 0:
                return number_text(num / den, 5)
            return "—"
        value = values.get(col.key)
        if value is None:
            return "—"
        if col.decimals is not None and isinstance(value, int | float):
            return f"{value:.{col.decimals}f}" if math.isfinite(value) else "—"
        return number_text(value, 6)

    # -- footer --------------------------------------------------------------------------
    def _footer(self, ev: Any) -> None:
        scan = self._scan
        if scan is None or ev.number != scan.number:
            return
        self._scan = None
        kept = f" in {self.where(ev.number)}" if self.where is not None else ""
        if ev.outcome == "completed":
            self.write(f"scan {ev.number} completed: {ev.points} points{kept}")
        else:
            self.write(f"scan {ev.number} {ev.outcome} after {ev.points} of {scan.planned} "
                       f"points; the points taken are kept{kept}, marked {ev.outcome}")
        stats = self._stats(scan)
        if stats is not None:
            unit = scan.units.get(scan.axes[0], "") if scan.axes else ""
            for line in format_stats(stats, unit):
                self.write(_fit_words(line, self.width()))

    @staticmethod
    def _stats(scan: _Scan) -> Any:
        from expctl.analysis import AnalysisError
        from expctl.analysis.scanstats import scan_stats

        if not (scan.one_d and scan.axes and scan.signal and scan.signal in scan.values):
            return None
        x = scan.values.get(scan.axes[0])
        if x is None:
            return None
        i0 = scan.values.get(scan.i0) if scan.i0 else None
        label = f"{scan.signal}/{scan.i0}" if scan.i0 else scan.signal
        try:
            return scan_stats(x, scan.values[scan.signal], i0=i0, axis=scan.axes[0],
                              signal=label)
        except AnalysisError:
            return None


def format_stats(stats: Any, unit: str) -> list[str]:
    """SPEC's numbers (cen, com, FWHM) then the maximum and the fit with its verdict."""
    if stats.n_points < 3:
        return [f"  {stats.signal}: only {stats.n_points} point"
                f"{'s' if stats.n_points != 1 else ''}, no peak statistics"]
    first = (f"  cen {quantity_text(stats.cen, unit)}  com {quantity_text(stats.com, unit)}  "
             f"fwhm {quantity_text(stats.fwhm, unit, 3)}  ({stats.signal})")
    fit = stats.fit
    flags = sorted(stats.flags)
    if fit is None:
        verdict = (f"no fit ({stats.n_points} points), "
                   + ("ok" if stats.ok else "NOT usable: " + ", ".join(flags)))
    elif stats.ok:
        verdict = (f"fit {number_text(fit.center, 7)} ± {quantity_text(fit.center_err, unit, 2)}"
                   f", ok" + (f" ({', '.join(flags)})" if flags else ""))
    else:
        verdict = f"fit NOT usable: {', '.join(flags) or 'fit failed'}"
    second = f"  max {number_text(stats.max_y, 5)} at {quantity_text(stats.max_x, unit)}  {verdict}"
    return [first, second]


def _short_ratio(signal: str, i0: str) -> str:
    """``roi0/i0``-style title of the normalised column."""
    return f"{signal.split('.')[-1]}/{i0.split('.')[-1]}"


def _fit_words(text: str, width: int) -> str:
    """``text`` cut at a word boundary to ``width`` (with … when cut); never mid-word."""
    if len(text) <= width:
        return text
    cut = text.rfind(" ", 0, width - 1)
    return (text[:cut] if cut > 0 else text[:width - 1]).rstrip() + "…"
