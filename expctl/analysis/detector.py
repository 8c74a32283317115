"""Detector frame reductions: pedestal, ROIs, photon counting, histograms, projections.

Every function takes one frame ``(rows, cols)`` or a stack ``(n, rows, cols)``
of raw values (uint16 MPCCD data or floats), the pedestal (dark) frame and an
optional bad-pixel ``mask`` (True = bad), and returns a small result.  The
per-pixel work runs in numba kernels (:mod:`expctl.analysis._detector_kernels`)
imported on first use, so importing this module stays cheap.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from expctl.analysis.errors import AnalysisError

__all__ = [
    "SILICON_PAIR_EV",
    "FrameReduction",
    "HistogramResult",
    "ProjectionResult",
    "Roi",
    "RoiStats",
    "adu_histogram",
    "adu_per_photon",
    "count_photons",
    "photon_image",
    "project",
    "reduce_frames",
    "roi_stats",
    "subtract_pedestal",
]

#: mean energy to make one electron-hole pair in silicon (eV)
SILICON_PAIR_EV = 3.65


def adu_per_photon(energy_kev: float, absgain: float) -> float:
    """ADU one photon deposits: ``E / (3.65 eV · absgain)`` (≈152 at 10 keV, 18 e⁻/ADU).

    Args:
        energy_kev: photon energy in keV.
        absgain: detector conversion gain in electrons per ADU (``mp_absgain``).
    """
    if not (energy_kev > 0 and absgain > 0):
        raise AnalysisError(
            f"photon energy ({energy_kev} keV) and absgain ({absgain} e-/ADU) must be positive")
    return energy_kev * 1000.0 / (SILICON_PAIR_EV * absgain)


@dataclass(frozen=True, slots=True)
class Roi:
    """A rectangular region of interest, half-open: rows ``[row_start, row_stop)``."""

    row_start: int
    row_stop: int
    col_start: int
    col_stop: int


def _kernels() -> Any:
    from expctl.analysis import _detector_kernels  # numba: only on first use

    return _detector_kernels


def _frames(frames: Any) -> np.ndarray:
    arr = np.asarray(frames)
    if arr.ndim == 2:
        arr = arr[None]
    if arr.ndim != 3 or arr.size == 0:
        raise AnalysisError(
            f"frames must be one image (rows, cols) or a stack (n, rows, cols), got {arr.shape}")
    if not (np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.floating)):
        raise AnalysisError(f"frames must be numeric, got dtype {arr.dtype}")
    return np.ascontiguousarray(arr)


def _pedestal(pedestal: Any, shape: tuple[int, int]) -> np.ndarray:
    if pedestal is None:
        return np.zeros(shape, dtype=np.float32)
    ped = np.ascontiguousarray(pedestal, dtype=np.float32)
    if ped.shape != shape:
        raise AnalysisError(f"pedestal shape {ped.shape} does not match frame shape {shape}")
    if not np.isfinite(ped).all():
        raise AnalysisError("pedestal contains NaN/inf values; mask those pixels instead")
    return ped


def _good(mask: Any, shape: tuple[int, int]) -> np.ndarray:
    """uint8 1 for usable pixels from a boolean bad-pixel mask (True = bad)."""
    if mask is None:
        return np.ones(shape, dtype=np.uint8)
    m = np.asarray(mask, dtype=bool)
    if m.shape != shape:
        raise AnalysisError(f"mask shape {m.shape} does not match frame shape {shape}")
    return (~m).view(np.uint8)


def _bounds(rois: Any, shape: tuple[int, int]) -> np.ndarray:
    out = []
    for k, roi in enumerate(rois):
        r = roi if isinstance(roi, Roi) else Roi(*(int(v) for v in roi))
        if not (0 <= r.row_start < r.row_stop <= shape[0]
                and 0 <= r.col_start < r.col_stop <= shape[1]):
            raise AnalysisError(
                f"ROI {k} rows {r.row_start}:{r.row_stop}, cols {r.col_start}:{r.col_stop} "
                f"is empty or outside the {shape[0]} x {shape[1]} frame")
        out.append((r.row_start, r.row_stop, r.col_start, r.col_stop))
    return np.array(out, dtype=np.int64).reshape(-1, 4)


#: pedestal given to masked pixels in photon counting: no 16-bit value reaches it
_OUT_OF_REACH = np.float32(1e9)


def _photon_params(app: float, threshold: float, pedestal: np.ndarray, mask: Any
                   ) -> tuple[np.ndarray, np.float32, np.float32]:
    """Pedestal with masked pixels out of reach, 1/ADU-per-photon, and ``1 - threshold``."""
    if not app > 0:
        raise AnalysisError(f"adu_per_photon must be positive, got {app}")
    if not 0.0 < threshold <= 1.0:
        raise AnalysisError(f"photon threshold must be a fraction of a photon in (0, 1], "
                            f"got {threshold}")
    if mask is not None:
        pedestal = np.where(_good(mask, pedestal.shape) == 0, _OUT_OF_REACH, pedestal)
    return pedestal, np.float32(1.0 / app), np.float32(1.0 - threshold)


def _prepared(frames: Any, pedestal: Any, mask: Any
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    f = _frames(frames)
    shape = (f.shape[1], f.shape[2])
    return f, _pedestal(pedestal, shape), _good(mask, shape)


@dataclass(frozen=True, slots=True)
class FrameReduction:
    """Per-shot small data: ``roi_sums[shot, roi]`` (ADU) and ``nphot[shot]``."""

    roi_sums: np.ndarray
    nphot: np.ndarray


def reduce_frames(frames: Any, pedestal: Any, rois: Any, adu_per_photon: float, *,
                  threshold: float = 0.5, mask: Any = None) -> FrameReduction:
    """Dark-subtracted ROI sums and photon count per frame, in one pass over the data.

    This is what becomes ``<det>/ROI_<k>_sum`` and ``<det>/photon_nPhot`` for
    every shot.  Masked pixels count in neither.

    Args:
        frames: raw frames (n, rows, cols) or one frame.
        pedestal: dark frame (rows, cols).
        rois: :class:`Roi` objects or ``(row_start, row_stop, col_start, col_stop)``.
        adu_per_photon: see :func:`adu_per_photon`.
        threshold: fraction of a photon at which a pixel counts as one photon.
        mask: bad pixels (True = bad), or None.
    """
    f, ped, good = _prepared(frames, pedestal, mask)
    bounds = _bounds(rois, ped.shape)
    photon_ped, inv_app, offset = _photon_params(adu_per_photon, threshold, ped, mask)
    roi_ped = np.array([float(np.sum(ped[r0:r1, c0:c1] * good[r0:r1, c0:c1], dtype=np.float64))
                        for r0, r1, c0, c1 in bounds])
    roi_sums = np.empty((f.shape[0], bounds.shape[0]))
    nphot = np.empty(f.shape[0], dtype=np.int64)
    zero = 0 if np.issubdtype(f.dtype, np.integer) else 0.0
    _kernels().reduce_frames(f, photon_ped, good, mask is not None, bounds,
                             roi_ped.reshape(-1), inv_app, offset, zero, roi_sums, nphot)
    return FrameReduction(roi_sums, nphot)


def subtract_pedestal(frames: Any, pedestal: Any, *, mask: Any = None) -> np.ndarray:
    """Dark-subtracted float32 frames (masked pixels set to 0), same leading shape as given."""
    f, ped, good = _prepared(frames, pedestal, mask)
    out = np.empty(f.shape, dtype=np.float32)
    _kernels().subtract_pedestal(f, ped, good, out)
    return out if np.ndim(frames) == 3 else out[0]


@dataclass(frozen=True, slots=True)
class RoiStats:
    """Per frame and ROI (arrays ``(n, k)``): ``sum``, ``mean``, ``max`` and ``com`` (n, k, 2)."""

    sum: np.ndarray
    mean: np.ndarray
    max: np.ndarray
    com: np.ndarray
    pixels: np.ndarray


def roi_stats(frames: Any, pedestal: Any, rois: Any, *, mask: Any = None) -> RoiStats:
    """Sum, mean, maximum and centre of mass (row, col) of each ROI of each frame.

    The mean is over the ROI's unmasked pixels (``pixels``); the centre of mass
    weighs positive dark-subtracted values only.
    """
    f, ped, good = _prepared(frames, pedestal, mask)
    bounds = _bounds(rois, ped.shape)
    n, k = f.shape[0], bounds.shape[0]
    s, mx, com = np.empty((n, k)), np.empty((n, k)), np.empty((n, k, 2))
    _kernels().roi_stats(f, ped, good, bounds, s, mx, com)
    pixels = np.array([int(good[r0:r1, c0:c1].sum()) for r0, r1, c0, c1 in bounds])
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = s / pixels
    return RoiStats(s, mean, mx, com, pixels)


def count_photons(frames: Any, pedestal: Any, adu_per_photon: float, *,
                  threshold: float = 0.5, mask: Any = None) -> np.ndarray:
    """Photons per frame (int64 array): pixels counted as ``floor(p - threshold) + 1``.

    ``p`` is the dark-subtracted value in photon units; with ``threshold`` 0.5 a
    pixel rounds to the nearest photon number, a lower threshold catches
    photons whose charge split between pixels at the cost of more noise counts.
    """
    f = _frames(frames)
    ped = _pedestal(pedestal, f.shape[1:])
    photon_ped, inv_app, offset = _photon_params(adu_per_photon, threshold, ped, mask)
    out = np.empty(f.shape[0], dtype=np.int64)
    _kernels().count_photons(f, photon_ped, inv_app, offset, out)
    return out


def photon_image(frames: Any, pedestal: Any, adu_per_photon: float, *,
                 threshold: float = 0.5, mask: Any = None) -> np.ndarray:
    """Photons per pixel (int32), same shape as ``frames``; see :func:`count_photons`."""
    f = _frames(frames)
    ped = _pedestal(pedestal, f.shape[1:])
    photon_ped, inv_app, offset = _photon_params(adu_per_photon, threshold, ped, mask)
    out = np.empty(f.shape, dtype=np.int32)
    _kernels().photon_image(f, photon_ped, inv_app, offset, out)
    return out if np.ndim(frames) == 3 else out[0]


@dataclass(frozen=True, slots=True)
class HistogramResult:
    """Counts per bin between ``edges`` (len(edges) == len(counts) + 1)."""

    edges: np.ndarray
    counts: np.ndarray

    @property
    def centers(self) -> np.ndarray:
        """Bin centres."""
        return 0.5 * (self.edges[1:] + self.edges[:-1])


def adu_histogram(frames: Any, pedestal: Any = None, *, low: float = -200.0,
                  high: float = 1000.0, bins: int = 600, mask: Any = None) -> HistogramResult:
    """Histogram of dark-subtracted ADU over all pixels of all frames.

    The tool for checking a pedestal (peak at 0, width = read noise) and
    reading off ADU per photon (the one-photon peak).  Values outside
    ``[low, high)`` are not counted.
    """
    if not (high > low and bins >= 1):
        raise AnalysisError(f"histogram range must have high > low and bins >= 1, "
                            f"got {low}..{high} in {bins} bins")
    f, ped, good = _prepared(frames, pedestal, mask)
    counts = np.zeros(int(bins), dtype=np.int64)
    width = (high - low) / bins
    _kernels().adu_histogram(f, ped, good, float(low), float(width), counts)
    return HistogramResult(np.linspace(low, high, int(bins) + 1), counts)


@dataclass(frozen=True, slots=True)
class ProjectionResult:
    """``rows[n, r]``: sum over columns of each row; ``cols[n, c]``: sum over rows."""

    rows: np.ndarray
    cols: np.ndarray


def project(frames: Any, pedestal: Any = None, roi: Roi | tuple[int, int, int, int] | None = None,
            *, mask: Any = None) -> ProjectionResult:
    """Row and column projections of the dark-subtracted frame (or of one ROI of it)."""
    f, ped, good = _prepared(frames, pedestal, mask)
    (r0, r1, c0, c1), = _bounds([roi if roi is not None else (0, ped.shape[0], 0, ped.shape[1])],
                               ped.shape)
    rows = np.empty((f.shape[0], r1 - r0))
    cols = np.empty((f.shape[0], c1 - c0))
    _kernels().project(f, ped, good, int(r0), int(r1), int(c0), int(c1), rows, cols)
    return ProjectionResult(rows, cols)
