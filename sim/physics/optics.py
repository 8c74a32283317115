"""Bragg diffraction of the sample crystal: Bragg angle and rocking curve.

The intrinsic (Darwin) reflection curve is modelled as a pseudo-Voigt of FWHM
``intrinsic_fwhm_urad`` (28.6 urad for Si(111) at 10 keV) with Lorentzian
fraction ``eta``; the crystal's mosaic spread convolves it with a Gaussian of
FWHM ``mosaic_fwhm_urad``.  The convolution is tabulated once on a fine grid
(peak normalised to 1) and interpolated per shot, and its FWHM is measured on
the same table, so the width the simulator produces and the width
:mod:`sim.truth` reports are one number.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

__all__ = ["HC_KEV_ANGSTROM", "RockingCurve", "bragg_angle_deg", "fwhm_of", "pseudo_voigt"]

HC_KEV_ANGSTROM = 12.398419843320026


def bragg_angle_deg(energy_kev: float | np.ndarray, d_angstrom: float) -> float | np.ndarray:
    """First-order Bragg angle in degrees (``lambda = 2 d sin theta``)."""
    s = HC_KEV_ANGSTROM / (np.asarray(energy_kev, dtype=np.float64) * 2.0 * d_angstrom)
    if np.any(s >= 1.0):
        raise ValueError(f"no Bragg reflection with d = {d_angstrom} A at {energy_kev} keV")
    out = np.degrees(np.arcsin(s))
    return float(out) if out.ndim == 0 else out


def pseudo_voigt(x: np.ndarray, fwhm: float, eta: float) -> np.ndarray:
    """Peak-normalised pseudo-Voigt: ``eta`` Lorentzian + ``1-eta`` Gaussian, same FWHM."""
    hw = 0.5 * fwhm
    lor = 1.0 / (1.0 + (x / hw) ** 2)
    gau = np.exp(-math.log(2.0) * (x / hw) ** 2)
    return eta * lor + (1.0 - eta) * gau


def fwhm_of(x: np.ndarray, y: np.ndarray) -> float:
    """Full width at half maximum of a sampled single peak (linear interpolation)."""
    i = int(np.argmax(y))
    half = 0.5 * y[i]
    left = np.nonzero(y[:i] < half)[0]
    right = np.nonzero(y[i:] < half)[0]
    if len(left) == 0 or len(right) == 0:
        raise ValueError("peak does not fall below half maximum inside the sampled range")
    j = left[-1]
    xl = x[j] + (half - y[j]) * (x[j + 1] - x[j]) / (y[j + 1] - y[j])
    k = i + right[0]
    xr = x[k - 1] + (half - y[k - 1]) * (x[k] - x[k - 1]) / (y[k] - y[k - 1])
    return float(xr - xl)


@dataclass(frozen=True)
class RockingCurve:
    """Peak-normalised reflectivity versus angular deviation from the Bragg angle.

    Args:
        intrinsic_fwhm_urad: FWHM of the intrinsic (Darwin) curve.
        lorentz_fraction: pseudo-Voigt mixing of the intrinsic curve.
        mosaic_fwhm_urad: FWHM of the Gaussian mosaic distribution (0 = perfect crystal).
    """

    intrinsic_fwhm_urad: float = 28.6
    lorentz_fraction: float = 0.5
    mosaic_fwhm_urad: float = 20.0
    _x: np.ndarray = field(init=False, repr=False, compare=False)
    _y: np.ndarray = field(init=False, repr=False, compare=False)
    _lists: tuple[list[float], list[float]] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        half_span = 40.0 * (self.intrinsic_fwhm_urad + self.mosaic_fwhm_urad)
        step = min(self.intrinsic_fwhm_urad, self.mosaic_fwhm_urad or math.inf) / 40.0
        x = np.arange(-half_span, half_span + step / 2, step)
        y = pseudo_voigt(x, self.intrinsic_fwhm_urad, self.lorentz_fraction)
        if self.mosaic_fwhm_urad > 0:
            sig = self.mosaic_fwhm_urad / (2.0 * math.sqrt(2.0 * math.log(2.0)))
            kx = np.arange(-6 * sig, 6 * sig + step / 2, step)
            kern = np.exp(-0.5 * (kx / sig) ** 2)
            y = np.convolve(y, kern / kern.sum(), mode="same")
        object.__setattr__(self, "_x", x)
        object.__setattr__(self, "_y", y / y.max())
        object.__setattr__(self, "_lists", (x.tolist(), self._y.tolist()))

    def _interp_one(self, x: float) -> float:
        """``np.interp(x, _x, _y, left=0, right=0)`` for one float, bit for bit (same search
        result, same ``slope * (x - x[j]) + y[j]``), without numpy's per-call cost."""
        xs, ys = self._lists
        last = len(xs) - 1
        if not xs[0] <= x <= xs[last]:
            return 0.0
        j = min(int((x - xs[0]) / (xs[1] - xs[0])), last)  # uniform grid: a guess to refine
        while xs[j] > x:
            j -= 1
        while j < last and xs[j + 1] <= x:
            j += 1
        if j == last or xs[j] == x:
            return ys[j]
        slope = (ys[j + 1] - ys[j]) / (xs[j + 1] - xs[j])
        return slope * (x - xs[j]) + ys[j]

    @property
    def fwhm_urad(self) -> float:
        """FWHM of the convolved curve (what a rocking scan measures)."""
        return fwhm_of(self._x, self._y)

    def __call__(self, delta_urad: np.ndarray | float, broadening: float | np.ndarray = 1.0
                 ) -> np.ndarray | float:
        """Reflectivity at ``delta_urad`` from the peak; ``broadening`` widens the curve.

        A broadened curve keeps its integrated reflectivity (the peak drops by
        the same factor), as for a crystal whose mosaic has grown.
        """
        if isinstance(delta_urad, float):  # one shot: plain floats, np.interp's arithmetic
            if broadening == 1.0:
                return self._interp_one(delta_urad)
            return self._interp_one(delta_urad / broadening) / broadening
        if np.ndim(broadening) == 0 and broadening == 1.0:
            return np.interp(delta_urad, self._x, self._y, left=0.0, right=0.0)
        b = np.asarray(broadening, dtype=np.float64)
        d = np.asarray(delta_urad, dtype=np.float64) / b
        return np.interp(d, self._x, self._y, left=0.0, right=0.0) / b
