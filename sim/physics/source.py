"""The X-ray source: SASE pulse energies, the monochromatic probe, the pump, pointing, beam loss.

SASE pulse energies follow a gamma distribution whose shape is the number of
independent longitudinal modes, ``M = 1 / rms**2``.  Each pulse is the product
of an electron-beam factor (charge and energy jitter of the bunch, common to
everything the bunch emits) and its own SASE factor.  A Si(111)
monochromator passes only a few modes, so the probe behind it fluctuates by
~60 % more (factor ``S ~ Gamma(M_mono)/M_mono``).  The probe's mean pulse
energy is the SASE pulse energy times the fraction of its spectrum (Gaussian,
relative FWHM ``sase_bandwidth_fwhm``) inside the monochromator's passband
(``∫ R(ζ)² dζ`` from dynamical theory, see :mod:`sim.physics.optics`) times the
transport efficiency of mirrors and windows.  The pump is either the second
colour of the same bunch (it shares the electron-beam factor, so pump and probe
intensities correlate) or an optical laser (independent, a few % rms).
Beam-loss episodes are a Poisson process in facility time (rate per hour, mean
duration, exponential durations) drawn from the seed, plus injected episodes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from sim.physics.rand import gammas, normals

__all__ = ["BeamLoss", "Source", "SourceShots"]

# stream numbers of the per-shot random quantities (see sim.physics.rand)
STREAM_SASE = 100
STREAM_MONO = 200
STREAM_PUMP = 300
STREAM_POINTING = 400
STREAM_EBEAM = 450
_GAUSS_AREA_PER_FWHM = math.sqrt(math.pi / (4.0 * math.log(2.0)))  # 1.0645


@dataclass(frozen=True, slots=True)
class SourceShots:
    """Per-shot source quantities (arrays of the shots' length)."""

    sase_uj: np.ndarray
    probe_uj: np.ndarray
    pump_uj: np.ndarray
    pointing_urad: np.ndarray


@dataclass(frozen=True, slots=True)
class Source:
    """Source parameters (profile ``physics.source``).

    Args:
        photon_energy_kev: nominal photon energy of the probe.
        sase_pulse_energy_uj: mean FEL pulse energy of the probe colour (beam monitor).
        sase_relative_rms: SASE (mode) fluctuation of one colour.
        electron_beam_relative_rms: bunch-to-bunch jitter common to everything it emits.
        sase_bandwidth_fwhm: relative FWHM of the SASE spectrum.
        transport: transmission of mirrors, windows and slits to the sample.
        mono_relative_rms: extra fluctuation of the few modes the monochromator passes.
        pump_pulse_energy_uj, pump_relative_rms: the pump pulse and its own fluctuation.
        pump_from_bunch: the pump is a second FEL colour of the same bunch (shares the
            electron-beam factor) rather than an independent laser.
        pointing_jitter_urad: rms angular pointing jitter of the probe.
        mono_passband_zeta: ``∫ R(ζ)^n dζ`` of the monochromator (set from the optics).
    """

    photon_energy_kev: float = 10.0
    sase_pulse_energy_uj: float = 500.0
    sase_relative_rms: float = 0.08
    electron_beam_relative_rms: float = 0.06
    sase_bandwidth_fwhm: float = 4.0e-3
    transport: float = 0.8
    mono_relative_rms: float = 0.60
    pump_pulse_energy_uj: float = 300.0
    pump_relative_rms: float = 0.08
    pump_from_bunch: bool = True
    pointing_jitter_urad: float = 1.0
    mono_passband_zeta: float = 1.227e-4

    @property
    def mono_throughput(self) -> float:
        """Fraction of the SASE pulse energy the monochromator passes (mean)."""
        return self.mono_passband_zeta / (_GAUSS_AREA_PER_FWHM * self.sase_bandwidth_fwhm)

    @property
    def probe_pulse_energy_uj(self) -> float:
        """Mean probe pulse energy reaching the attenuator (after mono and transport)."""
        return self.sase_pulse_energy_uj * self.mono_throughput * self.transport

    def gamma_columns(self) -> tuple[tuple[int, ...], tuple[float, ...]]:
        """Streams and gamma shapes of the (SASE, mono, pump, electron-beam) variates."""
        shapes = tuple(1.0 / rms ** 2 if rms > 0 else math.inf for rms in (
            self.sase_relative_rms, self.mono_relative_rms, self.pump_relative_rms,
            self.electron_beam_relative_rms))
        return (STREAM_SASE, STREAM_MONO, STREAM_PUMP, STREAM_EBEAM), shapes

    def draw(self, seed: int, tags: np.ndarray) -> np.ndarray:
        """(n, 4) unit-mean SASE, mono, pump and electron-beam factors of ``tags``."""
        streams, shapes = self.gamma_columns()
        shape = np.asarray(shapes)
        finite = np.isfinite(shape)
        if finite.all():
            return gammas(seed, np.asarray(tags)[:, None], np.asarray(streams), shape) / shape
        out = np.ones((len(tags), len(shapes)))
        if finite.any():
            s = shape[finite]
            out[:, finite] = gammas(seed, np.asarray(tags)[:, None],
                                    np.asarray(streams)[finite], s) / s
        return out

    def factors(self, f: np.ndarray | list[float]) -> tuple[Any, Any, Any]:
        """(probe-colour SASE, probe, pump) unit-mean factors from the variate columns
        ``f[0..3]`` of :meth:`draw` (the columns as rows, or one shot's numbers)."""
        sase = f[0] * f[3]
        pump = f[2] * f[3] if self.pump_from_bunch else f[2]
        return sase, sase * f[1], pump

    def combine(self, raw: np.ndarray, pointing_z: np.ndarray) -> SourceShots:
        """Pulse energies from :meth:`draw`'s factors and the pointing normals."""
        sase, probe, pump = self.factors(np.asarray(raw).T)
        return SourceShots(
            sase_uj=self.sase_pulse_energy_uj * np.asarray(sase),
            probe_uj=self.probe_pulse_energy_uj * np.asarray(probe),
            pump_uj=self.pump_pulse_energy_uj * np.asarray(pump),
            pointing_urad=self.pointing_jitter_urad * pointing_z,
        )

    def shots(self, seed: int, tags: np.ndarray) -> SourceShots:
        """Pulse energies and pointing of the shots with ``tags`` (beam assumed on)."""
        return self.combine(self.draw(seed, tags), normals(seed, tags, STREAM_POINTING))


@dataclass
class BeamLoss:
    """Intervals of facility time without beam: random episodes plus injected ones.

    Args:
        seed: profile seed (random episodes are a pure function of it).
        rate_per_hour: mean number of random episodes per hour (0 = none).
        mean_duration_s: mean episode duration.
    """

    seed: int
    rate_per_hour: float = 0.0
    mean_duration_s: float = 60.0
    injected: list[tuple[float, float]] | None = None

    def _random_until(self, t_end: float) -> list[tuple[float, float]]:
        if self.rate_per_hour <= 0 or t_end <= 0:
            return []
        # separate generators so the k-th episode never depends on t_end
        n = int(self.rate_per_hour * t_end / 3600.0 * 2 + 20)
        gaps = np.random.default_rng([self.seed, 0xBEA1]).exponential(
            3600.0 / self.rate_per_hour, n)
        starts = np.cumsum(gaps)
        durs = np.random.default_rng([self.seed, 0xBEA2]).exponential(self.mean_duration_s, n)
        keep = starts < t_end
        return list(zip(starts[keep].tolist(), (starts + durs)[keep].tolist(), strict=True))

    def episodes(self, t_end: float) -> list[tuple[float, float]]:
        """All (start, end) episodes beginning before facility time ``t_end``."""
        return sorted(self._random_until(t_end) + list(self.injected or []))

    def inject(self, start: float, duration: float) -> None:
        """Add an episode (facility time)."""
        self.injected = [*(self.injected or []), (start, start + duration)]

    def end_injected(self, t: float) -> None:
        """End injected episodes at facility time ``t`` (those not begun yet are dropped)."""
        self.injected = [(s, min(e, t)) for s, e in self.injected or [] if s < t]

    def beam_on(self, times: np.ndarray) -> np.ndarray:
        """True for facility times outside every episode."""
        times = np.asarray(times, dtype=np.float64)
        on = np.ones(times.shape, dtype=bool)
        if times.size == 0:
            return on
        for start, end in self.episodes(float(times.max()) + 1.0):
            on &= ~((times >= start) & (times < end))
        return on

    def first_loss(self, t_from: float, t_to: float) -> float | None:
        """Start of the first beam-off moment in [t_from, t_to], if any."""
        if self.rate_per_hour <= 0 and not self.injected:
            return None
        for start, end in self.episodes(t_to + 1.0):
            if start <= t_to and end > t_from:
                return max(start, t_from)
        return None
