"""The peak fit of :mod:`expctl.analysis._peakfit` without numba, bit for bit.

Loading the numba kernels costs ~0.7 s per process (numba's CPU target, SciPy's
LAPACK bindings, the cached machine code); a rocking curve of 41 points fits in a
few milliseconds here (noise refit included), so a CLI campaign that fits a few dozen curves is
faster without them (:func:`expctl.analysis.peaks._fit` picks by size).

The results are *identical* to the kernels', not merely close — the fitted
centre moves theta and so ends up in the run files.  That holds because the
kernels are compiled without fastmath: every operation is IEEE-rounded in source
order, ``math.exp`` is the C library's ``exp`` in both, and each sum runs
sequentially from 0.0.  So here

* per-point arithmetic is numpy elementwise, spelled in the kernels' order
  (``-FOUR_LN2 * u * u`` is ``(-FOUR_LN2 * u) * u``);
* ``exp`` is ``math.exp`` per point (numpy's own SIMD ``exp`` may differ in the
  last bit);
* sums are ``np.add.accumulate`` from a leading 0.0 (numpy's ``sum`` is
  pairwise, Python 3.12's ``sum`` compensated: both round differently);
* the 5 x 5 algebra (Cholesky, solves, the Levenberg–Marquardt loop) is plain
  Python on floats, in the kernels' loop order.

Keep the two in step: a test fits the same curves with both and compares bits.
"""

from __future__ import annotations

import math

import numpy as np

NPAR = 5
FOUR_LN2 = 4.0 * math.log(2.0)
CONVERGED = 0
MAX_ITER = 1
SINGULAR = 2

Common = tuple[np.ndarray, np.ndarray, np.ndarray]
_LOWER = [(j, k) for j in range(NPAR) for k in range(j + 1)]


def _exp(v: np.ndarray) -> np.ndarray:
    """``math.exp`` of each element: the C library's ``exp``, as the kernels call it."""
    return np.fromiter(map(math.exp, v.tolist()), np.float64, v.size)


def _sums(terms: np.ndarray) -> np.ndarray:
    """Sums along the last axis, added one after the other (the kernels' loops).

    The kernels start from 0.0; adding 0.0 at the end is the same (it only turns
    the -0.0 of an all-negative-zero sum into 0.0, as starting from 0.0 would).
    """
    return np.add.accumulate(terms, axis=-1)[..., -1] + 0.0


def _mean(v: np.ndarray) -> float:
    """numba's ``ndarray.mean``: a sequential sum over the size."""
    return float(_sums(v)) / v.size


def _common(x: np.ndarray, p: list[float]) -> Common:
    """``u``, the Gaussian ``exp(-4 ln2 u²)`` and the Lorentzian's ``1 + 4u²`` at ``p``:
    what the model, its Jacobian and the chi-square all start from."""
    u = (x - p[0]) / p[1]
    return u, _exp(-FOUR_LN2 * u * u), 1.0 + 4.0 * u * u


def _evaluate(x: np.ndarray, p: list[float], common: Common | None = None
              ) -> tuple[np.ndarray, np.ndarray]:
    """The model and its Jacobian, transposed (5 x n: one row per parameter)."""
    _, w, h, b, eta = p
    u, g, denom = common or _common(x, p)
    lor = 1.0 / denom
    shape = eta * lor + (1.0 - eta) * g
    dshape_du = eta * (-8.0 * u * lor * lor) + (1.0 - eta) * (-2.0 * FOUR_LN2 * u * g)
    jac_t = np.empty((NPAR, x.size))
    jac_t[0] = -h * dshape_du / w
    jac_t[1] = -h * dshape_du * u / w
    jac_t[2] = shape
    jac_t[3] = 1.0
    jac_t[4] = h * (lor - g)
    return b + h * shape, jac_t


def evaluate(x: np.ndarray, p: np.ndarray, f: np.ndarray, jac: np.ndarray) -> None:
    """Fill the model ``f`` and its Jacobian ``jac`` (n x 5) at parameters ``p``."""
    with np.errstate(all="ignore"):
        f[:], jac_t = _evaluate(x, p.tolist())
    jac[:] = jac_t.T


def _chi_square(x: np.ndarray, y: np.ndarray, wt: np.ndarray, p: list[float]
               ) -> tuple[float, Common]:
    """Weighted sum of squared residuals at ``p`` (no Jacobian), and what the
    Jacobian at ``p`` can start from if the step is taken."""
    common = u, g, denom = _common(x, p)
    _, _, h, b, eta = p
    r = y - b - h * (eta / denom + (1.0 - eta) * g)
    return float(_sums(wt * r * r)), common


Normal = tuple[list[list[float]], list[float]]


def _normal_equations(x: np.ndarray, y: np.ndarray, wt: np.ndarray, p: list[float],
                      free: list[bool], common: Common | None = None) -> Normal:
    """The normal matrix (free rows/columns only, 1 on fixed diagonals) and gradient."""
    f, jac_t = _evaluate(x, p, common)
    wj = wt * jac_t
    terms = np.empty((NPAR + NPAR * NPAR, x.size))
    terms[:NPAR] = wj * (y - f)
    terms[NPAR:] = (wj[:, None, :] * jac_t[None, :, :]).reshape(NPAR * NPAR, x.size)
    sums = _sums(terms).tolist()
    g = [sums[j] if free[j] else 0.0 for j in range(NPAR)]
    a = [[0.0] * NPAR for _ in range(NPAR)]
    for j, k in _LOWER:
        if free[j] and free[k]:
            a[j][k] = a[k][j] = sums[NPAR + NPAR * j + k]
    for j in range(NPAR):
        if not free[j]:
            a[j][j] = 1.0
    return a, g


def _cholesky(m: list[list[float]]) -> list[list[float]] | None:
    """Lower Cholesky factor of the SPD matrix ``m``; None if not SPD."""
    low = [[0.0] * NPAR for _ in range(NPAR)]
    for j in range(NPAR):
        s = m[j][j]
        lj = low[j]
        for k in range(j):
            s -= lj[k] * lj[k]
        if not s > 0.0:
            return None
        d = math.sqrt(s)
        lj[j] = d
        for i in range(j + 1, NPAR):
            t = m[i][j]
            li = low[i]
            for k in range(j):
                t -= li[k] * lj[k]
            li[j] = t / d
    return low


def _cho_solve(low: list[list[float]], rhs: list[float]) -> list[float]:
    out = [0.0] * NPAR
    for i in range(NPAR):
        t = rhs[i]
        for k in range(i):
            t -= low[i][k] * out[k]
        out[i] = t / low[i][i]
    for i in range(NPAR - 1, -1, -1):
        t = out[i]
        for k in range(i + 1, NPAR):
            t -= low[k][i] * out[k]
        out[i] = t / low[i][i]
    return out


def _pin_eta_at_bound(normal: Normal, p: list[float], free: list[bool]) -> Normal:
    """Hold ``eta`` fixed this iteration if it sits on a bound and the gradient pushes out
    (a changed copy; ``normal`` itself is kept for the covariance)."""
    a, g = normal
    if free[4] and ((p[4] <= 0.0 and g[4] < 0.0) or (p[4] >= 1.0 and g[4] > 0.0)):
        a = [[0.0 if 4 in (j, k) else a[j][k] for k in range(NPAR)] for j in range(NPAR)]
        a[4][4] = 1.0
        g = [*g[:4], 0.0]
    return a, g


def _gauss_newton_decrement(a: list[list[float]], g: list[float]) -> float:
    low = _cholesky(a)
    if low is None:
        return math.inf
    dp = _cho_solve(low, g)
    dec = 0.0
    for j in range(NPAR):
        dec += dp[j] * g[j]
    return dec


def fit_peak(x: np.ndarray, y: np.ndarray, wt: np.ndarray, p0: np.ndarray, free: np.ndarray,
             max_iter: int) -> tuple[np.ndarray, np.ndarray, float, int, int]:
    """:func:`expctl.analysis._peakfit.fit_peak`: ``(p, cov, chi2, status, iterations)``."""
    with np.errstate(all="ignore"):  # (the kernels do not warn either)
        return _fit_peak(x, y, wt, [float(v) for v in p0.tolist()],
                         [bool(v) for v in free.tolist()], max_iter)


def _fit_peak(x: np.ndarray, y: np.ndarray, wt: np.ndarray, p: list[float], free: list[bool],
              max_iter: int) -> tuple[np.ndarray, np.ndarray, float, int, int]:
    chi2, common = _chi_square(x, y, wt, p)
    tiny = float(_sums(wt * y * y)) * 1e-24
    lam = 1e-3
    status = MAX_ITER
    it = 0
    normal_at, normal = None, ([[0.0]], [0.0])
    while it < max_iter:
        normal_at, normal = p, _normal_equations(x, y, wt, p, free, common)
        a, g = _pin_eta_at_bound(normal, p, free)
        if _gauss_newton_decrement(a, g) <= 1e-10 * chi2 + tiny:
            status = CONVERGED
            break
        it += 1
        accepted = False
        while lam < 1e12:
            m = [row[:] for row in a]
            for j in range(NPAR):
                m[j][j] = a[j][j] * (1.0 + lam) + 1e-300
            low = _cholesky(m)
            if low is None:
                lam *= 10.0
                continue
            dp = _cho_solve(low, g)
            trial = [p[j] + dp[j] if free[j] else p[j] for j in range(NPAR)]
            if trial[4] < 0.0:
                trial[4] = 0.0
            elif trial[4] > 1.0:
                trial[4] = 1.0
            if not trial[1] > 0.0:
                lam *= 10.0
                continue
            chi2_trial, trial_common = _chi_square(x, y, wt, trial)
            if chi2_trial < chi2:
                p, common = trial, trial_common
                chi2 = chi2_trial
                lam = max(lam * 0.1, 1e-12)
                accepted = True
                break
            lam *= 10.0
        if not accepted:  # no decrease possible within round-off: at the minimum
            status = CONVERGED
            break
    # covariance from the undamped normal matrix at the solution (computed already
    # unless the last step moved p)
    a = (normal if normal_at is p else _normal_equations(x, y, wt, p, free, common))[0]
    cov = np.zeros((NPAR, NPAR))
    low = _cholesky(a)
    if low is None:
        return np.array(p), cov, chi2, SINGULAR, it
    for j in range(NPAR):
        if free[j]:
            col = _cho_solve(low, [1.0 if k == j else 0.0 for k in range(NPAR)])
            for k in range(NPAR):
                if free[k]:
                    cov[k, j] = col[k]
    return np.array(p), cov, chi2, status, it


def fit_reweighted(x: np.ndarray, y: np.ndarray, weight_i0: np.ndarray, p0: np.ndarray,
                   free: np.ndarray, max_iter: int, reweights: int, floor_frac: float
                   ) -> tuple[np.ndarray, np.ndarray, float, int]:
    """:func:`expctl.analysis._peakfit.fit_reweighted`: ``(p, errors, reduced_chi2, status)``."""
    with np.errstate(all="ignore"):  # (the kernels do not warn either)
        return _fit_reweighted(x, y, weight_i0, p0, free, max_iter, reweights, floor_frac)


def _fit_reweighted(x: np.ndarray, y: np.ndarray, weight_i0: np.ndarray, p0: np.ndarray,
                    free: np.ndarray, max_iter: int, reweights: int, floor_frac: float
                    ) -> tuple[np.ndarray, np.ndarray, float, int]:
    fr = [bool(v) for v in free.tolist()]
    wt = weight_i0 / _mean(weight_i0)
    p = [float(v) for v in p0.tolist()]
    cov = np.zeros((NPAR, NPAR))
    chi2 = 0.0
    status = MAX_ITER
    for _ in range(max(reweights, 1)):
        if reweights > 0:
            f = _evaluate(x, p)[0]
            floor = floor_frac * abs(p[2]) + 1e-300
            wt = weight_i0 / (np.array([max(v, 0.0) for v in f.tolist()]) + floor)
            wt = wt / _mean(wt)
        p_arr, cov, chi2, status, _it = _fit_peak(x, y, wt, p, fr, max_iter)
        p = p_arr.tolist()
        if status == SINGULAR:
            break
    reduced = chi2 / max(x.size - sum(fr), 1)
    err = np.array([math.sqrt(max(float(cov[j, j]), 0.0) * reduced) for j in range(NPAR)])
    return np.array(p), err, reduced, status
