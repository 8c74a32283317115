"""Peak line shapes: what a fitted peak looks like when drawn or simulated."""

from __future__ import annotations

import math

import numpy as np

__all__ = ["pseudo_voigt"]


def pseudo_voigt(x: np.ndarray, center: float, fwhm: float, eta: float) -> np.ndarray:
    """Unit-height pseudo-Voigt: ``eta`` Lorentzian + ``1 - eta`` Gaussian, same FWHM."""
    u = (np.asarray(x, dtype=np.float64) - center) / fwhm
    return eta / (1.0 + 4.0 * u * u) + (1.0 - eta) * np.exp(-4.0 * math.log(2.0) * u * u)
