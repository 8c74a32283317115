"""The I0 monitor: a thin Si photodiode in the beam, behind a gain-switched charge amplifier.

The diode absorbs ``1 - exp(-t / lambda_photo)`` of the photons passing it (20 um
of Si: ~14 % at 10 keV) and lets the rest through to the sample; each absorbed
photon gives ``E / 3.65 eV`` electrons, so the charge carries the photons'
Poisson noise.  The amplifier has one full scale per gain range and the
imperfections users calibrate away: each range has its own gain error and
offset (``q = g_r · q_in + o_r``), and the response compresses near full scale
(``q_in · (1 - β min(q_in / FS, 1)²)``, ``β`` the fractional loss at full scale).  Dark
noise of the diode and amplifier, ADC noise (a fraction of full scale),
16-bit quantisation and clipping follow.  Readings are in nominal pC (as if
``g = 1``, ``o = 0``); ``sequences/pd_calibration.yaml`` measures the ranges'
offsets and relative gains, and ``expctl reduce --i0-cal`` undoes them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from sim.physics.attenuation import Attenuation
from sim.physics.optics import photons_per_uj

__all__ = ["ELEMENTARY_PC", "Photodiode"]

#: elementary charge in pC
ELEMENTARY_PC = 1.602176634e-7
_LEVELS = 65535.0


def _lookup(table: np.ndarray, index: Any) -> Any:
    if not isinstance(index, np.ndarray):
        return float(table[int(index)])
    return table[np.asarray(index, dtype=np.int64)]


@dataclass(frozen=True)
class Photodiode:
    """A transmissive Si photodiode and its amplifier (profile ``pd_i0`` and ``pd_gain``).

    Args:
        thickness_um: Si thickness of the diode.
        full_scale_pc: ADC full scale of each gain range (index = the gain's choice index).
        gain_error: true gain of each range relative to nominal.
        offset_pc: offset of each range.
        nonlinearity: fractional compression at full scale.
        dark_pc: rms dark noise of diode and amplifier.
        adc_noise: rms ADC noise as a fraction of full scale.
        pair_energy_ev: electron–hole pair energy in Si.
        photo, total: Si photoabsorption and total attenuation.
    """

    thickness_um: float
    full_scale_pc: np.ndarray
    gain_error: np.ndarray
    offset_pc: np.ndarray
    nonlinearity: float = 0.0
    dark_pc: float = 0.0
    adc_noise: float = 0.0
    pair_energy_ev: float = 3.65
    photo: Attenuation = field(default_factory=lambda: Attenuation(130.3, 2.94))
    total: Attenuation = field(default_factory=Attenuation)
    _cache: dict[float, tuple[float, float, float]] = field(default_factory=dict, repr=False,
                                                            compare=False)
    #: (full scale, gain, offset) of each range as plain numbers, for one shot
    _ranges: list[tuple[float, float, float]] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_ranges", [(float(f), float(g), float(o)) for f, g, o in zip(
            self.full_scale_pc, self.gain_error, self.offset_pc, strict=True)])

    @classmethod
    def from_specs(cls, diode: Mapping[str, Any], gain: Mapping[str, Any],
                   choices: tuple[str, ...], pair_energy_ev: float, photo: Attenuation,
                   total: Attenuation) -> Photodiode:
        """From the ``pd_i0`` and ``pd_gain`` device options (ranges in ``choices`` order)."""
        fs = dict(gain["full_scale_pc"])
        ge = dict(gain.get("gain_error", {}) or {})
        off = dict(gain.get("offset_pc", {}) or {})
        return cls(
            thickness_um=float(diode.get("thickness_um", 20.0)),
            full_scale_pc=np.array([float(fs[c]) for c in choices]),
            gain_error=np.array([float(ge.get(c, 1.0)) for c in choices]),
            offset_pc=np.array([float(off.get(c, 0.0)) for c in choices]),
            nonlinearity=float(gain.get("nonlinearity", 0.0)),
            dark_pc=float(diode.get("dark_pc", 0.0)),
            adc_noise=float(gain.get("adc_noise", 0.0)),
            pair_energy_ev=pair_energy_ev, photo=photo, total=total)

    def constants(self, energy_kev: float) -> tuple[float, float, float]:
        """(absorbed photons per uJ passing the diode, pC per photon, transmission)."""
        got = self._cache.get(energy_kev)
        if got is None:
            got = self._cache[energy_kev] = (
                photons_per_uj(energy_kev) * self.photo.absorbed(self.thickness_um, energy_kev),
                energy_kev * 1e3 / self.pair_energy_ev * ELEMENTARY_PC,
                float(self.total.transmission(self.thickness_um, energy_kev)))
        return got

    def pc_per_uj(self, energy_kev: float) -> float:
        """Mean charge per uJ of probe passing the diode."""
        n, q, _ = self.constants(energy_kev)
        return n * q

    def transmission(self, energy_kev: float) -> float:
        """Fraction of the probe the diode passes on to the sample."""
        return self.constants(energy_kev)[2]

    def charge(self, uj: Any, energy_kev: float, gain: Any, z_shot: Any, z_dark: Any,
               z_adc: Any) -> tuple[Any, Any]:
        """Readings (nominal pC) and full-scale flags of shots with ``uj`` on the diode.

        Floats for one shot (plain arithmetic), arrays otherwise.
        """
        per_uj, per_photon, _ = self.constants(energy_kev)
        beta = self.nonlinearity
        if not isinstance(uj, np.ndarray) and not isinstance(z_shot, np.ndarray) \
                and not isinstance(gain, np.ndarray):
            fs, g, off = self._ranges[int(gain)]
            n = uj * per_uj
            q = (n + math.sqrt(n) * z_shot) * per_photon if n > 0.0 else 0.0
            q *= 1.0 - beta * min(q / fs, 1.0) ** 2
            q = g * q + off + self.dark_pc * z_dark + (self.adc_noise * fs) * z_adc
            lsb = fs / _LEVELS
            q = min(max(math.floor(q / lsb + 0.5) * lsb, 0.0), fs)
            return q, float(q >= fs)
        fs = _lookup(self.full_scale_pc, gain)
        g = _lookup(self.gain_error, gain)
        off = _lookup(self.offset_pc, gain)
        n = np.asarray(uj, dtype=np.float64) * per_uj
        q = (n + np.sqrt(n) * z_shot) * per_photon
        q = q * (1.0 - beta * np.minimum(q / fs, 1.0) ** 2)
        q = g * q + off + self.dark_pc * z_dark + (self.adc_noise * fs) * z_adc
        lsb = fs / _LEVELS
        q = np.minimum(np.maximum(np.floor(q / lsb + 0.5) * lsb, 0.0), fs)
        return q, (q >= fs).astype(np.float64)
