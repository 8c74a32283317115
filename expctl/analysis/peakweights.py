"""The noise of a rocking curve, estimated from the curve itself (``noise="auto"``).

A single-shot rocking curve is noisier than photon statistics say, and not
uniformly so: the signal normalised by I0 scatters by

* photon statistics of the detector, ``var ∝ (f + floor) / I0``;
* additive detector noise (read noise, common mode, pedestal drift of the ROI
  sum), ``var ∝ 1 / I0²`` — what dominates the tails of a weak curve;
* the I0 monitor's own relative noise (its photons, its amplifier), ``var ∝ f² / I0``;
* beam pointing jitter, which moves the whole curve sideways by a few urad per
  shot: ``var ∝ f'²`` — largest on the flanks, exactly where the centre is
  decided.

Weighting by photon statistics alone over-weights the tails and under-weights
the flanks, so the centre's error comes out wrong (too small or too large,
depending on which term dominates).  Here the four variance components are
estimated from the squared residuals of a first fit (non-negative weighted
least squares, iterated with the refit), and the final fit weights each point
by ``1 / var_i`` — no detector or beam parameter has to be known.
"""

from __future__ import annotations

import math
from itertools import combinations
from typing import Any

import numpy as np

__all__ = ["COMPONENTS", "NOISE_PASSES", "refit_with_estimated_noise", "variance_basis",
           "variance_components"]

COMPONENTS = ("photons", "additive", "i0_relative", "pointing")
#: refits with re-estimated noise components (they settle after two or three)
NOISE_PASSES = 3


def variance_basis(f: np.ndarray, slope: np.ndarray, weight_i0: np.ndarray, height: float,
                   floor_frac: float) -> np.ndarray:
    """(n, 4) shapes of the variance components at the model ``f`` with slope ``f'``.

    ``weight_i0`` is the summed I0 of each point (its statistical weight); columns
    are scaled to comparable size so the fit of their amplitudes is well conditioned.
    """
    w = weight_i0 / weight_i0.mean()
    fpos = np.maximum(f, 0.0)
    cols = np.stack([(fpos + floor_frac * abs(height)) / w, 1.0 / (w * w), fpos * fpos / w,
                     slope * slope], axis=1)
    scale = cols.mean(axis=0)
    scale[scale <= 0] = 1.0
    return cols / scale


def variance_components(residual: np.ndarray, basis: np.ndarray, current: np.ndarray
                        ) -> np.ndarray:
    """Non-negative amplitudes ``s`` with ``residual² ≈ basis @ s``.

    Squared residuals scatter with variance ``2 var²``, so each point is weighted by
    ``1 / current²`` (the present variance estimate); every subset of components that
    includes photon statistics (always present) is tried and the best fit whose
    amplitudes are all non-negative wins.
    """
    r2 = residual * residual
    wt = 1.0 / np.maximum(current, 1e-300)
    a = basis * wt[:, None]
    b = r2 * wt
    k = basis.shape[1]
    best, best_sse = np.zeros(k), np.inf
    for size in range(0, k):  # photon statistics are always there: column 0 always in
        for rest in combinations(range(1, k), size):
            cols = (0, *rest)
            sol, *_ = np.linalg.lstsq(a[:, cols], b, rcond=None)
            if np.any(sol < 0):
                continue
            sse = float(np.sum((b - a[:, cols] @ sol) ** 2))
            if sse < best_sse:
                best_sse = sse
                best = np.zeros(k)
                best[list(cols)] = sol
    return best


def refit_with_estimated_noise(x: np.ndarray, y: np.ndarray, weight_i0: np.ndarray,
                               p: np.ndarray, free: np.ndarray, peakfit: Any, floor: float,
                               max_iter: int) -> tuple[np.ndarray, np.ndarray, float, int]:
    """Refit a converged peak fit ``p`` with weights from the noise components its
    residuals show; the parameters, their (HC3) errors, reduced chi-square, status.

    Each pass evaluates the model and its slope, estimates the components from the
    squared residuals (divided by ``1 - leverage``, since a fit pulls towards the
    points that decide it), and refits with ``1 / var_i`` weights.

    Args:
        peakfit: the fitting kernels (``expctl.analysis._peakfit``, numba, or its
            numpy twin ``_peakfit_py``; the caller picks by scan length).
        floor: the photon-statistics floor, as a fraction of the peak height.
        max_iter: Levenberg–Marquardt iterations per refit.
    """
    n = x.size
    f = np.empty(n)
    jac = np.empty((n, 5))
    peakfit.evaluate(x, p, f, jac)
    first = variance_basis(f, -jac[:, 0], weight_i0, float(p[2]), floor)[:, 0]
    # start from photon statistics, at the scale of the residuals
    var = first * float(np.mean((y - f) ** 2) / np.mean(first))
    status = peakfit.CONVERGED
    chi2 = math.nan
    for _ in range(NOISE_PASSES):
        peakfit.evaluate(x, p, f, jac)
        basis = variance_basis(f, -jac[:, 0], weight_i0, float(p[2]), floor)
        resid = y - f
        j = jac[:, free]
        wt = _relative_weights(var)
        normal = j.T @ (j * wt[:, None])
        try:
            lev = np.einsum("ij,jk,ik->i", j, np.linalg.inv(normal), j) * wt
        except np.linalg.LinAlgError:
            break
        corrected = resid / np.sqrt(np.clip(1.0 - lev, 0.05, 1.0))
        amounts = variance_components(corrected, basis, var)
        new = basis @ amounts
        if not np.any(new > 0):
            break
        var = np.maximum(new, 1e-6 * float(new.max()))
        wt = _relative_weights(var)
        wt = wt / float(np.mean(wt))
        p, _, chi2, status, _ = peakfit.fit_peak(x, y, wt, p, free, max_iter)
        if status == peakfit.SINGULAR:
            break
    reduced = chi2 / max(n - int(free.sum()), 1)
    err = np.sqrt(np.clip(np.diag(_hc3_covariance(x, y, p, free, var, peakfit)), 0.0, None))
    return p, err, float(reduced), int(status)


def _relative_weights(var: np.ndarray) -> np.ndarray:
    """``1 / var`` up to a constant factor (``max(var) / var``): leverages, the refit and
    the HC3 covariance do not depend on it, and a curve of tiny values (variances near
    the smallest double) does not overflow."""
    return float(var.max()) / var


def _hc3_covariance(x: np.ndarray, y: np.ndarray, p: np.ndarray, free: np.ndarray,
              var: np.ndarray, peakfit: Any) -> np.ndarray:
    """Heteroscedasticity-consistent covariance (HC3) of a weighted fit.

    ``A⁻¹ Jᵀ W diag(r² / (1 - h)²) W J A⁻¹`` with ``A = Jᵀ W J``: the scatter the
    residuals show at each point, not the one the weights assume, so a noise
    model that is a little off (41 squared residuals do not pin four components)
    leaves the error honest rather than over-confident.
    """
    n = x.size
    f = np.empty(n)
    jac = np.empty((n, 5))
    peakfit.evaluate(x, p, f, jac)
    j = jac[:, free]
    wt = _relative_weights(var)
    a_inv = np.linalg.pinv(j.T @ (j * wt[:, None]))
    lev = np.einsum("ij,jk,ik->i", j, a_inv, j) * wt
    r = (y - f) / np.clip(1.0 - lev, 0.05, 1.0)
    meat = (j * (wt * r)[:, None]).T @ (j * (wt * r)[:, None])
    cov_free = a_inv @ meat @ a_inv
    cov = np.zeros((5, 5))
    idx = np.flatnonzero(free)
    cov[np.ix_(idx, idx)] = cov_free
    return cov
