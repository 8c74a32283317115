"""Azimuthal integration with precomputed bins.

The geometry (beam centre, pixel size, distance, energy) fixes every pixel's
scattering vector ``q = 4π sin(θ) / λ`` once; :class:`AzimuthalBins` stores the
bin index of each pixel (−1 for masked or out-of-range pixels) and the pixel
count per bin, so integrating a frame is a single pass that adds each pixel to
its bin (numba).  No solid-angle or polarisation correction is applied: for a
flat detector at 2θ < 20° both change the profile by < 6 %, and the steering
uses here (ring position, relative change) do not need them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from expctl.analysis.errors import AnalysisError

__all__ = ["AzimuthalBins", "AzimuthalResult", "HC_KEV_ANGSTROM"]

#: h·c in keV·Å: λ[Å] = 12.398 / E[keV]
HC_KEV_ANGSTROM = 12.398419843


@dataclass(frozen=True, slots=True)
class AzimuthalResult:
    """Per-bin mean intensity ``mean[n, bin]``, sums and pixel counts, at bin centres ``q``."""

    q: np.ndarray
    mean: np.ndarray
    sums: np.ndarray
    pixels: np.ndarray


@dataclass(frozen=True)
class AzimuthalBins:
    """Pixel-to-bin map of one detector geometry; reuse it for every frame."""

    index: np.ndarray
    edges: np.ndarray
    pixels: np.ndarray

    @property
    def centers(self) -> np.ndarray:
        """Bin centres (units of the edges: 1/Å for q)."""
        return 0.5 * (self.edges[1:] + self.edges[:-1])

    @classmethod
    def from_values(cls, values: Any, edges: Any, mask: Any = None) -> AzimuthalBins:
        """Bins from any per-pixel radial quantity (q, 2θ, radius) and bin edges."""
        v = np.asarray(values, dtype=np.float64)
        e = np.asarray(edges, dtype=np.float64)
        if v.ndim != 2:
            raise AnalysisError(f"per-pixel values must be 2-D, got shape {v.shape}")
        if e.ndim != 1 or e.size < 2 or not (np.diff(e) > 0).all():
            raise AnalysisError("bin edges must be at least 2 increasing values")
        idx = np.searchsorted(e, v, side="right") - 1
        idx[(v == e[-1])] = e.size - 2  # the last edge belongs to the last bin
        idx[(idx < 0) | (idx >= e.size - 1) | ~np.isfinite(v)] = -1
        if mask is not None:
            m = np.asarray(mask, dtype=bool)
            if m.shape != v.shape:
                raise AnalysisError(f"mask shape {m.shape} does not match {v.shape}")
            idx[m] = -1
        idx = idx.astype(np.int32)
        pixels = np.bincount(idx[idx >= 0], minlength=e.size - 1).astype(np.int64)
        return cls(idx, e, pixels)

    @classmethod
    def from_geometry(cls, shape: tuple[int, int], center: tuple[float, float], *,
                      pixel_um: float, distance_mm: float, energy_kev: float, bins: int = 200,
                      q_range: tuple[float, float] | None = None,
                      mask: Any = None) -> AzimuthalBins:
        """Bins in q (1/Å) for a flat detector normal to the beam.

        Args:
            shape: detector (rows, cols).
            center: beam position (row, col) in pixels (may lie off the detector).
            pixel_um: pixel size; ``distance_mm`` sample–detector distance.
            energy_kev: photon energy.
            bins: number of equal-width q bins.
            q_range: (q_min, q_max); default: the q range the detector covers.
            mask: bad pixels (True = bad).
        """
        if not (pixel_um > 0 and distance_mm > 0 and energy_kev > 0 and bins >= 1):
            raise AnalysisError("pixel size, distance, energy and bins must be positive")
        rows = (np.arange(shape[0]) - center[0])[:, None]
        cols = (np.arange(shape[1]) - center[1])[None, :]
        radius_mm = np.hypot(rows, cols) * pixel_um * 1e-3
        two_theta = np.arctan2(radius_mm, distance_mm)
        q = 4.0 * math.pi * np.sin(two_theta / 2.0) / (HC_KEV_ANGSTROM / energy_kev)
        lo, hi = q_range if q_range is not None else (float(q.min()), float(q.max()))
        return cls.from_values(q, np.linspace(lo, hi, int(bins) + 1), mask)

    def integrate(self, frames: Any, pedestal: Any = None) -> AzimuthalResult:
        """Mean dark-subtracted intensity per bin for each frame (NaN for empty bins)."""
        f = np.asarray(frames)
        if f.ndim == 2:
            f = f[None]
        if f.ndim != 3 or f.shape[1:] != self.index.shape:
            raise AnalysisError(f"frames shape {f.shape} does not match the bins' "
                                f"{self.index.shape}")
        ped = (np.zeros(self.index.shape, dtype=np.float32) if pedestal is None
               else np.ascontiguousarray(pedestal, dtype=np.float32))
        if ped.shape != self.index.shape:
            raise AnalysisError(f"pedestal shape {ped.shape} does not match {self.index.shape}")
        from expctl.analysis import _detector_kernels  # numba: only on first use

        sums = np.zeros((f.shape[0], self.pixels.size))
        _detector_kernels.binned_sums(np.ascontiguousarray(f), ped, self.index, sums)
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = sums / self.pixels
        return AzimuthalResult(self.centers, mean, sums, self.pixels)
