"""The pump-response model: what a pump pulse does to the Bragg intensity versus delay.

One model, shared by the simulator (which puts it into every pumped shot), the
synthetic test-data generators and the tests that compare a reduction with the
truth: it lives in the bottom layer (numpy only) so that ``sim`` and ``expctl``
can both import it.

Per shot, at *actual* delay ``t`` (nominal delay + that shot's timing error)
and pump pulse energy ``E`` on the sample::

    dI/I = A · f(E) · H(t - t0) · [(1 - r) · exp(-(t - t0) / tau) + r]
    f(E) = (1 - exp(-E / Es)) / (1 - exp(-Eref / Es))      (E / Eref when Es is infinite)

``A`` is the relative change just after time zero at the reference pump
energy ``Eref``; ``f`` saturates with fluence (excitation density) at ``Es``;
``r`` is the part that does not recover (heat, defects) — ``r = 0`` recovers
fully.  Optionally the lattice strains: the rocking curve shifts by
``shift_urad`` and broadens by ``1 + broadening`` times ``f(E)·(1 - exp(-(t - t0)
/ rise))`` (strain builds up at the speed of sound, so with a rise time).
Averaged over Gaussian timing jitter ``σ`` the step-exponential becomes an
exponentially modified Gaussian (:meth:`PumpResponse.expected_response`), the
model a reduction fits.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

__all__ = ["PumpResponse"]

_erfc = np.vectorize(math.erfc, otypes=[float])


def _phi(x: np.ndarray) -> np.ndarray:
    """Standard normal CDF."""
    return 0.5 * _erfc(-np.asarray(x, dtype=np.float64) / math.sqrt(2.0))


@dataclass(frozen=True, slots=True)
class PumpResponse:
    """Ground truth of the relative Bragg-intensity change (times in ps, energies in uJ).

    Args:
        amplitude: ``A``, relative change just after time zero at ``reference_uj``.
        t0_ps: time zero: where the response starts, in actual delay.
        tau_ps: recovery time constant.
        residual: fraction of ``A`` left after recovery (0 = full recovery).
        saturation_uj: pump energy ``Es`` at which the excitation saturates (inf = linear).
        reference_uj: pump energy at which ``amplitude`` is stated (None: per-shot pump
            energies are ignored, the amplitude is ``A`` for every shot).
        shift_urad: rocking-curve shift of the strained lattice at full strain.
        broadening: fractional rocking-curve broadening at full strain.
        rise_ps: rise time of the strain.
    """

    amplitude: float = -0.3
    t0_ps: float = 0.0
    tau_ps: float = 2.0
    residual: float = 0.0
    saturation_uj: float = math.inf
    reference_uj: float | None = None
    shift_urad: float = 0.0
    broadening: float = 0.0
    rise_ps: float = 1.0

    # -- fluence ------------------------------------------------------------------------
    def fluence_factor(self, pump_uj: np.ndarray | float | None) -> np.ndarray | float:
        """``f(E)``: the excitation relative to that at the reference pump energy."""
        ref = self.reference_uj
        if pump_uj is None or ref is None:
            return 1.0
        es = self.saturation_uj
        if math.isinf(es):
            return np.asarray(pump_uj) / ref if isinstance(pump_uj, np.ndarray) \
                else float(pump_uj) / ref
        norm = 1.0 - math.exp(-ref / es)
        if isinstance(pump_uj, np.ndarray):
            return -np.expm1(-pump_uj / es) / norm
        return float(-np.expm1(-float(pump_uj) / es)) / norm  # numpy's bits, as for arrays

    # -- per shot -----------------------------------------------------------------------
    def per_shot(self, delay_ps: np.ndarray | float, pump_uj: np.ndarray | float | None = None
                 ) -> np.ndarray | float:
        """Relative change of shots whose *actual* delay (timing error included) is given.

        One shot (a float) gets a float with the same arithmetic.
        """
        f = self.fluence_factor(pump_uj)
        r = self.residual
        if isinstance(delay_ps, float) and not isinstance(f, np.ndarray):
            dt1 = delay_ps - self.t0_ps
            if dt1 < 0:
                return 0.0
            decay = float(np.exp(-dt1 / self.tau_ps))
            return self.amplitude * f * ((1.0 - r) * decay + r)
        dt = np.asarray(delay_ps, dtype=np.float64) - self.t0_ps
        pos = dt >= 0
        out = np.where(pos, (1.0 - r) * np.exp(-np.where(pos, dt, 0.0) / self.tau_ps) + r, 0.0)
        return self.amplitude * f * out

    def strain(self, delay_ps: np.ndarray | float, pump_uj: np.ndarray | float | None = None
               ) -> np.ndarray | float:
        """Strain of the lattice (0..``f(E)``) at actual delay: ``f·H·(1 - exp(-dt/rise))``."""
        f = self.fluence_factor(pump_uj)
        if isinstance(delay_ps, float) and not isinstance(f, np.ndarray):
            dt1 = delay_ps - self.t0_ps
            return 0.0 if dt1 <= 0 else f * float(-np.expm1(-dt1 / self.rise_ps))
        dt = np.clip(np.asarray(delay_ps, dtype=np.float64) - self.t0_ps, 0.0, None)
        return f * -np.expm1(-dt / self.rise_ps)

    @property
    def strains_lattice(self) -> bool:
        """True when the model shifts or broadens the rocking curve."""
        return self.shift_urad != 0.0 or self.broadening != 0.0

    # -- shot average -------------------------------------------------------------------
    def expected_response(self, delay_ps: np.ndarray, jitter_rms_ps: float = 0.0
                          ) -> np.ndarray:
        """Shot-averaged change at nominal delays under Gaussian jitter (pump energy at the
        reference): an exponentially modified Gaussian plus the residual's error-function step.
        """
        t = np.asarray(delay_ps, dtype=np.float64) - self.t0_ps
        s, tau, r = float(jitter_rms_ps), self.tau_ps, self.residual
        if s <= 0:
            return np.asarray(self.per_shot(np.asarray(delay_ps, dtype=np.float64)))
        arg = (s / tau - t / s) / math.sqrt(2.0)
        expo = s * s / (2.0 * tau * tau) - t / tau
        # exp(expo) * erfc(arg) / 2; far before time zero both factors over/underflow
        # while the product is ~0, so those shots are set to zero explicitly.
        with np.errstate(over="ignore", invalid="ignore"):
            val = 0.5 * np.exp(expo) * _erfc(arg)
        emg = np.where(np.isfinite(val), val, 0.0)
        return self.amplitude * ((1.0 - r) * emg + r * _phi(t / s))
