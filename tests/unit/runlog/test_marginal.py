"""η integrated out of the pump-response errors (expctl.runlog.marginal)."""

from __future__ import annotations

import numpy as np

from expctl.analysis.lsq import covariance, hessian
from expctl.runlog import fit_pump_response
from expctl.runlog.likelihood import PumpLikelihood, PumpParams
from expctl.runlog.marginal import marginal_covariance
from tests.unit.runlog.test_fit import FINE, KNOWN, _shots


def _at_fit(shots):
    fit = fit_pump_response(shots, jitter=KNOWN)
    like = PumpLikelihood(shots, sigma=KNOWN.value, prior=KNOWN.prior, baseline=False)
    q = like.pack(PumpParams(fit.t0, fit.amplitude, fit.tau, KNOWN.value, 0.0, fit.noise,
                             fit.response_noise))
    return like, q


def test_integrating_out_eta_widens_the_errors_only_as_far_as_the_data_allow(rng):
    """A response scattering by 15 %, 34 shots: t0's, A's and τ's errors with η integrated
    out are no smaller than with η fixed at its best value, and not grossly larger."""
    like, q = _at_fit(_shots(rng, FINE, per_delay=2, noise=0.02, response_noise=0.15))
    fixed = np.diag(covariance(0.5 * hessian(like.nll, q, like.steps(q))))[:3]
    integrated = np.diag(marginal_covariance(like, q))[:3]
    ratio = np.sqrt(integrated / fixed)
    assert np.all((ratio > 0.95) & (ratio < 1.6)), ratio
    assert ratio[1] > 1.05  # A: its error depends on η most


def test_held_parameters_have_no_spread(rng):
    like, q = _at_fit(_shots(rng, FINE, per_delay=2, noise=0.02, response_noise=0.15))
    cov = marginal_covariance(like, q, held=(0,))
    assert np.all(cov[0] == 0.0) and np.all(cov[:, 0] == 0.0)
    eta = like.index["response_noise"]
    assert cov[1, 1] > 0.0 and cov[eta, eta] > 0.0 and np.all(np.isfinite(cov))
