"""The X-ray source: SASE pulse energies, the monochromatic probe, pointing, beam loss.

SASE pulse energies follow a gamma distribution whose shape is the number of
independent longitudinal modes, ``M = 1 / rms**2``.  The full SASE spectrum has
hundreds of modes, so the beam-monitor energy jitters by ~10 % (dominated in
practice by electron-beam jitter, folded into the same rms).  A Si(111)
monochromator passes only a few modes, so the probe behind it fluctuates by
~60 %: ``probe = mean_probe * (E_sase / mean_sase) * S`` with ``S ~ Gamma(M_mono)/M_mono``.
Beam-loss episodes are a Poisson process in facility time (rate per hour, mean
duration, exponential durations) drawn from the seed, plus injected episodes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sim.physics.rand import gammas, normals

__all__ = ["BeamLoss", "Source", "SourceShots"]

# stream numbers of the per-shot random quantities (see sim.physics.rand)
STREAM_SASE = 100
STREAM_MONO = 200
STREAM_PUMP = 300
STREAM_POINTING = 400


@dataclass(frozen=True, slots=True)
class SourceShots:
    """Per-shot source quantities (arrays of the shots' length)."""

    sase_uj: np.ndarray
    probe_uj: np.ndarray
    pump_uj: np.ndarray
    pointing_urad: np.ndarray


@dataclass(frozen=True, slots=True)
class Source:
    """Source parameters (profile ``physics.source``)."""

    photon_energy_kev: float = 10.0
    sase_pulse_energy_uj: float = 500.0
    sase_relative_rms: float = 0.10
    probe_pulse_energy_uj: float = 4.0
    mono_relative_rms: float = 0.60
    pump_pulse_energy_uj: float = 300.0
    pointing_jitter_urad: float = 1.0

    def gamma_columns(self) -> tuple[tuple[int, int, int], tuple[float, float, float]]:
        """Streams and gamma shapes of the (SASE, mono, pump) variates, drawn as one block."""
        m_sase = 1.0 / self.sase_relative_rms ** 2
        m_mono = 1.0 / self.mono_relative_rms ** 2
        return (STREAM_SASE, STREAM_MONO, STREAM_PUMP), (m_sase, m_mono, m_sase)

    def draw(self, seed: int, tags: np.ndarray) -> np.ndarray:
        """(n, 3) unit-mean SASE, mono and pump factors of the shots with ``tags``."""
        streams, shapes = self.gamma_columns()
        shape = np.asarray(shapes)
        return gammas(seed, np.asarray(tags)[:, None], np.asarray(streams), shape) / shape

    def combine(self, factors: np.ndarray, pointing_z: np.ndarray) -> SourceShots:
        """Pulse energies from :meth:`draw`'s factors and the pointing normals."""
        sase = factors[:, 0]
        return SourceShots(
            sase_uj=self.sase_pulse_energy_uj * sase,
            probe_uj=self.probe_pulse_energy_uj * sase * factors[:, 1],
            pump_uj=self.pump_pulse_energy_uj * factors[:, 2],
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
