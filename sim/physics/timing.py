"""Pump–probe timing: how the delay is made, how it jitters and drifts, and the timing tool.

Profiles declare their mechanism (``physics.timing``):

* ``two_colour`` — pump and probe are two colours of one electron bunch, the
  delay set by a magnetic chicane between the undulator sections (SACLA, Hara
  et al. 2013; LCLS, Lutman et al. 2013): the range is below a picosecond and
  the relative jitter is femtoseconds, since both pulses ride the same bunch.
  Longer delays come from split-and-delay optics (SACLA BL3's SDO: Si(220)
  crystals, 0–100 ps), a pseudo-axis over stages whose delay per mm carries a
  scale error each, and whose zero (equal paths) is off by a calibration offset.
* ``optical_laser`` — an optical laser pumps, the XFEL probes: the arrival time
  jitters by 100–300 fs rms and drifts slowly (the synchronisation of two
  independent sources), and a spectrally encoded timing tool measures each shot.

The *actual* delay of a shot is the nominal delay of the delay devices, minus
their zero offsets, scaled by their stage errors, plus ``jitter · z(seed, tag)``
and the slow drift (a sinusoid of the facility clock with a seeded phase).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["MECHANISMS", "Timing", "TimingTool"]

MECHANISMS = ("two_colour", "optical_laser")


@dataclass(frozen=True)
class Timing:
    """Timing of one profile (``physics.timing``).

    Args:
        mechanism: ``two_colour`` or ``optical_laser``.
        jitter_rms_ps: rms of the shot-to-shot pump–probe arrival jitter.
        drift_ps: amplitude of the slow drift of the arrival time.
        drift_period_s: its period.
        zero_offsets_ps: per delay device, where its true zero lies on its nominal axis
            (the delay it must be set to for pump and probe to coincide).
        stage_errors: per split-delay stage, the relative error of its delay per mm.
        seed: profile seed (the drift's phase).
    """

    mechanism: str = "two_colour"
    jitter_rms_ps: float = 0.002
    drift_ps: float = 0.0
    drift_period_s: float = 3600.0
    zero_offsets_ps: Mapping[str, float] = field(default_factory=dict)
    stage_errors: Mapping[str, float] = field(default_factory=dict)
    seed: int = 0

    @classmethod
    def from_options(cls, opts: Mapping[str, Any], seed: int) -> Timing:
        o = dict(opts)
        mech = str(o.get("mechanism", "two_colour"))
        if mech not in MECHANISMS:
            raise ValueError(f"timing mechanism {mech!r} is not one of {', '.join(MECHANISMS)}")
        return cls(mech, float(o.get("jitter_rms_ps", 0.0)), float(o.get("drift_ps", 0.0)),
                   float(o.get("drift_period_s", 3600.0)),
                   {str(k): float(v) for k, v in dict(o.get("zero_offsets_ps", {})).items()},
                   {str(k): float(v) for k, v in dict(o.get("stage_errors", {})).items()},
                   seed)

    phase: float = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "phase", float(np.random.default_rng(
            [self.seed, 0x71D7]).uniform(0.0, 2.0 * math.pi)))

    def drift(self, unix_times: np.ndarray | float) -> np.ndarray | float:
        """Slow drift of the arrival time (ps) at Unix times (0 when off)."""
        if self.drift_ps == 0.0:
            return 0.0
        w = 2.0 * math.pi / self.drift_period_s
        if isinstance(unix_times, float):
            return self.drift_ps * float(np.sin(w * unix_times + self.phase))
        return self.drift_ps * np.sin(w * np.asarray(unix_times) + self.phase)

    def zero_offset(self, device: str) -> float:
        return self.zero_offsets_ps.get(device, 0.0)

    def apparent_t0(self, devices: tuple[str, ...], t0_ps: float, at: str | None = None
                    ) -> float:
        """Where a response starting at actual delay ``t0_ps`` appears on the nominal axis of
        delay device ``at`` (the others held at their zero): what a t0 scan finds."""
        rest = sum(self.zero_offset(d) for d in devices if d != at)
        return t0_ps + self.zero_offset(at) if at is not None else t0_ps + rest


@dataclass(frozen=True)
class TimingTool:
    """A spectrally encoded timing tool (LCLS-style ``tt/`` small data).

    The X-ray pulse changes a target's optical transmission; a chirped probe of
    the *pump laser* records where in its spectrum the edge lies.  The edge
    position (pixels) maps to the arrival offset by a calibrated polynomial; the
    shot's correction ``tt/ttCorr`` (ps) is what users add to the nominal delay:
    ``delay = scan/delay + tt/ttCorr``.  No edge (no X-rays or no laser, or an
    offset outside the window) gives ``AMPL`` 0 and NaN positions.

    Args:
        name: device name.
        pixels: spectrometer pixels.
        center_px: edge position at zero offset.
        ps_per_px: linear calibration.
        quadratic_ps_per_px2: quadratic term of the calibration (chirp curvature).
        position_noise_px: rms error of the fitted edge position.
        fwhm_px, fwhm_rms_px: width of the edge and its shot-to-shot spread.
        amplitude, amplitude_rms: edge amplitude (relative transmission change) at the mean
            X-ray pulse energy, and its relative spread.
    """

    name: str = "timing_tool"
    pixels: int = 2048
    center_px: float = 1024.0
    ps_per_px: float = 0.0025
    quadratic_ps_per_px2: float = -2.0e-7
    position_noise_px: float = 3.0
    fwhm_px: float = 105.0
    fwhm_rms_px: float = 8.0
    amplitude: float = 0.08
    amplitude_rms: float = 0.15

    @classmethod
    def from_options(cls, name: str, opts: Mapping[str, Any]) -> TimingTool:
        known = {k: v for k, v in dict(opts).items() if k in cls.__dataclass_fields__}
        return cls(name=name, **{k: (int(v) if k == "pixels" else float(v))
                                 for k, v in known.items()})

    def ps_of(self, px: np.ndarray) -> np.ndarray:
        """Calibration: edge position (pixels) -> arrival offset (ps)."""
        u = np.asarray(px, dtype=np.float64) - self.center_px
        return self.ps_per_px * u + self.quadratic_ps_per_px2 * u * u

    def px_of(self, offset_ps: np.ndarray) -> np.ndarray:
        """Inverse of :meth:`ps_of` (the root nearest the centre)."""
        t = np.asarray(offset_ps, dtype=np.float64)
        a, b = self.quadratic_ps_per_px2, self.ps_per_px
        if a == 0.0:
            return self.center_px + t / b
        disc = np.maximum(b * b + 4.0 * a * t, 0.0)
        return self.center_px + 2.0 * t / (b + np.sqrt(disc))

    @property
    def window_ps(self) -> tuple[float, float]:
        """Arrival offsets whose edge falls on the spectrometer."""
        lo, hi = self.ps_of(np.array([0.0, self.pixels - 1.0]))
        return float(min(lo, hi)), float(max(lo, hi))

    def shots(self, offset_ps: np.ndarray, seen: np.ndarray, xray_rel: np.ndarray,
              z_pos: np.ndarray, z_fwhm: np.ndarray, z_amp: np.ndarray
              ) -> dict[str, np.ndarray]:
        """Per-shot ``tt/`` columns.

        Args:
            offset_ps: true arrival offset of each shot (jitter + drift).
            seen: shots with both X-rays on the target and the laser on.
            xray_rel: X-ray pulse energy relative to its mean (scales the edge amplitude).
            z_pos, z_fwhm, z_amp: standard normals of the shots.
        """
        px_true = self.px_of(offset_ps)
        ok = seen & (px_true >= 0.0) & (px_true <= self.pixels - 1.0)
        px = px_true + self.position_noise_px * z_pos
        ampl = self.amplitude * xray_rel * np.maximum(1.0 + self.amplitude_rms * z_amp, 0.0)
        fwhm = self.fwhm_px + self.fwhm_rms_px * z_fwhm
        pos_ps = self.ps_of(px)
        nan = np.nan
        return {
            f"tt/{k}": v for k, v in (
                ("FLTPOS", np.where(ok, px, nan)),
                ("FLTPOS_PS", np.where(ok, pos_ps, nan)),
                ("AMPL", np.where(ok, ampl, 0.0)),
                ("FLTPOSFWHM", np.where(ok, fwhm, nan)),
                ("ttCorr", np.where(ok, pos_ps, nan)),
            )}
