"""Peak statistics of a step scan, as SPEC and bluesky users read them after every scan.

``cen`` (midpoint of the half-maximum crossings, SPEC's CEN), ``com`` (centre
of mass above the edge background), ``fwhm``, the maximum and minimum points,
and — when the scan has enough points — the fitted peak of :func:`find_peak`,
whose flags (``edge``, ``no_peak``, ``undersampled`` …) say whether any of these
numbers should steer a motor.  A partial scan (stopped after a few points) gets
the same treatment: what cannot be said is NaN and flagged, never an exception.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from expctl.analysis.errors import AnalysisError
from expctl.analysis.peaks import FLAGS_UNUSABLE, PeakResult, find_peak

__all__ = ["ScanStatsResult", "scan_stats"]

#: fewest points for the model-free estimates (a peak needs both of its flanks)
MIN_POINTS = 3
#: fewest points for the fit (pseudo-Voigt on a background: five parameters + 2)
MIN_FIT_POINTS = 7


@dataclass(frozen=True, slots=True)
class ScanStatsResult:
    """What a scan's signal says about its peak.

    Positions are in the axis' units, values in the signal's (divided by I0
    when an I0 was given).  ``flags`` are the fit's when there is a fit, else
    the half-maximum estimate's; ``ok`` is False when any of them makes the
    peak unusable (see :data:`~expctl.analysis.peaks.FLAGS_UNUSABLE`).
    """

    axis: str
    signal: str
    n_points: int
    cen: float
    com: float
    fwhm: float
    max_x: float
    max_y: float
    min_x: float
    min_y: float
    fit: PeakResult | None = None
    flags: frozenset[str] = field(default_factory=frozenset)

    @property
    def ok(self) -> bool:
        """True when no flag makes the peak unusable."""
        return not (self.flags & FLAGS_UNUSABLE)

    @property
    def peak(self) -> float:
        """The fitted centre when the fit is usable, else ``cen``."""
        if self.fit is not None and self.fit.ok and math.isfinite(self.fit.center):
            return self.fit.center
        return self.cen

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict (flags sorted), including ``ok`` and the fit's own dict."""
        return {"axis": self.axis, "signal": self.signal, "n_points": self.n_points,
                "cen": self.cen, "com": self.com, "fwhm": self.fwhm, "max_x": self.max_x,
                "max_y": self.max_y, "min_x": self.min_x, "min_y": self.min_y,
                "fit": None if self.fit is None else self.fit.as_dict(),
                "flags": sorted(self.flags), "ok": self.ok}

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> ScanStatsResult:
        """Rebuild from :meth:`as_dict` (a catalog row or a scan file)."""
        fit = values.get("fit")
        peak = None
        if isinstance(fit, dict):
            peak = PeakResult(**{k: _num(v) if k not in ("method", "model", "flags",
                                                         "n_points") else v
                                 for k, v in fit.items() if k != "ok"} | {
                "flags": frozenset(fit.get("flags", ()))})
        return cls(axis=str(values.get("axis", "")), signal=str(values.get("signal", "")),
                   n_points=int(values.get("n_points", 0)),
                   **{k: _num(values.get(k)) for k in ("cen", "com", "fwhm", "max_x", "max_y",
                                                       "min_x", "min_y")},
                   fit=peak, flags=frozenset(values.get("flags", ())))


def _num(value: Any) -> float:
    return math.nan if value is None else float(value)


def scan_stats(x: Sequence[float] | np.ndarray, y: Sequence[float] | np.ndarray, *,
               i0: Sequence[float] | np.ndarray | None = None, axis: str = "",
               signal: str = "", fit: bool = True) -> ScanStatsResult:
    """Peak statistics of ``y`` (divided by ``i0`` if given) against ``x``.

    Points whose x, y or I0 is not a finite number, or whose I0 is not
    positive, are left out (flag ``points_dropped``).

    Args:
        x: positions of the scanned axis, one per point (any order).
        y: the signal per point.
        i0: a monitor per point to divide by.
        axis: the axis' name (kept in the result).
        signal: the signal's name (kept in the result).
        fit: also fit the peak (numba; needs :data:`MIN_FIT_POINTS` points).
    """
    xa = np.asarray(x, dtype=np.float64).ravel()
    ya = np.asarray(y, dtype=np.float64).ravel()
    if xa.shape != ya.shape:
        raise AnalysisError(f"scan statistics: {xa.size} positions but {ya.size} values")
    keep = np.isfinite(xa) & np.isfinite(ya)
    ia = None
    if i0 is not None:
        ia = np.asarray(i0, dtype=np.float64).ravel()
        if ia.shape != xa.shape:
            raise AnalysisError(f"scan statistics: {xa.size} positions but {ia.size} I0 values")
        keep &= np.isfinite(ia) & (ia > 0)
    flags: set[str] = set() if keep.all() else {"points_dropped"}
    xa, ya = xa[keep], ya[keep]
    ia = None if ia is None else ia[keep]
    norm = ya if ia is None else ya / ia
    n = int(xa.size)
    nan = math.nan
    if n == 0:
        return ScanStatsResult(axis, signal, 0, nan, nan, nan, nan, nan, nan, nan,
                               flags=frozenset(flags | {"too_few_points"}))
    imax, imin = int(np.argmax(norm)), int(np.argmin(norm))
    extremes = (float(xa[imax]), float(norm[imax]), float(xa[imin]), float(norm[imin]))
    if n < MIN_POINTS:
        return ScanStatsResult(axis, signal, n, nan, nan, nan, *extremes,
                               flags=frozenset(flags | {"too_few_points"}))
    cen = find_peak(xa, ya, i0=ia, method="cen")
    com = find_peak(xa, ya, i0=ia, method="com")
    fitted = find_peak(xa, ya, i0=ia, method="fit") if fit and n >= MIN_FIT_POINTS else None
    flags |= set((fitted or cen).flags)
    return ScanStatsResult(axis, signal, n, cen.center, com.center, cen.fwhm, *extremes,
                           fit=fitted, flags=frozenset(flags))
