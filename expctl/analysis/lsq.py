"""Generic numerical fitting: least squares, minimisation, derivatives, covariance.

numpy only, for models with a handful of parameters evaluated on at most a few
thousand points — the pump-response fit of a reduction, say.  Rocking-curve
peaks have their own kernels (:mod:`expctl.analysis._peakfit`, numba, and its numpy
twin :mod:`expctl.analysis._peakfit_py`) because one is fitted at every spot of a
campaign; everything else fits with these.

* :func:`levenberg_marquardt` minimises a sum of squared residuals;
* :func:`nelder_mead` minimises any scalar function (a negative log-likelihood
  whose variances depend on the parameters is not a sum of squares);
* :func:`hessian` and :func:`covariance` turn the curvature at the optimum into
  errors, with NaN — not a huge number — for directions the data do not fix
  (:func:`gradient_and_hessian` also gives the slope, for a Newton step);
* :func:`erfc` / :func:`erfcx`, vectorised, for line shapes built on them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

__all__ = ["LsqResult", "covariance", "erfc", "erfcx", "gradient_and_hessian", "hessian",
           "jacobian", "levenberg_marquardt", "nelder_mead"]

#: Condition number above which a curvature matrix counts as singular.
COND_MAX = 1e12


def erfcx(z: np.ndarray) -> np.ndarray:
    """``exp(z²)·erfc(z)`` for ``z ≥ 0``: Chebyshev fit, fractional error < 1.2e-7.

    (Numerical Recipes' ``erfcc`` without its ``exp(−z²)``; numpy has no erfc,
    and this vectorised form keeps likelihood fits fast.)
    """
    t = 1.0 / (1.0 + 0.5 * np.asarray(z, dtype=np.float64))
    poly = -1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (
        -0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (
            -0.82215223 + t * 0.17087277))))))))
    return t * np.exp(poly)


def erfc(x: np.ndarray) -> np.ndarray:
    """Elementwise complementary error function (see :func:`erfcx` for the accuracy)."""
    z = np.abs(np.asarray(x, dtype=np.float64))
    upper = erfcx(z) * np.exp(-z * z)
    return np.where(np.asarray(x) >= 0.0, upper, 2.0 - upper)


def jacobian(fn: Callable[[np.ndarray], np.ndarray], p: np.ndarray,
             scale: np.ndarray) -> np.ndarray:
    """Central differences, with steps of 1e-6 of each parameter's natural ``scale``."""
    cols = []
    for k in range(len(p)):
        h = 1e-6 * scale[k]
        dp = np.zeros_like(p)
        dp[k] = h
        cols.append((fn(p + dp) - fn(p - dp)) / (2.0 * h))
    return np.stack(cols, axis=1)


@dataclass(frozen=True, slots=True)
class LsqResult:
    """Where :func:`levenberg_marquardt` ended: parameters, χ², whether it converged."""

    p: np.ndarray
    chi2: float
    converged: bool


def levenberg_marquardt(resid: Callable[[np.ndarray], np.ndarray], p0: np.ndarray,
                        scale: np.ndarray, *, max_iter: int = 200) -> LsqResult:
    """Minimise ``Σ resid(p)²`` from ``p0`` (residuals already divided by their errors).

    Args:
        resid: weighted residuals as a function of the parameters.
        p0: start values.
        scale: a natural size of each parameter (sets the Jacobian steps).
        max_iter: Jacobian evaluations allowed.
    """
    p = np.asarray(p0, dtype=np.float64)
    r = resid(p)
    chi2 = float(r @ r)
    lam = 1e-3
    for _ in range(max_iter):
        jac = jacobian(resid, p, scale)
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
                    return LsqResult(p, chi2, True)
                break
            lam *= 10.0
        if not improved:  # no step lowers χ² within round-off: at the minimum
            return LsqResult(p, chi2, True)
    return LsqResult(p, chi2, False)


def nelder_mead(fn: Callable[[np.ndarray], float], x0: np.ndarray, step: np.ndarray, *,
                max_iter: int = 4000, tol: float = 1e-8) -> tuple[np.ndarray, float]:
    """Minimise ``fn`` from ``x0`` (reflection, expansion, contraction, shrink).

    Stops when the simplex's values agree to ``tol`` (a log-likelihood needs no
    better than 1e-8) or after ``max_iter`` iterations; returns the best vertex.
    """
    n = len(x0)
    simplex = [np.asarray(x0, dtype=np.float64)]
    simplex += [simplex[0] + np.eye(n)[k] * step[k] for k in range(n)]
    values = [fn(x) for x in simplex]
    for _ in range(max_iter):
        order = np.argsort(values)
        simplex = [simplex[k] for k in order]
        values = [values[k] for k in order]
        if abs(values[-1] - values[0]) <= tol:
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


def hessian(fn: Callable[[np.ndarray], float], x: np.ndarray, steps: np.ndarray) -> np.ndarray:
    """Central-difference Hessian of ``fn`` at ``x`` with one step per parameter."""
    return gradient_and_hessian(fn, x, steps)[1]


def gradient_and_hessian(fn: Callable[[np.ndarray], float], x: np.ndarray,
                         steps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Central-difference gradient and Hessian of ``fn`` at ``x`` (one set of evaluations)."""
    k = len(x)
    h = np.asarray(steps, dtype=np.float64)
    grad = np.empty(k)
    out = np.empty((k, k))
    f0 = fn(x)
    for i in range(k):
        di = np.zeros(k)
        di[i] = h[i]
        up, down = fn(x + di), fn(x - di)
        grad[i] = (up - down) / (2.0 * h[i])
        out[i, i] = (up - 2.0 * f0 + down) / (h[i] * h[i])
        for j in range(i + 1, k):
            dj = np.zeros(k)
            dj[j] = h[j]
            out[i, j] = out[j, i] = (fn(x + di + dj) - fn(x + di - dj) - fn(x - di + dj)
                                     + fn(x - di - dj)) / (4.0 * h[i] * h[j])
    return grad, out


def covariance(curvature: np.ndarray) -> np.ndarray:
    """Inverse of a curvature (Fisher) matrix, NaN in the rows and columns it cannot fix.

    A direction the data do not fix shows as a (near) zero or negative
    eigenvalue.  The parameter that dominates it is dropped (its variance NaN:
    undetermined — honest, where inverting would print a huge meaningless
    number) and the rest inverted again, until what is left is well
    conditioned.  The kept errors are then conditional on the dropped
    parameters, which is what they are when the data ignore those.  (A
    parameter the data barely touch but which correlates with nothing keeps
    its large error: only the caller knows what is large for it.)
    """
    m = np.asarray(curvature, dtype=np.float64)
    out = np.full(m.shape, np.nan)
    if not np.all(np.isfinite(m)):
        return out
    keep = list(range(len(m)))
    while keep:
        sub = 0.5 * (m[np.ix_(keep, keep)] + m[np.ix_(keep, keep)].T)
        diag = np.diag(sub)
        if np.any(diag <= 0.0):
            keep.pop(int(np.argmin(diag)))
            continue
        scale = 1.0 / np.sqrt(diag)
        eig, vec = np.linalg.eigh(sub * np.outer(scale, scale))  # correlation form
        if eig[0] > eig[-1] / COND_MAX:
            out[np.ix_(keep, keep)] = np.linalg.inv(sub)
            break
        keep.pop(int(np.argmax(np.abs(vec[:, 0]))))
    return out
