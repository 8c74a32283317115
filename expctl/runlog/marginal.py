"""Errors of the pump-response fit with the response noise η integrated out.

η (:mod:`expctl.runlog.likelihood`) is a variance component, and the few dozen
pumped shots after time zero of a campaign fix it only roughly: its best value
often comes out near 0 by chance.  Inverse-Hessian errors at the best fit treat
η as known, so exactly then A's and τ's errors come out too small (on 24
simulated bl3 campaigns, pull standard deviations of A and τ of 1.46 and 1.39
with η fixed at its best value; 1.15 and 1.24 integrated, and over 48
campaigns 0.98 and 1.12).  Here η is integrated over its posterior
instead, with a flat prior on ``|η|`` (the usual weak prior on the scale of a
variance component: Gelman, *Bayesian Analysis* 1, 515 (2006)): on a grid of
``|η|`` from 0 to where −2 log L, the other parameters refitted, has risen by
:data:`REACH` above its minimum, each point gets its Laplace covariance of
the other parameters and the weight ``exp(−Δ/2)·det(H)^(−1/2)`` (their
Laplace integral); the covariance returned is the mixture's second moment
about the best fit — the spread of the refitted values across η included.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from expctl.analysis.lsq import covariance, gradient_and_hessian, hessian, nelder_mead
from expctl.runlog.likelihood import PumpLikelihood

__all__ = ["GRID", "REACH", "marginal_covariance"]

#: −2 Δlog L above the minimum up to which the grid over |η| reaches (about 3.5σ).
REACH = 12.0
#: Points of the grid over |η| (trapezoidal rule).
GRID = 8
#: −2 log L by which a Newton step may miss (round-off at the optimum itself).
NEWTON_SLACK = 1e-6
#: Doublings of the search for the grid's upper end before η counts as unbounded.
MAX_DOUBLINGS = 12


def marginal_covariance(like: PumpLikelihood, q: np.ndarray,
                        held: Sequence[int] = ()) -> np.ndarray:
    """Covariance of the packed parameters at the best fit ``q`` with η integrated out.

    Parameters at the indices ``held`` are fixed (their rows and columns 0); η's
    own row is its posterior spread about ``|q[η]|``.  NaN where a parameter is
    undetermined at some η of the grid (:func:`~expctl.analysis.lsq.covariance`).
    """
    eta = like.index["response_noise"]
    free = [k for k in range(len(q)) if k != eta and k not in held]
    best = np.asarray(q, dtype=np.float64).copy()
    best[eta] = abs(best[eta])
    points = []
    start = best
    for value in _grid(like, best, free):  # each refit starts from its neighbour's
        points.append(_refit(like, start, free, float(value)))
        start = points[-1][0]
    log_weight = np.array([-0.5 * value for _, value, _ in points])
    logdets = [_logdet(curv) for _, _, curv in points]
    if all(math.isfinite(d) for d in logdets):  # the Laplace integral of the others
        log_weight -= 0.5 * np.array(logdets)
    weight = np.exp(log_weight - log_weight.max())
    weight[[0, -1]] *= 0.5  # trapezoidal rule
    weight /= weight.sum()
    out = np.zeros((len(q), len(q)))
    for w, (at, _, curv) in zip(weight, points, strict=True):
        cov = np.zeros((len(q), len(q)))
        cov[np.ix_(free, free)] = covariance(curv)
        d = at - best
        out += w * (cov + np.outer(d, d))
    return out


def _grid(like: PumpLikelihood, best: np.ndarray, free: list[int]) -> np.ndarray:
    """|η| from 0 to where −2 log L (others refitted) exceeds the best fit's by :data:`REACH`.

    The search starts one natural step above the best |η| — κ/|A|, a response
    noise as large as the photon noise of a mean shot at time zero — and doubles it.
    """
    p = like.unpack(best)
    floor = like.nll(best)
    step = p.noise / max(abs(p.amplitude), p.noise)
    start = best
    for _ in range(MAX_DOUBLINGS):
        top = abs(p.response_noise) + step
        start, value, _ = _refit(like, start, free, top)
        if value - floor >= REACH:
            break
        step *= 2.0
    return np.linspace(0.0, top, GRID)


def _refit(like: PumpLikelihood, start: np.ndarray, free: list[int], eta: float
           ) -> tuple[np.ndarray, float, np.ndarray]:
    """The parameters refitted from ``start`` with η held at ``eta``, their −2 log L and
    the curvature (½ Hessian) in the ``free`` ones.

    ``start`` is a neighbouring point of the grid, so one Newton step usually lands on
    the optimum (its curvature is the one returned); where it does not lower −2 log L,
    Nelder–Mead refits.
    """
    base = start.copy()
    base[like.index["response_noise"]] = eta

    def nll(sub: np.ndarray) -> float:
        x = base.copy()
        x[free] = sub
        return like.nll(x)

    steps = like.steps(base)[free]
    here = base[free]
    grad, curv = gradient_and_hessian(nll, here, steps)
    value = nll(here)
    if math.isfinite(_logdet(curv)):  # positive definite: a Newton step
        moved = here - np.linalg.solve(curv, grad)
        if (moved_value := nll(moved)) <= value + NEWTON_SLACK:
            base[free] = moved
            return base, moved_value, 0.5 * curv
    sub, value = nelder_mead(nll, here, steps * 10.0, tol=1e-7)
    base[free] = sub
    return base, value, 0.5 * hessian(nll, sub, steps)


def _logdet(curvature: np.ndarray) -> float:
    """log det of a curvature matrix, NaN unless it is positive definite."""
    sign, logdet = np.linalg.slogdet(0.5 * (curvature + curvature.T))
    return float(logdet) if sign > 0 else math.nan
