"""Likelihood of single pumped shots under the pump-response model.

Each pumped shot ``i`` (nominal delay ``d_i``, I0 weight ``w_i`` = I0 / mean I0)
gives ``x_i = (s_i/I0_i) / R_off − 1`` against the reference level ``R_off`` of
its bin.  Its actual delay is ``d_i + j`` with Gaussian timing error ``j`` of
rms σ, so it saw ``e = A·exp(−u/τ)`` (``u = d_i + j − t0 ≥ 0``) or nothing;
about ``f = e + β`` it scatters with variance

    s_i² = (κ²/w_i + c_b)·(1 + f)² + η²·e²

— photon and normalisation noise of relative size κ at mean I0, the relative
error ``c_b`` of its bin's reference level, and the shot-to-shot spread η of
the pump's effect itself: a pulse-energy (fluence) jitter of the pump, its
overlap with the probe, or the sample's sensitivity from spot to spot make each
shot's change ``e·(1 ± η)``, a noise that grows with the response and does not
average down with I0.  Without η a strong shot just after time zero counts as
precise as its photons say, and A's and τ's errors come out too small (on the
simulated bl3, whose SASE pump jitters by 10 %, by 1.5–2×).  The likelihood of
the shot is the exact mixture over the jitter: the probability
``Φ((t0 − d_i)/σ)`` of arriving before time zero times a normal density at β,
plus the integral over ``u ≥ 0`` (Gauss–Legendre, 16 nodes over ±6σ).  A shot
near time zero is bimodal — it saw the step or not — which a Gaussian with the
jitter's variance misjudges (its t0 errors come out too small).  κ and η are
parameters: nothing about the noise level is assumed (η enters as a signed
number, its variance η², so that "no response noise" is an ordinary point of
the fit and not the edge of its range).  The shared reference error of a bin
is counted per shot, not as a correlation — exact for one pumped shot per bin
and a few per cent on the error otherwise (reference levels average hundreds
of shots).

:meth:`PumpLikelihood.bin_errors` and :meth:`~PumpLikelihood.binned_chi2`, for
display and goodness of fit, use the Gaussian moments of the same model.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from expctl.analysis.lsq import erfcx

__all__ = ["PumpLikelihood", "PumpParams", "PumpedShots", "emg_response", "jitter_variance"]

_SQRT2 = math.sqrt(2.0)
_LOG_LIMIT = 30.0  # logs of τ, σ, κ are clamped so a wild trial step cannot overflow
_NODES, _WEIGHTS = np.polynomial.legendre.leggauss(16)
_REACH = 6.0  # the jitter integral covers ±6σ
_LOG_SQRT_2PI = 0.5 * math.log(2.0 * math.pi)


def _log_phi_cdf(z: np.ndarray) -> np.ndarray:
    """log Φ(z), accurate far into the lower tail."""
    z = np.asarray(z, dtype=np.float64)
    lower = np.log(0.5 * erfcx(-np.minimum(z, 0.0) / _SQRT2)) - 0.5 * np.minimum(z, 0.0) ** 2
    upper = np.log1p(-0.5 * erfcx(np.maximum(z, 0.0) / _SQRT2)
                     * np.exp(-0.5 * np.maximum(z, 0.0) ** 2))
    return np.where(z < 0.0, lower, upper)


def _log_normal(x: np.ndarray, mean: np.ndarray | float, var: np.ndarray) -> np.ndarray:
    return -0.5 * (x - mean) ** 2 / var - 0.5 * np.log(var) - _LOG_SQRT_2PI


def emg_response(t: np.ndarray, t0: float, amplitude: float, tau: float,
                 sigma: float) -> np.ndarray:
    """Jitter-averaged relative change at nominal delays ``t`` (all times in one unit).

    ``A/2 · exp(σ²/2τ² − u/τ) · erfc((σ/τ − u/σ)/√2)`` with ``u = t − t0``, in
    whichever of two algebraically equal forms cannot overflow.
    """
    u = np.asarray(t, dtype=np.float64) - t0
    if sigma <= 0.0:
        return np.where(u >= 0.0, amplitude * np.exp(-np.clip(u, 0.0, None) / tau), 0.0)
    x = (sigma / tau - u / sigma) / _SQRT2
    gauss = np.exp(-0.5 * (u / sigma) ** 2)
    ex = erfcx(np.abs(x))
    # x ≥ 0 (before / around t0): Gaussian × erfcx.  x < 0 (after t0): erfc(x) = 2 − erfc(−x),
    # the bounded exponential minus a vanishing Gaussian term.
    expo = np.exp(np.minimum(0.5 * (sigma / tau) ** 2 - u / tau, 700.0))
    return amplitude * np.where(x >= 0.0, 0.5 * gauss * ex, expo - 0.5 * gauss * ex)


def jitter_variance(t: np.ndarray, t0: float, amplitude: float, tau: float,
                    sigma: float) -> np.ndarray:
    """Shot-to-shot variance of ΔI/I that timing jitter alone causes at nominal delay ``t``.

    Near time zero a single shot either sees the step or not, so it scatters
    far more than photon noise says.  With ``f = A·H(u)·exp(−u/τ)``, ``E[f²]``
    is the same EMG with ``A²`` and ``τ/2``.
    """
    mean = emg_response(t, t0, amplitude, tau, sigma)
    return np.clip(emg_response(t, t0, amplitude * amplitude, 0.5 * tau, sigma) - mean * mean,
                   0.0, None)


@dataclass(frozen=True)
class PumpedShots:
    """The pumped shots a fit sees (see the module docstring).

    Args:
        delay: nominal delay of each shot.
        relative: ``x_i``, its ΔI/I against its bin's reference level.
        weight: its I0 over the mean I0 of the pumped shots.
        bin: index of its bin (into ``reference_var``).
        reference_var: per bin, the relative variance of the reference level.
    """

    delay: np.ndarray
    relative: np.ndarray
    weight: np.ndarray
    bin: np.ndarray
    reference_var: np.ndarray

    def __post_init__(self) -> None:
        n = len(self.delay)
        if not (len(self.relative) == len(self.weight) == len(self.bin) == n):
            raise ValueError("PumpedShots: delay, relative, weight and bin differ in length")

    def distinct_delays(self) -> np.ndarray:
        """The delays measured, sorted (to 1e-9)."""
        return np.unique(np.round(np.asarray(self.delay, dtype=np.float64), 9))

    @property
    def n_delays(self) -> int:
        return len(self.distinct_delays())

    def binned(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per distinct delay: the delay, the I0-weighted mean ΔI/I and the sum of weights."""
        t, inv = np.unique(np.round(np.asarray(self.delay, dtype=np.float64), 9),
                           return_inverse=True)
        wsum = np.bincount(inv, weights=self.weight, minlength=len(t))
        mean = np.bincount(inv, weights=self.weight * self.relative, minlength=len(t)) / wsum
        return t, mean, wsum


class PumpParams(NamedTuple):
    """The model's parameters in natural units (times in the delays' unit)."""

    t0: float
    amplitude: float
    tau: float
    sigma: float
    baseline: float
    noise: float
    response_noise: float


class PumpLikelihood:
    """``−2·log(likelihood × prior)`` of :class:`PumpedShots` for packed parameters.

    Packed vector ``q``: ``t0, A, log τ`` then ``log σ`` when σ is fitted, ``β``
    with a baseline, ``log κ`` and ``η`` last (:attr:`index` maps names to places).

    Args:
        shots: the data.
        sigma: a known jitter σ, or None to fit it under ``prior``.
        prior: (median, one-sigma factor) of the log-normal prior of a fitted σ.
        baseline: fit a constant offset β.
    """

    def __init__(self, shots: PumpedShots, *, sigma: float | None,
                 prior: tuple[float, float], baseline: bool) -> None:
        self.shots = shots
        self.sigma = sigma
        self.prior = prior
        self.baseline = baseline
        self.names = ["t0", "amplitude", "tau"] + (["sigma"] if sigma is None else []) + (
            ["baseline"] if baseline else [])
        #: where each parameter sits in the packed vector (the noise terms after ``names``)
        self.index = {name: k for k, name in enumerate(
            [*self.names, "noise", "response_noise"])}
        delay = np.round(np.asarray(shots.delay, dtype=np.float64), 9)
        self._d, self._inv = np.unique(delay, return_inverse=True)
        self._x = np.asarray(shots.relative, dtype=np.float64)
        self._w = np.asarray(shots.weight, dtype=np.float64)
        self._bin = np.asarray(shots.bin, dtype=np.int64)
        self._nb = len(shots.reference_var)
        ref = np.asarray(shots.reference_var, dtype=np.float64)
        self._c = np.where(np.isfinite(ref), ref, 0.0)[self._bin]
        span = float(self._d[-1] - self._d[0]) if len(self._d) > 1 else 1.0
        self._span = span or 1.0

    # -- packing -------------------------------------------------------------------------
    def pack(self, p: PumpParams) -> np.ndarray:
        q = [p.t0, p.amplitude, math.log(max(p.tau, 1e-12))]
        if self.sigma is None:
            q.append(math.log(max(p.sigma, 1e-12)))
        if self.baseline:
            q.append(p.baseline)
        q += [math.log(max(p.noise, 1e-12)), p.response_noise]
        return np.array(q, dtype=np.float64)

    def unpack(self, q: np.ndarray) -> PumpParams:
        """The parameters packed in ``q`` (η as packed: its sign means nothing)."""
        def exp(name: str) -> float:
            return math.exp(min(max(float(q[self.index[name]]), -_LOG_LIMIT), _LOG_LIMIT))

        return PumpParams(
            t0=float(q[0]), amplitude=float(q[1]), tau=exp("tau"),
            sigma=exp("sigma") if self.sigma is None else self.sigma,
            baseline=float(q[self.index["baseline"]]) if self.baseline else 0.0,
            noise=exp("noise"), response_noise=float(q[self.index["response_noise"]]))

    def steps(self, q: np.ndarray) -> np.ndarray:
        """Finite-difference steps per packed parameter (simplex sizes are multiples)."""
        t0, amp, tau, sigma, *_ = self.unpack(q)
        small = max(1e-2 * min(sigma if sigma > 0 else tau, tau), 1e-6 * self._span)
        steps = [small, 1e-3 * max(abs(amp), 1e-3), 1e-3]
        if self.sigma is None:
            steps.append(1e-3)
        if self.baseline:
            steps.append(1e-3 * max(abs(amp), 1e-3))
        steps += [1e-3, 1e-3]
        return np.array(steps)

    # -- the model -------------------------------------------------------------------------
    def _moments(self, q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per shot: mean μ_i and variance v_i without the shared reference term."""
        t0, amp, tau, sigma, beta, kappa, eta = self.unpack(q)
        f = emg_response(self._d, t0, amp, tau, sigma)
        f2 = emg_response(self._d, t0, amp * amp, 0.5 * tau, sigma)  # E[e²] over the jitter
        # the jitter's spread of e, and the response noise of each e
        spread = np.clip(f2 - f * f, 0.0, None) + eta * eta * f2
        mu = (f + beta)[self._inv]
        scale = (1.0 + mu) ** 2 + 1e-12
        return mu, kappa * kappa * scale / self._w + spread[self._inv]

    def nll(self, q: np.ndarray) -> float:
        """``−2 log L − 2 log prior`` of the shots (the jitter mixture, see the module)."""
        t0, amp, tau, sigma, beta, kappa, eta = self.unpack(q)
        noise = kappa * kappa / self._w + self._c  # relative variance per unit (1 + f + β)²
        x = self._x
        lead = (t0 - self._d) / sigma  # per distinct delay: how far before time zero
        log_before = _log_phi_cdf(lead)[self._inv] + _log_normal(
            x, beta, noise * (1.0 + beta) ** 2 + 1e-12)
        centre = (self._d - t0)[self._inv]  # u of a shot without timing error
        lo = np.maximum(centre - _REACH * sigma, 0.0)
        hi = np.maximum(centre + _REACH * sigma, 0.0)
        half = 0.5 * (hi - lo)
        u = lo[:, None] + half[:, None] * (_NODES + 1.0)  # (shots, nodes)
        e = amp * np.exp(-u / tau)
        f = e + beta
        var = noise[:, None] * (1.0 + f) ** 2 + (eta * e) ** 2 + 1e-12
        with np.errstate(divide="ignore"):
            log_after = (np.log(half[:, None] * _WEIGHTS) - 0.5 * ((u - centre[:, None])
                                                                    / sigma) ** 2
                         - math.log(sigma) - _LOG_SQRT_2PI + _log_normal(x[:, None], f, var))
        terms = np.concatenate([log_before[:, None], log_after], axis=1)
        top = np.max(terms, axis=1)
        log_p = top + np.log(np.sum(np.exp(terms - top[:, None]), axis=1))
        value = -2.0 * float(np.sum(log_p))
        if self.sigma is None:
            median, factor = self.prior
            z = (float(q[self.index["sigma"]]) - math.log(median)) / math.log(factor)
            value += z * z
        return value if math.isfinite(value) else math.inf

    def noise_guess(self, t0: float, amplitude: float, tau: float, sigma: float,
                    baseline: float) -> float:
        """κ that makes the shots' scatter about a given curve typical (a start value)."""
        mu = (emg_response(self._d, t0, amplitude, tau, sigma) + baseline)[self._inv]
        k2 = float(np.mean(self._w * (self._x - mu) ** 2 / ((1.0 + mu) ** 2 + 1e-12)))
        return math.sqrt(k2) if k2 > 0 else 1e-3

    def natural(self, q: np.ndarray, cov_q: np.ndarray
                ) -> tuple[dict[str, float], dict[str, float]]:
        """Values and one-sigma errors of every parameter (η as its size ``|η|``).

        Errors by the delta method from the covariance of ``q`` (exact at the
        optimum for the Laplace approximation); fixed σ and an absent baseline
        have error 0.
        """
        p = self.unpack(q)
        var = np.diag(cov_q)
        err = {name: float(v) for name, v in zip(
            self.index, np.sqrt(np.where(var >= 0.0, var, np.nan)), strict=True)}
        log_scale = {"tau": p.tau, "sigma": p.sigma, "noise": p.noise}  # packed as logs
        errors = {name: err[name] * log_scale.get(name, 1.0) if name in err else 0.0
                  for name in PumpParams._fields}
        return p._replace(response_noise=abs(p.response_noise))._asdict(), errors

    def bin_errors(self, q: np.ndarray) -> np.ndarray:
        """Per bin of :attr:`PumpedShots.bin`: the one-sigma error of its weighted mean ΔI/I.

        What the fitted noise model says a bin's ``Σs/ΣI0`` ratio scatters by —
        defined for a bin of a single pumped shot too (NaN for an empty bin).
        """
        mu, v = self._moments(q)
        wsum = np.bincount(self._bin, weights=self._w, minlength=self._nb)
        with np.errstate(divide="ignore", invalid="ignore"):
            a = self._w / wsum[self._bin]
            shared = np.bincount(self._bin, weights=a * np.sqrt(self._c) * (1.0 + mu),
                                 minlength=self._nb)
            var = np.bincount(self._bin, weights=a * a * v, minlength=self._nb) + shared ** 2
            return np.where(wsum > 0, np.sqrt(var), np.nan)

    def binned_chi2(self, q: np.ndarray) -> tuple[float, int]:
        """χ² of the delay-binned weighted means about the model, and its degrees of freedom."""
        mu, v = self._moments(q)
        nd = len(self._d)
        wsum = np.bincount(self._inv, weights=self._w, minlength=nd)
        a = self._w / wsum[self._inv]
        mean = np.bincount(self._inv, weights=a * self._x, minlength=nd)
        model = np.bincount(self._inv, weights=a * mu, minlength=nd)
        shared = np.bincount(self._inv, weights=a * np.sqrt(self._c) * (1.0 + mu), minlength=nd)
        var = np.bincount(self._inv, weights=a * a * v, minlength=nd) + shared * shared
        chi2 = float(np.sum((mean - model) ** 2 / var))
        return chi2, nd - len(self.names)
