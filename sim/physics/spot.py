"""The Bragg spot on the detector: pixel fractions, saturated pixels and saturated ROI sums.

The spot is a 2-D Gaussian (``sigma_px``) centred on a pixel-coordinate point;
pixel ``(i, j)`` covers ``[i, i+1) x [j, j+1)``, so it holds the fraction
``p_ij = ΔΦ_rows · ΔΦ_cols`` of the spot's photons (renormalised to the ROI box,
since the image kernel redraws photons falling outside it).  A pixel holds at
most ``cap`` photons (the smaller of its full well and the 16-bit ADC range
above the pedestal), so the expected ROI sum of ``n`` spot photons is
``S(n) = Σ min(n p_ij, cap)``: linear while the brightest pixel is below ``cap``,
then growing ever more slowly.  Small data uses this expectation (per-pixel
Poisson scatter of a saturated pixel is lost anyway); full images clip pixel by
pixel.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

__all__ = ["SpotProfile"]


def _phi(x: np.ndarray) -> np.ndarray:
    return 0.5 * np.array([math.erfc(-v / math.sqrt(2.0)) for v in np.ravel(x)]).reshape(
        np.shape(x))


@dataclass(frozen=True)
class SpotProfile:
    """Pixel fractions of a Gaussian spot inside a ROI box, and saturation of its sum.

    Args:
        row, col: spot centre in pixel coordinates.
        sigma_px: rms spot size.
        box: ``(row0, row1, col0, col1)`` of the ROI holding it.
        cap_photons: photons one pixel holds before it saturates.
    """

    row: float
    col: float
    sigma_px: float
    box: tuple[int, int, int, int]
    cap_photons: float
    _p: np.ndarray = field(init=False, repr=False, compare=False)   # fractions, descending
    _tail: np.ndarray = field(init=False, repr=False, compare=False)  # Σ_{k>=m} p_k

    def __post_init__(self) -> None:
        r0, r1, c0, c1 = self.box
        s = self.sigma_px
        rows = np.diff(_phi((np.arange(r0, r1 + 1) - self.row) / s))
        cols = np.diff(_phi((np.arange(c0, c1 + 1) - self.col) / s))
        p = np.sort(np.outer(rows, cols).ravel())[::-1]
        p = p / p.sum()
        object.__setattr__(self, "_p", p)
        object.__setattr__(self, "_tail", np.concatenate([np.cumsum(p[::-1])[::-1], [0.0]]))

    @property
    def peak_fraction(self) -> float:
        """Fraction of the spot in its brightest pixel."""
        return float(self._p[0])

    @property
    def onset_photons(self) -> float:
        """Spot photons at which the brightest pixel saturates."""
        return self.cap_photons / self.peak_fraction

    def saturated_sum(self, n: np.ndarray | float) -> np.ndarray | float:
        """Expected photons the ROI records of ``n`` spot photons: ``Σ min(n p, cap)``."""
        cap = self.cap_photons
        if not isinstance(n, np.ndarray):
            n = float(n)
            if n * self._p[0] <= cap:
                return float(n)
            m = int(np.searchsorted(-self._p, -cap / n, side="right"))
            return cap * m + n * float(self._tail[m])
        arr = np.asarray(n, dtype=np.float64)
        if not np.any(arr * self._p[0] > cap):
            return arr
        with np.errstate(divide="ignore"):
            m = np.searchsorted(-self._p, -cap / arr, side="right")
        return np.where(arr * self._p[0] > cap, cap * m + arr * self._tail[m], arr)

    def saturated_pixels(self, n: np.ndarray | float) -> np.ndarray | float:
        """Expected number of pixels at their cap with ``n`` spot photons."""
        if isinstance(n, np.ndarray):
            with np.errstate(divide="ignore"):
                return np.searchsorted(-self._p, -self.cap_photons / n, side="right"
                                       ).astype(np.float64)
        if float(n) * self._p[0] <= self.cap_photons:
            return 0.0
        return float(np.searchsorted(-self._p, -self.cap_photons / float(n), side="right"))

    def brightest(self, n: np.ndarray | float) -> np.ndarray | float:
        """Expected photons in the brightest pixel (clipped at ``cap``)."""
        if isinstance(n, np.ndarray):
            return np.minimum(n * self._p[0], self.cap_photons)
        return min(float(n) * float(self._p[0]), self.cap_photons)
