"""numba Levenberg–Marquardt for one peak on a constant background.

Imported only by :mod:`expctl.analysis.peaks` when a fit is asked for, so
``import expctl.analysis`` never pays for numba.  The model is a pseudo-Voigt
``b + h * (eta * L(u) + (1 - eta) * G(u))`` with ``u = (x - c) / w``, both
shapes of unit height and FWHM ``w``; a Gaussian is ``eta = 0`` held fixed, a
Lorentzian ``eta = 1``.  Parameters are ``(c, w, h, b, eta)``.  The Jacobian is
analytic and the 5 x 5 normal equations are solved by a hand-written Cholesky
(numba's ``np.linalg`` would need SciPy's LAPACK), which keeps one 41-point fit
at a few microseconds.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

NPAR = 5
FOUR_LN2 = 4.0 * math.log(2.0)

#: status codes returned by :func:`fit_peak`
CONVERGED = 0
MAX_ITER = 1
SINGULAR = 2


@njit(cache=True)
def evaluate(x, p, f, jac):
    """Fill the model ``f`` and its Jacobian ``jac`` (n x 5) at parameters ``p``."""
    c, w, h, b, eta = p[0], p[1], p[2], p[3], p[4]
    for i in range(x.size):
        u = (x[i] - c) / w
        g = math.exp(-FOUR_LN2 * u * u)
        lor = 1.0 / (1.0 + 4.0 * u * u)
        shape = eta * lor + (1.0 - eta) * g
        dshape_du = eta * (-8.0 * u * lor * lor) + (1.0 - eta) * (-2.0 * FOUR_LN2 * u * g)
        f[i] = b + h * shape
        jac[i, 0] = -h * dshape_du / w
        jac[i, 1] = -h * dshape_du * u / w
        jac[i, 2] = shape
        jac[i, 3] = 1.0
        jac[i, 4] = h * (lor - g)


@njit(cache=True)
def chi_square(x, y, wt, p):
    """Weighted sum of squared residuals at ``p`` (no Jacobian)."""
    c, w, h, b, eta = p[0], p[1], p[2], p[3], p[4]
    s = 0.0
    for i in range(x.size):
        u = (x[i] - c) / w
        shape = eta / (1.0 + 4.0 * u * u) + (1.0 - eta) * math.exp(-FOUR_LN2 * u * u)
        r = y[i] - b - h * shape
        s += wt[i] * r * r
    return s


@njit(cache=True)
def _normal_equations(x, y, wt, p, free, f, jac, a, g):
    evaluate(x, p, f, jac)
    a[:, :] = 0.0
    g[:] = 0.0
    for i in range(x.size):
        r = y[i] - f[i]
        for j in range(NPAR):
            if free[j]:
                wj = wt[i] * jac[i, j]
                g[j] += wj * r
                for k in range(j + 1):
                    if free[k]:
                        a[j, k] += wj * jac[i, k]
    for j in range(NPAR):
        if not free[j]:
            a[j, j] = 1.0
        for k in range(j):
            a[k, j] = a[j, k]


@njit(cache=True)
def _cholesky(m, low):
    """Lower Cholesky factor of the SPD matrix ``m`` into ``low``; False if not SPD."""
    n = m.shape[0]
    for j in range(n):
        s = m[j, j]
        for k in range(j):
            s -= low[j, k] * low[j, k]
        if not s > 0.0:
            return False
        d = math.sqrt(s)
        low[j, j] = d
        for i in range(j + 1, n):
            t = m[i, j]
            for k in range(j):
                t -= low[i, k] * low[j, k]
            low[i, j] = t / d
        for i in range(j):
            low[i, j] = 0.0
    return True


@njit(cache=True)
def _cho_solve(low, rhs, out):
    n = low.shape[0]
    for i in range(n):
        t = rhs[i]
        for k in range(i):
            t -= low[i, k] * out[k]
        out[i] = t / low[i, i]
    for i in range(n - 1, -1, -1):
        t = out[i]
        for k in range(i + 1, n):
            t -= low[k, i] * out[k]
        out[i] = t / low[i, i]


@njit(cache=True)
def _pin_eta_at_bound(a, g, p, free):
    """Hold ``eta`` fixed this iteration if it sits on a bound and the gradient pushes outwards.

    An active-set step: otherwise every step would be clipped at the bound and
    the other parameters would follow a direction computed for a free ``eta``.
    """
    if free[4] and ((p[4] <= 0.0 and g[4] < 0.0) or (p[4] >= 1.0 and g[4] > 0.0)):
        a[4, :] = 0.0
        a[:, 4] = 0.0
        a[4, 4] = 1.0
        g[4] = 0.0


@njit(cache=True)
def _gauss_newton_decrement(a, g, low, dp):
    """Chi-square decrease an undamped step would bring: how far the minimum still is."""
    if not _cholesky(a, low):
        return np.inf
    _cho_solve(low, g, dp)
    dec = 0.0
    for j in range(NPAR):
        dec += dp[j] * g[j]
    return dec


@njit(cache=True)
def fit_peak(x, y, wt, p0, free, max_iter):
    """Minimise the weighted chi-square over the free parameters from ``p0``.

    Returns ``(p, cov, chi2, status, iterations)`` where ``cov`` is the
    *unscaled* inverse of the weighted normal matrix (the caller scales it by
    the reduced chi-square) with zero rows and columns for fixed parameters.
    ``eta`` is kept in [0, 1] and the width positive by rejecting steps that
    leave those bounds.
    """
    n = x.size
    p = p0.copy()
    f = np.empty(n)
    jac = np.empty((n, NPAR))
    a = np.zeros((NPAR, NPAR))
    m = np.zeros((NPAR, NPAR))
    low = np.zeros((NPAR, NPAR))
    g = np.zeros(NPAR)
    dp = np.zeros(NPAR)
    trial = np.zeros(NPAR)
    chi2 = chi_square(x, y, wt, p)
    # round-off floor of the chi-square, so noise-free data converges too
    tiny = 0.0
    for i in range(n):
        tiny += wt[i] * y[i] * y[i]
    tiny *= 1e-24
    lam = 1e-3
    status = MAX_ITER
    it = 0
    while it < max_iter:
        _normal_equations(x, y, wt, p, free, f, jac, a, g)
        _pin_eta_at_bound(a, g, p, free)
        if _gauss_newton_decrement(a, g, low, dp) <= 1e-10 * chi2 + tiny:
            status = CONVERGED
            break
        it += 1
        accepted = False
        while lam < 1e12:
            for j in range(NPAR):
                for k in range(NPAR):
                    m[j, k] = a[j, k]
                m[j, j] = a[j, j] * (1.0 + lam) + 1e-300
            if not _cholesky(m, low):
                lam *= 10.0
                continue
            _cho_solve(low, g, dp)
            for j in range(NPAR):
                trial[j] = p[j] + dp[j] if free[j] else p[j]
            if trial[4] < 0.0:
                trial[4] = 0.0
            elif trial[4] > 1.0:
                trial[4] = 1.0
            if not trial[1] > 0.0:
                lam *= 10.0
                continue
            chi2_trial = chi_square(x, y, wt, trial)
            if chi2_trial < chi2:
                p[:] = trial
                chi2 = chi2_trial
                lam = max(lam * 0.1, 1e-12)
                accepted = True
                break
            lam *= 10.0
        if not accepted:  # no decrease possible within round-off: at the minimum
            status = CONVERGED
            break
    # covariance from the undamped normal matrix at the solution
    _normal_equations(x, y, wt, p, free, f, jac, a, g)
    cov = np.zeros((NPAR, NPAR))
    if not _cholesky(a, low):
        return p, cov, chi2, SINGULAR, it
    unit = np.zeros(NPAR)
    col = np.zeros(NPAR)
    for j in range(NPAR):
        unit[:] = 0.0
        unit[j] = 1.0
        _cho_solve(low, unit, col)
        for k in range(NPAR):
            cov[k, j] = col[k] if (free[j] and free[k]) else 0.0
    return p, cov, chi2, status, it


@njit(cache=True)
def fit_reweighted(x, y, weight_i0, p0, free, max_iter, reweights, floor_frac):
    """:func:`fit_peak` with photon-statistics weights, then scaled one-sigma errors.

    With ``reweights = 0`` each point is weighted by ``weight_i0`` alone.
    Otherwise the fit is repeated ``reweights`` times with weights
    ``weight_i0 / (model + floor_frac * height)`` from the current parameters
    (first from ``p0``): the inverse variance of an I0-normalised Poisson
    signal up to a constant.  Because that constant is unknown, the covariance
    is scaled by the reduced chi-square.

    Returns:
        ``(p, errors, reduced_chi2, status)``.
    """
    n = x.size
    wt = weight_i0 / weight_i0.mean()
    f = np.empty(n)
    jac = np.empty((n, NPAR))
    p = p0.copy()
    passes = max(reweights, 1)
    for _ in range(passes):
        if reweights > 0:
            evaluate(x, p, f, jac)
            floor = floor_frac * abs(p[2]) + 1e-300
            for i in range(n):
                wt[i] = weight_i0[i] / (max(f[i], 0.0) + floor)
            wt /= wt.mean()
        p, cov, chi2, status, it = fit_peak(x, y, wt, p, free, max_iter)
        if status == SINGULAR:
            break
    n_free = 0
    for j in range(NPAR):
        n_free += free[j]
    reduced = chi2 / max(n - n_free, 1)
    err = np.empty(NPAR)
    for j in range(NPAR):
        err[j] = math.sqrt(max(cov[j, j], 0.0) * reduced)
    return p, err, reduced, status
