"""Fit of the pump response: a step-exponential convolved with the timing jitter.

Per shot the relative Bragg-intensity change is ``A·H(t−t0)·exp(−(t−t0)/τ)``
at ``t`` = nominal delay + jitter; averaged over Gaussian jitter of rms σ this
is an exponentially modified Gaussian (EMG) of the nominal delay::

    f(t) = A/2 · exp(σ²/(2τ²) − u/τ) · erfc((σ/τ − u/σ)/√2),   u = t − t0

evaluated in whichever of two algebraically equal forms cannot overflow.
Fitting is weighted Levenberg–Marquardt (numpy; a few dozen bins need no
numba), with τ and σ fitted as logarithms so they stay positive.  Parameter
errors come from the covariance at the optimum in natural parameters, inflated
by the Birge ratio √(χ²/ν) when the scatter exceeds the stated errors — never
deflated below them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["DEFAULT_JITTER_PS", "PumpFitResult", "emg_response", "fit_pump_response",
           "jitter_variance"]

#: rms timing jitter between pump and probe assumed when σ is not fitted (ps).
DEFAULT_JITTER_PS = 0.1
_SQRT2 = math.sqrt(2.0)
def _erfcx_pos(z: np.ndarray) -> np.ndarray:
    """exp(z²)·erfc(z) for z ≥ 0: Chebyshev fit, fractional error < 1.2e-7 everywhere.

    (Numerical Recipes' ``erfcc`` without its ``exp(−z²)``; numpy has no erfc,
    and this vectorised form is what keeps the likelihood fit fast.)
    """
    t = 1.0 / (1.0 + 0.5 * z)
    poly = -1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (
        -0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (
            -0.82215223 + t * 0.17087277))))))))
    return t * np.exp(poly)


def _erfc(x: np.ndarray) -> np.ndarray:
    """Elementwise erfc with small fractional error (see :func:`_erfcx_pos`)."""
    z = np.abs(x)
    upper = _erfcx_pos(z) * np.exp(-z * z)
    return np.where(x >= 0.0, upper, 2.0 - upper)


def emg_response(t: np.ndarray, t0: float, amplitude: float, tau: float,
                 sigma: float) -> np.ndarray:
    """Jitter-averaged relative change at nominal delays ``t`` (all times in one unit)."""
    u = np.asarray(t, dtype=np.float64) - t0
    if sigma <= 0.0:
        return np.where(u >= 0.0, amplitude * np.exp(-np.clip(u, 0.0, None) / tau), 0.0)
    x = (sigma / tau - u / sigma) / _SQRT2
    gauss = np.exp(-0.5 * (u / sigma) ** 2)
    ex = _erfcx_pos(np.abs(x))
    # x ≥ 0 (before / around t0): Gaussian × erfcx, cannot overflow.  x < 0 (after t0):
    # erfc(x) = 2 − erfc(−x), i.e. the bounded exponential minus a vanishing Gaussian term.
    expo = np.exp(np.minimum(0.5 * (sigma / tau) ** 2 - u / tau, 700.0))
    out = np.where(x >= 0.0, 0.5 * gauss * ex, expo - 0.5 * gauss * ex)
    return amplitude * out


@dataclass(frozen=True, slots=True)
class PumpFitResult:
    """Fitted pump response; errors are one standard deviation (NaN if undetermined)."""

    t0: float
    t0_err: float
    amplitude: float
    amplitude_err: float
    tau: float
    tau_err: float
    sigma: float
    sigma_err: float
    sigma_fitted: bool
    chi2: float
    dof: int
    n_points: int
    converged: bool
    units: str = "ps"

    @property
    def reduced_chi2(self) -> float:
        return self.chi2 / self.dof if self.dof > 0 else math.nan

    def curve(self, t: np.ndarray) -> np.ndarray:
        """The fitted model at ``t``."""
        return emg_response(t, self.t0, self.amplitude, self.tau, self.sigma)

    def as_dict(self) -> dict[str, Any]:
        return {
            "t0": self.t0, "t0_err": self.t0_err, "amplitude": self.amplitude,
            "amplitude_err": self.amplitude_err, "tau": self.tau, "tau_err": self.tau_err,
            "sigma": self.sigma, "sigma_err": self.sigma_err, "sigma_fitted": self.sigma_fitted,
            "chi2": self.chi2, "dof": self.dof, "reduced_chi2": self.reduced_chi2,
            "n_points": self.n_points, "converged": self.converged, "units": self.units,
        }


def _model(p: np.ndarray, t: np.ndarray, sigma_fixed: float | None) -> np.ndarray:
    # log τ and log σ are clamped so a wild trial step cannot overflow
    sigma = sigma_fixed if sigma_fixed is not None else math.exp(min(max(p[3], -30.0), 30.0))
    return emg_response(t, p[0], p[1], math.exp(min(max(p[2], -30.0), 30.0)), sigma)


def _jacobian(fn: Any, p: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """Central differences; steps relative to each parameter's natural scale."""
    cols = []
    for k in range(len(p)):
        h = 1e-6 * scale[k]
        dp = np.zeros_like(p)
        dp[k] = h
        cols.append((fn(p + dp) - fn(p - dp)) / (2.0 * h))
    return np.stack(cols, axis=1)


def _levenberg_marquardt(t: np.ndarray, y: np.ndarray, w: np.ndarray, p0: np.ndarray,
                         sigma_fixed: float | None, span: float,
                         max_iter: int = 200) -> tuple[np.ndarray, float, bool]:
    def resid(p: np.ndarray) -> np.ndarray:
        return (_model(p, t, sigma_fixed) - y) * w

    scale = np.array([span, max(abs(p0[1]), 1e-3), 1.0, 1.0][:len(p0)])
    p = p0.astype(np.float64)
    r = resid(p)
    chi2 = float(r @ r)
    lam = 1e-3
    for _ in range(max_iter):
        jac = _jacobian(resid, p, scale)
        a = jac.T @ jac
        g = jac.T @ r
        improved = False
        while lam < 1e12:
            step = np.linalg.solve(a + lam * np.diag(np.diag(a) + 1e-12), -g)
            trial = p + step
            r_new = resid(trial)
            chi2_new = float(r_new @ r_new)
            if np.isfinite(chi2_new) and chi2_new <= chi2:
                converged = chi2 - chi2_new <= 1e-10 * max(chi2, 1e-300) + 1e-14
                p, r, chi2 = trial, r_new, chi2_new
                lam = max(lam / 10.0, 1e-12)
                improved = True
                if converged:
                    return p, chi2, True
                break
            lam *= 10.0
        if not improved:
            return p, chi2, True
    return p, chi2, False


def jitter_variance(t: np.ndarray, t0: float, amplitude: float, tau: float,
                    sigma: float) -> np.ndarray:
    """Shot-to-shot variance of ΔI/I that timing jitter alone causes at nominal delay ``t``.

    Near time zero a single shot either sees the step or not, so a bin of a
    few pumped shots scatters far more there than photon noise says.  With
    ``f = A·H(u)·exp(−u/τ)``: ``E[f²]`` is the same EMG with ``A²`` and ``τ/2``.
    """
    mean = emg_response(t, t0, amplitude, tau, sigma)
    return np.clip(emg_response(t, t0, amplitude * amplitude, 0.5 * tau, sigma) - mean * mean,
                   0.0, None)


def fit_pump_response(delay: np.ndarray, relative: np.ndarray, relative_err: np.ndarray, *,
                      sigma: float = DEFAULT_JITTER_PS, fit_sigma: bool = False,
                      shots: np.ndarray | None = None, units: str = "ps") -> PumpFitResult:
    """Fit ``A·H(t−t0)·exp(−(t−t0)/τ) ⊛ Gauss(σ)`` to binned relative changes.

    Several starting points (time zero at each rise between neighbouring
    bins, three recovery times) are tried and the lowest χ² kept, because a
    step with only a few bins on its edge has local minima.

    Args:
        delay: bin centres (nominal delays).
        relative: relative change per bin, on/off − 1.
        relative_err: its one-sigma error; bins with non-finite or non-positive
            errors are left out.
        sigma: timing jitter rms (fixed value, or start value when fitted).
        fit_sigma: fit σ too (needs bins finer than the jitter around t0).
        shots: effective number of pumped shots per bin; when given, each
            bin's variance also holds the jitter-induced scatter
            :func:`jitter_variance` / shots of the model being fitted, and the
            fit becomes a maximum-likelihood one (see
            :func:`_fit_with_jitter_scatter`).
        units: time unit of ``delay``, recorded in the result.
    """
    result = _fit_once(delay, relative, relative_err, sigma=sigma, fit_sigma=fit_sigma,
                       units=units)
    if shots is None or not math.isfinite(result.t0):
        return result
    return _fit_with_jitter_scatter(delay, relative, relative_err, shots, result,
                                    sigma=sigma, fit_sigma=fit_sigma, units=units)


def _nelder_mead(fn: Any, x0: np.ndarray, step: np.ndarray, *, max_iter: int = 2000,
                 tol: float = 1e-7) -> tuple[np.ndarray, float]:
    """Minimise ``fn`` from ``x0`` (standard reflection/expansion/contraction/shrink)."""
    simplex = [x0] + [x0 + np.eye(len(x0))[k] * step[k] for k in range(len(x0))]
    values = [fn(x) for x in simplex]
    for _ in range(max_iter):
        order = np.argsort(values)
        simplex = [simplex[k] for k in order]
        values = [values[k] for k in order]
        if abs(values[-1] - values[0]) <= tol:  # −2 log L: 1e-7 is far below any error
            break
        centroid = np.mean(simplex[:-1], axis=0)
        reflected = centroid + (centroid - simplex[-1])
        fr = fn(reflected)
        if fr < values[0]:
            expanded = centroid + 2.0 * (centroid - simplex[-1])
            fe = fn(expanded)
            simplex[-1], values[-1] = (expanded, fe) if fe < fr else (reflected, fr)
        elif fr < values[-2]:
            simplex[-1], values[-1] = reflected, fr
        else:
            contracted = centroid + 0.5 * (simplex[-1] - centroid)
            fc = fn(contracted)
            if fc < values[-1]:
                simplex[-1], values[-1] = contracted, fc
            else:
                simplex = [simplex[0] + 0.5 * (x - simplex[0]) for x in simplex]
                values = [fn(x) for x in simplex]
    best = int(np.argmin(values))
    return simplex[best], float(values[best])


def _fit_with_jitter_scatter(delay: np.ndarray, relative: np.ndarray, relative_err: np.ndarray,
                             shots: np.ndarray, start: PumpFitResult, *, sigma: float,
                             fit_sigma: bool, units: str) -> PumpFitResult:
    """Maximum likelihood with the model's own jitter scatter in each bin's variance.

    ``v_i(θ) = e_i² + V_jit(t_i; θ)/n_i`` depends on the parameters, so the
    likelihood keeps its ``log v`` term: simply re-weighting a least-squares
    fit would let a wrong time zero deweight exactly the bins that contradict
    it.  Minimised by Nelder–Mead from every time-zero start; errors from the
    numerical Hessian, inflated by the Birge ratio like the plain fit.
    """
    t = np.asarray(delay, dtype=np.float64)
    y = np.asarray(relative, dtype=np.float64)
    e = np.asarray(relative_err, dtype=np.float64)
    n = np.asarray(shots, dtype=np.float64)
    good = np.isfinite(t) & np.isfinite(y) & np.isfinite(e) & (e > 0) & np.isfinite(n) & (n > 0)
    t, y, e2, n = t[good], y[good], e[good] ** 2, n[good]
    n_par = 4 if fit_sigma else 3

    def unpack(q: np.ndarray) -> tuple[float, float, float, float]:
        tau = math.exp(min(max(q[2], -30.0), 30.0))
        sig = math.exp(min(max(q[3], -30.0), 30.0)) if fit_sigma else sigma
        return float(q[0]), float(q[1]), tau, sig

    def terms(q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        t0, amp, tau, sig = unpack(q)
        mean = emg_response(t, t0, amp, tau, sig)
        second = emg_response(t, t0, amp * amp, 0.5 * tau, sig)  # E[f²], as jitter_variance
        v = e2 + np.clip(second - mean * mean, 0.0, None) / n
        return (y - mean) ** 2 / v, v

    def nll(q: np.ndarray) -> float:
        r2, v = terms(q)
        return float(np.sum(r2 + np.log(v)))

    ts = np.sort(t)
    mids = 0.5 * (ts[1:] + ts[:-1])
    k = int(np.searchsorted(mids, start.t0))
    edges = {float(m) for m in mids[max(0, k - 3):k + 3]}  # time zero within ±3 bins
    base = [start.amplitude, math.log(start.tau)] + ([math.log(start.sigma)] if fit_sigma
                                                     else [])
    step = np.array([0.05 * (float(t.max() - t.min()) or 1.0), 0.1 * abs(start.amplitude) + 1e-3,
                     0.2, 0.2][:n_par])
    q, best = _nelder_mead(nll, np.array([start.t0, *base]), step)
    for t0s in sorted(edges):
        cand, value = _nelder_mead(nll, np.array([t0s, *base]), step)
        if value < best:
            q, best = cand, value
    t0, amp, tau, sig = unpack(q)
    chi2 = float(np.sum(terms(q)[0]))
    dof = len(t) - n_par
    natural = np.array([t0, amp, tau, sig][:n_par])

    def nll_natural(x: np.ndarray) -> float:
        logs = [math.log(max(x[2], 1e-300))] + ([math.log(max(x[3], 1e-300))] if fit_sigma
                                                else [])
        return nll(np.array([x[0], x[1], *logs]))

    hess = _hessian(nll_natural, natural)
    cov = np.full((n_par, n_par), np.nan)
    fisher = 0.5 * hess
    if np.all(np.isfinite(fisher)) and np.linalg.cond(fisher) <= 1e12:
        cov = np.linalg.inv(fisher)
    cov = cov * max(1.0, chi2 / dof) if dof > 0 else cov
    diag = np.diag(cov)
    errs = np.sqrt(np.where(diag >= 0, diag, np.nan))
    return PumpFitResult(
        t0=t0, t0_err=float(errs[0]), amplitude=amp, amplitude_err=float(errs[1]), tau=tau,
        tau_err=float(errs[2]), sigma=sig, sigma_err=float(errs[3]) if fit_sigma else 0.0,
        sigma_fitted=fit_sigma, chi2=chi2, dof=dof, n_points=len(t), converged=True,
        units=units)


def _hessian(fn: Any, x: np.ndarray) -> np.ndarray:
    """Central-difference Hessian with steps relative to each parameter."""
    k = len(x)
    h = 1e-4 * np.maximum(np.abs(x), 1e-2)
    out = np.empty((k, k))
    f0 = fn(x)
    for i in range(k):
        for j in range(i, k):
            if i == j:
                d = np.zeros(k)
                d[i] = h[i]
                out[i, i] = (fn(x + d) - 2 * f0 + fn(x - d)) / (h[i] * h[i])
            else:
                di, dj = np.zeros(k), np.zeros(k)
                di[i], dj[j] = h[i], h[j]
                out[i, j] = out[j, i] = (fn(x + di + dj) - fn(x + di - dj) - fn(x - di + dj)
                                         + fn(x - di - dj)) / (4 * h[i] * h[j])
    return out


def _fit_once(delay: np.ndarray, relative: np.ndarray, relative_err: np.ndarray, *,
              sigma: float, fit_sigma: bool, units: str) -> PumpFitResult:
    """One weighted fit with fixed per-bin errors (see :func:`fit_pump_response`)."""
    t = np.asarray(delay, dtype=np.float64)
    y = np.asarray(relative, dtype=np.float64)
    e = np.asarray(relative_err, dtype=np.float64)
    good = np.isfinite(t) & np.isfinite(y) & np.isfinite(e) & (e > 0)
    t, y, e = t[good], y[good], e[good]
    n_par = 4 if fit_sigma else 3
    order = np.argsort(t)
    t, y, e = t[order], y[order], e[order]
    if len(t) <= n_par:
        nan = math.nan
        return PumpFitResult(nan, nan, nan, nan, nan, nan, sigma, nan, fit_sigma, nan,
                             len(t) - n_par, len(t), False, units)
    w = 1.0 / e
    span = float(t[-1] - t[0]) or 1.0
    peak = int(np.argmax(np.abs(y)))
    a0 = float(y[peak]) or 1e-3
    t0_starts = {float(t[peak]) - 0.5 * float(np.median(np.diff(t)))}
    for k in range(1, len(t)):
        if abs(y[k]) >= 0.5 * abs(a0) > abs(y[k - 1]):
            t0_starts.add(0.5 * float(t[k] + t[k - 1]))
    after = float(t[-1] - t[peak])
    tau_starts = [max(after, span) / f for f in (2.0, 6.0, 20.0)]
    sigma_fixed = None if fit_sigma else sigma
    starts = [[t0s, a0, math.log(max(taus, 1e-6))]
              + ([math.log(max(sigma, 1e-6))] if fit_sigma else [])
              for t0s in sorted(t0_starts) for taus in tau_starts]
    best = min((_levenberg_marquardt(t, y, w, np.array(p0), sigma_fixed, span)
                for p0 in starts), key=lambda res: res[1])
    p, chi2, converged = best
    tau = math.exp(min(max(p[2], -30.0), 30.0))
    sig = math.exp(min(max(p[3], -30.0), 30.0)) if fit_sigma else sigma

    def natural(q: np.ndarray) -> np.ndarray:
        s = q[3] if fit_sigma else sigma
        return emg_response(t, q[0], q[1], q[2], s) * w

    q = np.array([p[0], p[1], tau] + ([sig] if fit_sigma else []))
    jac = _jacobian(natural, q, np.array([span, max(abs(p[1]), 1e-3), tau, sig][:n_par]))
    dof = len(t) - n_par
    info = jac.T @ jac
    # a singular information matrix (e.g. σ → 0 when bins are coarser than the
    # jitter) means some parameters are undetermined: say NaN, not 10⁶
    cov = np.full((n_par, n_par), np.nan)
    if np.linalg.cond(info) <= 1e12:
        cov = np.linalg.inv(info)
    elif fit_sigma and np.linalg.cond(info[1:3, 1:3]) <= 1e12:
        # σ undetermined, and t0 with it (they trade off along the edge); A and τ
        # come from the decay and keep errors with t0 and σ held at their best values
        cov[1:3, 1:3] = np.linalg.inv(info[1:3, 1:3])
    cov = cov * max(1.0, chi2 / dof)
    errs = np.sqrt(np.where(np.diag(cov) >= 0, np.diag(cov), np.nan))
    return PumpFitResult(
        t0=float(p[0]), t0_err=float(errs[0]), amplitude=float(p[1]),
        amplitude_err=float(errs[1]), tau=tau, tau_err=float(errs[2]), sigma=sig,
        sigma_err=float(errs[3]) if fit_sigma else 0.0, sigma_fitted=fit_sigma,
        chi2=chi2, dof=dof, n_points=len(t), converged=converged, units=units)
