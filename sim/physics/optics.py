"""Bragg diffraction: kinematic Bragg angle, dynamical (Darwin) reflectivity, rocking curve.

A perfect crystal reflects by dynamical diffraction.  Following Als-Nielsen &
McMorrow, *Elements of Modern X-ray Physics* (2nd ed., section 6.4) — the same
formulas xraydb's ``darwin_width`` uses — the amplitude reflectivity of a thick
crystal at relative deviation ``ζ = Δλ/λ`` is ``r = x - sqrt(x² - 1)`` (the root with
``|r| ≤ 1``), ``x = (π ζ - g0) / g``, with ``g`` and ``g0`` from the atomic form
factors of the reflection (``f0(q) + f' - i f''``) and of the forward beam.  At
fixed energy an angular deviation ``Δθ`` is ``ζ = Δθ / tan θ``.  ``Re g0`` moves
the reflection off the kinematic Bragg angle by ``tan θ · Re g0 / π`` (refraction,
+25 µrad for Si(111) at 10 keV); ``Im g0`` (absorption) makes the top of the
curve sloped and its peak below 1.

The beam reaching the sample has passed a double-crystal monochromator of the
same kind: its passband is ``R(ζ)²`` (two reflections).  Rocking the sample in
the non-dispersive setting scans its curve across that band, so the measured
rocking curve is their correlation ``C(Δ) = ∫ Rm(ζ)² Rs(ζ - Δ) dζ / ∫ Rm(ζ)² dζ``:
the fraction of the monochromatic photons the sample reflects.  A mosaic
sample convolves it with a Gaussian of the mosaic spread (0 = perfect crystal).
Curves are tabulated once on a fine ζ grid and interpolated per shot.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["HC_KEV_ANGSTROM", "R0_ANGSTROM", "Reflection", "RockingCurve", "bragg_angle_deg",
           "fwhm_of", "photons_per_uj"]

HC_KEV_ANGSTROM = 12.398419843320026
#: classical electron radius in Angstrom (CODATA 2018)
R0_ANGSTROM = 2.8179403262e-5
_J_PER_KEV = 1.602176634e-16
_FWHM_PER_SIGMA = 2.0 * math.sqrt(2.0 * math.log(2.0))


def photons_per_uj(energy_kev: float) -> float:
    """Photons in one microjoule at ``energy_kev``."""
    return 1e-6 / (energy_kev * _J_PER_KEV)


def bragg_angle_deg(energy_kev: float | np.ndarray, d_angstrom: float) -> float | np.ndarray:
    """First-order kinematic Bragg angle in degrees (``lambda = 2 d sin theta``)."""
    s = HC_KEV_ANGSTROM / (np.asarray(energy_kev, dtype=np.float64) * 2.0 * d_angstrom)
    if np.any(s >= 1.0):
        raise ValueError(f"no Bragg reflection with d = {d_angstrom} A at {energy_kev} keV")
    out = np.degrees(np.arcsin(s))
    return float(out) if out.ndim == 0 else out


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
class Reflection:
    """A Bragg reflection of a diamond-structure crystal (Si, Ge, C) for dynamical theory.

    Args:
        lattice_a_angstrom: cubic lattice constant.
        hkl: Miller indices (all odd, or all even summing to a multiple of 4).
        f0_q: atomic form factor at ``q = 1 / (2 d)`` (Waasmaier–Kirfel, xraydb ``f0``).
        f0_forward: form factor at ``q = 0`` (the number of electrons).
        f1, f2: anomalous corrections ``f'``, ``f''`` (Chantler) at the nominal energy;
            held constant over the energies used (they change by < 2 % from 8 to 12 keV).
        polarization: ``s`` (vertical scattering plane, horizontal polarization: XFELs).
    """

    lattice_a_angstrom: float = 5.4309
    hkl: tuple[int, int, int] = (1, 1, 1)
    f0_q: float = 10.537
    f0_forward: float = 14.0
    f1: float = 0.1906
    f2: float = 0.2147
    polarization: str = "s"

    @classmethod
    def from_options(cls, opts: Mapping[str, Any]) -> Reflection:
        o = dict(opts)
        if "hkl" in o:
            o["hkl"] = tuple(int(v) for v in o["hkl"])
        return cls(**{k: (v if k in ("hkl", "polarization") else float(v))
                      for k, v in o.items()})

    @property
    def d_spacing_angstrom(self) -> float:
        h, k, l_ = self.hkl
        return self.lattice_a_angstrom / math.sqrt(h * h + k * k + l_ * l_)

    def _structure(self) -> float:
        h, k, l_ = self.hkl
        if all(v % 2 for v in self.hkl):
            return 4.0 * math.sqrt(2.0)
        if (h + k + l_) % 4 == 0 and not any(v % 2 for v in self.hkl):
            return 8.0
        raise ValueError(f"reflection {self.hkl} is forbidden in the diamond structure")

    def g_factors(self, energy_kev: float) -> tuple[complex, complex]:
        """``(g, g0)`` of Als-Nielsen & McMorrow eq. 6.13 for this reflection."""
        a, d = self.lattice_a_angstrom, self.d_spacing_angstrom
        scale = 2.0 * d * d * R0_ANGSTROM / a ** 3
        eqr = self._structure()
        if self.polarization.startswith("p"):
            eqr *= abs(math.cos(2.0 * math.radians(self.bragg_deg(energy_kev))))
        g0 = 8.0 * scale * complex(self.f0_forward + self.f1, -self.f2)
        g = eqr * scale * complex(self.f0_q + self.f1, -self.f2)
        return g, g0

    def bragg_deg(self, energy_kev: float) -> float:
        return float(bragg_angle_deg(energy_kev, self.d_spacing_angstrom))

    def zeta_width(self, energy_kev: float) -> float:
        """Darwin width in ``ζ`` (``2|g|/π``): the range of total reflection without absorption."""
        g, _ = self.g_factors(energy_kev)
        return 2.0 * abs(g) / math.pi

    def zeta_offset(self, energy_kev: float) -> float:
        """Centre of the reflection in ``ζ`` (``Re g0 / π``): the refraction shift."""
        _, g0 = self.g_factors(energy_kev)
        return g0.real / math.pi

    def refraction_shift_urad(self, energy_kev: float) -> float:
        """How far the reflection peaks above the kinematic Bragg angle (urad)."""
        return 1e6 * math.tan(math.radians(self.bragg_deg(energy_kev))) * \
            self.zeta_offset(energy_kev)

    def reflectivity(self, zeta: np.ndarray, energy_kev: float) -> np.ndarray:
        """Intensity reflectivity ``|r|²`` of a thick perfect crystal at deviations ``zeta``."""
        g, g0 = self.g_factors(energy_kev)
        x = (math.pi * np.asarray(zeta, dtype=np.float64) - g0) / g
        root = np.sqrt(x * x - 1.0 + 0j)
        r = np.where(np.abs(x - root) <= 1.0, x - root, x + root)
        return np.abs(r) ** 2


@dataclass(frozen=True)
class RockingCurve:
    """Reflected fraction of the monochromatic beam versus the sample's angular deviation.

    Args:
        sample: the sample's reflection.
        mono: the monochromator's reflection (its passband is ``R^reflections``).
        mono_reflections: reflections in the monochromator (2 for a DCM, 0 = white beam).
        energy_kev: photon energy the tables are computed at (the nominal one); other
            energies scale the angle axis with ``tan θ``.
        mosaic_fwhm_urad: Gaussian mosaic spread of the sample (0 = perfect crystal).
    """

    sample: Reflection = field(default_factory=Reflection)
    mono: Reflection = field(default_factory=Reflection)
    mono_reflections: int = 2
    energy_kev: float = 10.0
    mosaic_fwhm_urad: float = 0.0
    _x: np.ndarray = field(init=False, repr=False, compare=False)
    _y: np.ndarray = field(init=False, repr=False, compare=False)
    _lists: tuple[list[float], list[float]] = field(init=False, repr=False, compare=False)
    _passband: float = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        e = self.energy_kev
        tan = math.tan(math.radians(self.sample.bragg_deg(e)))
        w = self.sample.zeta_width(e)
        step = w / 100.0
        mosaic_zeta = self.mosaic_fwhm_urad * 1e-6 / tan
        half = 20.0 * w + 6.0 * mosaic_zeta
        z = np.arange(-half, half + step / 2, step)
        rs = self.sample.reflectivity(z + self.sample.zeta_offset(e), e)
        rm = self.mono.reflectivity(z + self.mono.zeta_offset(e), e) ** self.mono_reflections \
            if self.mono_reflections else np.ones_like(z)
        # C(Δ) = Σ_ζ Rm(ζ) Rs(ζ - Δ) / Σ Rm: the sample curve rocked across the passband
        corr = np.correlate(rm, rs, mode="same") if self.mono_reflections else \
            np.full_like(z, rs.sum())
        y = corr / rm.sum() if self.mono_reflections else rs
        if mosaic_zeta > 0:
            sig = mosaic_zeta / _FWHM_PER_SIGMA
            kx = np.arange(-6 * sig, 6 * sig + step / 2, step)
            kern = np.exp(-0.5 * (kx / sig) ** 2)
            y = np.convolve(y, kern / kern.sum(), mode="same")
        x_urad = z * tan * 1e6  # angle axis at the nominal energy, 0 = reflection centre
        object.__setattr__(self, "_x", x_urad)
        object.__setattr__(self, "_y", y)
        object.__setattr__(self, "_lists", (x_urad.tolist(), y.tolist()))
        object.__setattr__(self, "_passband", float(rm.sum() * step))

    @classmethod
    def from_profile(cls, physics: Mapping[str, Any], energy_kev: float) -> RockingCurve:
        """From ``physics.sample`` and ``physics.monochromator`` (crystal parameters)."""
        sample = dict(physics.get("sample", {}))
        mono = dict(physics.get("monochromator", {}))
        s_ref = Reflection.from_options(sample.get("crystal", {}))
        m_ref = Reflection.from_options(mono.get("crystal", sample.get("crystal", {})))
        return cls(s_ref, m_ref, int(mono.get("reflections", 2)), energy_kev,
                   float(sample.get("mosaic_fwhm_urad", 0.0)))

    # -- properties ------------------------------------------------------------------------
    @property
    def passband_zeta(self) -> float:
        """``∫ Rm(ζ)^n dζ``: the monochromator's bandwidth times its peak transmission."""
        return self._passband

    @property
    def peak(self) -> float:
        """Peak reflected fraction of the monochromatic beam."""
        return float(self._y.max())

    @property
    def fwhm_urad(self) -> float:
        """FWHM of the rocking curve at the nominal energy (what a rocking scan measures)."""
        return fwhm_of(self._x, self._y)

    @property
    def peak_offset_urad(self) -> float:
        """Where the curve peaks relative to the sample reflection's centre (absorption makes
        the Darwin curve asymmetric, so it is not exactly zero)."""
        return float(self._x[int(np.argmax(self._y))])

    def tan_ratio(self, energy_kev: float) -> float:
        """``tan θ(E) / tan θ(E0)``: how the angle axis scales at another energy."""
        t = math.tan(math.radians(self.sample.bragg_deg(energy_kev)))
        return t / math.tan(math.radians(self.sample.bragg_deg(self.energy_kev)))

    # -- evaluation ------------------------------------------------------------------------
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

    def __call__(self, delta_urad: np.ndarray | float, broadening: float | np.ndarray = 1.0
                 ) -> np.ndarray | float:
        """Reflected fraction at ``delta_urad`` from the reflection's centre; ``broadening``
        widens the curve keeping its integrated reflectivity (a crystal whose mosaic grew).
        """
        if isinstance(delta_urad, float) and not isinstance(broadening, np.ndarray):
            if broadening == 1.0:
                return self._interp_one(delta_urad)
            return self._interp_one(delta_urad / broadening) / broadening
        if np.ndim(broadening) == 0 and broadening == 1.0:
            return np.interp(delta_urad, self._x, self._y, left=0.0, right=0.0)
        b = np.asarray(broadening, dtype=np.float64)
        d = np.asarray(delta_urad, dtype=np.float64) / b
        return np.interp(d, self._x, self._y, left=0.0, right=0.0) / b
