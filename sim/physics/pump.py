"""Pump response of the Bragg intensity versus pump–probe delay.

Per shot ``dI/I(t) = A * H(t - t0) * exp(-(t - t0) / tau)`` where ``t`` is the
nominal delay plus that shot's timing jitter (Gaussian, rms ``sigma``).  The
shot average is the step-exponential convolved with the jitter Gaussian, an
exponentially modified Gaussian (:func:`expected_response`): the model
reduction fits to recover ``A``, ``t0`` and ``tau``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

__all__ = ["PumpResponse"]

_erfc = np.vectorize(math.erfc, otypes=[float])


@dataclass(frozen=True, slots=True)
class PumpResponse:
    """Ground-truth pump response (profile ``physics.pump_response``).

    Args:
        amplitude: ``A``, relative intensity change just after time zero.
        t0_ps: time zero in ps of nominal delay.
        tau_ps: recovery time constant in ps.
        jitter_rms_ps: rms pump–probe timing jitter in ps.
    """

    amplitude: float = -0.3
    t0_ps: float = 0.35
    tau_ps: float = 2.0
    jitter_rms_ps: float = 0.1

    def per_shot(self, delay_ps: np.ndarray | float) -> np.ndarray | float:
        """Relative change for shots whose *actual* delay (jitter included) is given
        (one shot: a float, with the same arithmetic)."""
        if isinstance(delay_ps, float):
            dt1 = delay_ps - self.t0_ps
            return self.amplitude * float(np.exp(-dt1 / self.tau_ps)) if dt1 >= 0 else 0.0
        dt = np.asarray(delay_ps, dtype=np.float64) - self.t0_ps
        out = np.zeros(dt.shape)
        pos = dt >= 0
        out[pos] = self.amplitude * np.exp(-dt[pos] / self.tau_ps)
        return out

    def expected_response(self, delay_ps: np.ndarray) -> np.ndarray:
        """Shot-averaged response at nominal delays: the exponentially modified Gaussian."""
        t = np.asarray(delay_ps, dtype=np.float64) - self.t0_ps
        s, tau = self.jitter_rms_ps, self.tau_ps
        if s <= 0:
            return self.per_shot(np.asarray(delay_ps, dtype=np.float64))
        arg = (s / tau - t / s) / math.sqrt(2.0)
        expo = s * s / (2.0 * tau * tau) - t / tau
        # exp(expo) * erfc(arg) / 2; far before time zero both factors over/underflow
        # while the product is ~0, so those shots are set to zero explicitly.
        with np.errstate(over="ignore", invalid="ignore"):
            val = 0.5 * np.exp(expo) * _erfc(arg)
        return self.amplitude * np.where(np.isfinite(val), val, 0.0)
