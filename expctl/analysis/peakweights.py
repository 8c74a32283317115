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

from itertools import combinations

import numpy as np

__all__ = ["COMPONENTS", "variance_basis", "variance_components"]

COMPONENTS = ("photons", "additive", "i0_relative", "pointing")


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
