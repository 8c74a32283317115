"""Synthetic rocking curves and MPCCD frames with known truth.

The analysis tests and benchmarks need data whose answer is known without the
simulated beamline; these generators are small, documented forward models
(the same physics the simulator uses, stripped to what the estimators see).

Rocking curve (:func:`rocking_curve`): the Bragg ROI collects Poisson photons
with mean ``I0/⟨I0⟩ · (background + peak · PV(θ))`` per shot, where PV is a
unit-height pseudo-Voigt.  The monochromatic-beam I0 is gamma-distributed with
shape ``i0_shape`` (a SASE pulse through a monochromator keeps about one
longitudinal mode, so its intensity fluctuates ~80–100 % rms; shape 1.5 gives
82 %), and the I0 monitor reads it with a relative Gaussian error
``i0_noise``.  True centres are placed off the scan grid.

MPCCD frame (:func:`mpccd_frames`): per-pixel pedestal ~ N(pedestal_mean,
pedestal_spread) ADU, a Gaussian Bragg spot of Poisson photons on a flat
Poisson background, each photon worth ``E / (3.65 eV · absgain)`` ADU
(≈ 152 ADU at 10 keV with absgain 18 e⁻/ADU), Gaussian read noise in
electrons, rounded and clipped to 16 bits.  The per-pixel photon truth is
returned with the frames.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from expctl.analysis.assembly import SensorGeometry
from expctl.analysis.detector import adu_per_photon
from expctl.analysis.lineshape import pseudo_voigt

__all__ = [
    "MpccdFrames",
    "RockingCurve",
    "mpccd_frames",
    "octal_geometry",
    "rocking_curve",
]


@dataclass(frozen=True, slots=True)
class RockingCurve:
    """One simulated scan: ``signal`` and ``i0`` are ``(points, shots)``."""

    x: np.ndarray
    signal: np.ndarray
    i0: np.ndarray
    center: float
    fwhm: float
    eta: float


def rocking_curve(
    rng: np.random.Generator,
    *,
    points: int = 41,
    span: float = 0.01,
    nominal: float = 11.40,
    fwhm: float = 0.0025,
    eta: float = 0.3,
    peak_photons: float = 5000.0,
    background_photons: float = 20.0,
    shots: int = 1,
    i0_mean: float = 50.0,
    i0_shape: float = 1.5,
    i0_noise: float = 0.005,
    offset: float | None = None,
) -> RockingCurve:
    """A theta scan over a Bragg peak (degrees; defaults: Si(111) at 10 keV, mosaic-broadened).

    Args:
        rng: the random generator (seeded by the caller).
        points: scan points; ``span`` the full scan width around ``nominal``.
        fwhm: true rocking-curve width (0.0025° ≈ 44 µrad: Si(111)'s 28.6 µrad
            broadened by mosaic); ``eta`` its Lorentzian fraction.
        peak_photons: mean photons in the ROI at the peak for a mean-I0 shot.
        background_photons: mean diffuse photons per shot in the ROI.
        shots: shots per point.
        i0_mean: mean I0 monitor reading (pC); ``i0_shape`` its gamma shape.
        i0_noise: relative rms read error of the I0 monitor.
        offset: true centre minus nominal; default uniform within ±span/6, so
            the centre almost never falls on a grid point.
    """
    x = nominal + np.linspace(-span / 2, span / 2, points)
    if offset is None:
        offset = float(rng.uniform(-span / 6, span / 6))
    center = nominal + offset
    i0_true = rng.gamma(i0_shape, i0_mean / i0_shape, size=(points, shots))
    mean = i0_true / i0_mean * (background_photons
                                + peak_photons * pseudo_voigt(x, center, fwhm, eta)[:, None])
    signal = rng.poisson(mean).astype(np.float64)
    i0 = i0_true * (1.0 + i0_noise * rng.standard_normal(i0_true.shape))
    return RockingCurve(x, signal, i0, center, fwhm, eta)


@dataclass(frozen=True, slots=True)
class MpccdFrames:
    """Raw uint16 frames with the pedestal and per-pixel photon truth that made them."""

    frames: np.ndarray
    pedestal: np.ndarray
    photons: np.ndarray
    adu_per_photon: float
    read_noise_adu: float


def mpccd_frames(
    rng: np.random.Generator,
    n_frames: int,
    *,
    shape: tuple[int, int] = (1024, 512),
    spot: tuple[float, float, float] = (400.0, 250.0, 6.0),
    spot_photons: float = 3000.0,
    background_photons: float = 0.002,
    energy_kev: float = 10.0,
    absgain: float = 18.0,
    read_noise_e: float = 250.0,
    pedestal_mean: float = 1500.0,
    pedestal_spread: float = 40.0,
) -> MpccdFrames:
    """MPCCD sensor frames with a Bragg spot (row, col, sigma in pixels).

    Args:
        rng: the random generator.
        n_frames: number of frames.
        spot_photons: mean photons in the spot per frame.
        background_photons: mean diffuse photons per pixel per frame.
        energy_kev: photon energy; with ``absgain`` (e⁻/ADU) it sets ADU/photon.
        read_noise_e: rms read noise in electrons.
        pedestal_mean, pedestal_spread: per-pixel dark offset (ADU).
    """
    ny, nx = shape
    app = adu_per_photon(energy_kev, absgain)
    pedestal = rng.normal(pedestal_mean, pedestal_spread, size=shape).astype(np.float32)
    rows = np.arange(ny)[:, None]
    cols = np.arange(nx)[None, :]
    r0, c0, s = spot
    profile = np.exp(-((rows - r0) ** 2 + (cols - c0) ** 2) / (2.0 * s * s))
    rate = background_photons + spot_photons * profile / profile.sum()
    photons = rng.poisson(rate, size=(n_frames, ny, nx)).astype(np.int32)
    noise_adu = read_noise_e / absgain
    adu = pedestal + photons * app + rng.normal(0.0, noise_adu, size=photons.shape)
    frames = np.clip(np.rint(adu), 0, 65535).astype(np.uint16)
    return MpccdFrames(frames, pedestal, photons, app, noise_adu)


def octal_geometry(rng: np.random.Generator | None = None, *, tilt_deg: float = 0.3,
                   gap_px: float = 16.0, hole_px: float = 60.0) -> list[SensorGeometry]:
    """A plausible octal MPCCD: two rows of four 1024 x 512 sensors around a beam hole.

    The upper four hang above the hole (rotation ≈ 0°), the lower four below
    it turned by 180°, each with a small random tilt (±``tilt_deg``) and
    ``gap_px`` between neighbours — the layout, not SACLA's exact metrology.
    Positions are µm from the beam (lab origin) at 50 µm per pixel.
    """
    pix = 50.0
    ny, nx = 1024, 512
    sensors = []
    for k in range(8):
        upper = k < 4
        col = k % 4
        tilt = float(rng.uniform(-tilt_deg, tilt_deg)) if rng is not None else 0.0
        left = (col - 2) * (nx + gap_px) + gap_px / 2  # left edge of this slot, px
        if upper:  # pixel (0, 0) at the slot's top-left, rows running down towards the hole
            x0, y0, rot = left + 0.5, -hole_px / 2 - ny + 0.5, tilt
        else:      # turned by 180°: pixel (0, 0) at the slot's bottom-right
            x0, y0, rot = left + nx - 0.5, hole_px / 2 + ny - 0.5, 180.0 + tilt
        sensors.append(SensorGeometry((x0 * pix, y0 * pix), rot, 1.0, (ny, nx), pix))
    return sensors
