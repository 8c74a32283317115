"""The pump-response fit on single pumped shots: honest errors, and saying when it does not know."""

from __future__ import annotations

import numpy as np
import pytest

from expctl.analysis.lsq import covariance
from expctl.runlog import Jitter, PumpedShots, fit_pump_response
from expctl.runlog.fit import diagnose
from expctl.runlog.likelihood import jitter_variance

FINE = np.array([-1.0, -0.5, 0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.8, 1.0, 1.5, 2.0, 3.0, 4.0,
                 6.0, 8.0])
KNOWN = Jitter(0.1, "given")


def _shots(rng, delays, *, per_delay=4, t0=0.35, amplitude=-0.3, tau=2.0, jitter=0.1,
           noise=0.05, offset=1.0, faint=(), response_noise=0.0):
    """Single pumped shots: Gamma I0 weights, relative noise ∝ 1/√I0, timing jitter; the
    pumped shots' calibration times ``offset`` (1: none); shots at the ``faint`` delays
    have 1 % of the I0 (ten times the noise); each shot's change scaled by 1 + N(0,
    ``response_noise``) (a pump whose pulse energy jitters)."""
    d = np.repeat(np.asarray(delays, dtype=float), per_delay)
    u = d + rng.normal(0.0, jitter, d.size) - t0
    f = np.where(u >= 0, amplitude * np.exp(-np.clip(u, 0, None) / tau), 0.0)
    if response_noise:  # (drawn only then: the other tests keep their data)
        f = f * (1.0 + rng.normal(0.0, response_noise, d.size))
    w = rng.gamma(4.0, 0.25, d.size) * np.where(np.isin(d, faint), 0.01, 1.0)
    x = offset * (1.0 + f) * (1.0 + rng.normal(0.0, noise / np.sqrt(w))) - 1.0
    bins = np.searchsorted(np.unique(d), d)
    return PumpedShots(d, x, w / w.mean(), bins, np.full(len(np.unique(d)), 1e-6))


@pytest.mark.slow
def test_errors_are_honest_over_repeated_campaigns(rng):
    """Pulls (fit − truth)/error of t0, τ and A have unit spread (20 data sets)."""
    pulls = []
    for _ in range(20):
        fit = fit_pump_response(_shots(rng, FINE), jitter=KNOWN)
        assert fit.complete, fit.undetermined
        pulls.append([(fit.t0 - 0.35) / fit.t0_err, (fit.tau - 2.0) / fit.tau_err,
                      (fit.amplitude + 0.3) / fit.amplitude_err])
    spread = np.std(pulls, axis=0, ddof=1)
    assert np.all((spread > 0.55) & (spread < 1.5)), spread
    assert np.all(np.abs(np.mean(pulls, axis=0)) < 0.7)


def test_a_response_that_varies_from_shot_to_shot_widens_the_errors(rng):
    """Each shot's change scattered by 15 % (three times the photon noise at time zero):
    the fit finds that response noise η, and the pulls of A and τ over 8 data sets of 34
    shots have unit spread — η integrated out, not fixed at its best value, which such a
    draw can put near 0.  (Errors from photon noise alone gave spreads of 1.6–2.4.)"""
    pulls, etas = [], []
    for _ in range(8):
        fit = fit_pump_response(_shots(rng, FINE, per_delay=2, noise=0.02,
                                       response_noise=0.15), jitter=KNOWN)
        assert fit.complete, fit.undetermined
        pulls += [(fit.tau - 2.0) / fit.tau_err, (fit.amplitude + 0.3) / fit.amplitude_err]
        etas.append(fit.response_noise)
    assert 0.6 < np.std(pulls, ddof=1) < 1.45, pulls
    assert 0.1 < np.mean(etas) < 0.2, etas


def test_one_pumped_shot_per_delay_still_has_errors(rng):
    fit = fit_pump_response(_shots(rng, np.r_[FINE, 1.2, 2.5, 5.0, 10.0], per_delay=1),
                            jitter=KNOWN)
    assert fit.complete and np.isfinite(fit.t0_err) and 0.03 < fit.noise < 0.08
    assert np.all(np.isfinite(fit.bin_errors))


def test_the_fitted_jitter_has_a_prior_and_says_so(rng):
    fit = fit_pump_response(_shots(rng, FINE, per_delay=8))
    assert fit.sigma_fitted and fit.sigma_source.startswith("fitted, log-normal prior")
    assert abs(fit.sigma - 0.1) < 3 * fit.sigma_err
    fixed = fit_pump_response(_shots(rng, FINE), jitter=Jitter(0.12, "timing tool tt/x"))
    assert not fixed.sigma_fitted and fixed.sigma == 0.12 and fixed.sigma_err == 0.0
    assert fixed.sigma_source == "timing tool tt/x: 0.12"


def test_too_few_delays_for_the_parameters(rng):
    fit = fit_pump_response(_shots(rng, [-1.0, 0.0, 1.0, 2.0, 4.0]))
    assert not fit.converged and np.isnan(fit.t0)
    why = ("only 5 delays have pumped shots; fitting 4 parameters (t0, amplitude, tau, sigma) "
           "needs at least 6: measure more delays")
    assert fit.undetermined == {k: why for k in ("t0", "amplitude", "tau", "sigma")}


@pytest.mark.parametrize(("delays", "kwargs", "jitter", "name", "message"), [
    # a sharp edge between delays 1 ps apart whose shots are too faint to tell the step
    ([-2.0, -1.0, 0.0, 1.0, 2.0, 3.0, 4.0, 6.0, 8.0], {"t0": 0.25, "jitter": 0.01,
                                                       "noise": 0.03, "faint": (0.0, 1.0)},
     Jitter(0.01, "given"), "t0", "t0 is not constrained: no delay within 2σ (0.020 ps) of "
                                  "the edge at"),
    # the whole scan lies after time zero
    ([0.5, 0.7, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0], {"t0": -1.0}, KNOWN, "t0",
     "lies outside the scanned delays 0.5…6 ps; extend the scan across it"),
    # a recovery far slower than the scan
    ([-1.0, -0.5, 0.0, 0.2, 0.4, 0.6, 0.8, 1.0, 1.5, 2.0], {"tau": 40.0}, KNOWN, "tau",
     "tau is not constrained: the response has not recovered by the last delay (2 ps;"),
    # a recovery faster than the delay steps after t0
    ([-2.0, -1.0, 0.0, 0.3, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0], {"tau": 0.05, "t0": 0.28,
                                                            "jitter": 0.02, "per_delay": 10,
                                                            "amplitude": -0.6},
     Jitter(0.02, "given"), "tau", "tau is not constrained: only"),
    # no response at all
    (FINE, {"amplitude": 0.0}, KNOWN, "amplitude",
     "no significant pump response: the data fit no response at all nearly as well"),
])
def test_each_undetermined_case_names_what_to_measure(rng, delays, kwargs, jitter, name,
                                                      message):
    fit = fit_pump_response(_shots(rng, delays, **kwargs), jitter=jitter)
    assert name in fit.undetermined and not fit.complete
    assert message in fit.undetermined[name], fit.undetermined[name]


def test_a_sharp_edge_is_bracketed_by_the_delays_around_it(rng):
    """Edges 10 fs wide between delays 0.5 ps apart: t0 is the step's midpoint ± step/√12
    (given or fitted jitter), and A — the change at t0 — is carried to the midpoint."""
    delays = [-2.0, -1.0, -0.5, 0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0, 8.0]
    for jitter in (Jitter(0.01, "given"), Jitter()):
        fit = fit_pump_response(_shots(rng, delays, t0=0.25, jitter=0.01), jitter=jitter)
        assert fit.complete, fit.undetermined
        assert fit.bracketed and fit.t0_bracket == (0.0, 0.5)
        assert fit.t0 == 0.25 and fit.t0_err == pytest.approx(0.5 / np.sqrt(12.0))
        assert abs(fit.amplitude + 0.3) < 3 * fit.amplitude_err < 0.1
        assert abs(fit.tau - 2.0) < 3 * fit.tau_err


def test_a_jitter_asked_for_but_not_resolved(rng):
    coarse = [-2.0, -1.0, 0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0, 8.0]
    fit = fit_pump_response(_shots(rng, coarse, t0=0.3, jitter=0.01),
                            jitter=Jitter(of_interest=True))
    assert fit.undetermined["sigma"].startswith("the jitter sigma is not resolved: sigma = ")
    assert fit.undetermined["sigma"].endswith("with delay steps of 0.5 ps near t0; sample finer "
                                              "than sigma around t0, or give --jitter or a "
                                              "timing tool")
    # the same data with σ a nuisance: no complaint about σ itself
    assert "sigma" not in fit_pump_response(_shots(rng, coarse, t0=0.3, jitter=0.01)
                                            ).undetermined


def test_baseline_absorbs_an_on_off_calibration_offset(rng):
    shots = _shots(rng, FINE, per_delay=6, offset=1.03)  # pumped shots read 3 % high
    plain = fit_pump_response(shots, jitter=KNOWN)
    fit = fit_pump_response(shots, jitter=KNOWN, baseline=True)
    assert fit.baseline_fitted and abs(fit.baseline - 0.03) < 3 * fit.baseline_err
    assert abs(fit.tau - 2.0) < 3 * fit.tau_err and abs(fit.t0 - 0.35) < 3 * fit.t0_err
    assert fit.chi2 < plain.chi2 and abs(fit.curve(np.array([-5.0]))[0] - fit.baseline) < 1e-12
    no_negative = _shots(rng, FINE[FINE >= 0.5], per_delay=6)
    assert "the baseline is not constrained: no delay before time zero" in fit_pump_response(
        no_negative, jitter=KNOWN, baseline=True).undetermined.get("baseline", "") or \
        "t0" in fit_pump_response(no_negative, jitter=KNOWN, baseline=True).undetermined


def test_jitter_variance_inflates_only_the_bins_near_time_zero():
    t = np.array([-1.0, 0.25, 3.0])
    var = jitter_variance(t, 0.25, -0.3, 2.0, 0.1)
    assert var[0] < 1e-12
    assert var[1] == pytest.approx(0.3 ** 2 * 0.25, rel=0.1)  # a coin flip between 0 and A
    assert var[2] < 1e-3


def test_covariance_drops_only_the_directions_the_data_do_not_fix():
    # parameters 0 and 1 enter only as their sum: that direction is dropped, 2 is kept
    degenerate = np.array([[1.0, 1.0, 0.0], [1.0, 1.0, 0.0], [0.0, 0.0, 2.0]])
    cov = covariance(degenerate)
    assert cov[2, 2] == pytest.approx(0.5)
    assert np.isnan(cov[:2, :2]).sum() >= 3 and np.isnan(cov[:2, 2]).any()
    assert np.allclose(covariance(np.diag([4.0, 9.0])), np.diag([0.25, 1 / 9]))
    assert np.isnan(covariance(np.full((2, 2), np.nan))).all()
    assert np.isnan(covariance(np.array([[1.0, 0.0], [0.0, -1.0]]))[1, 1])


def test_diagnose_reads_nan_errors_as_flat_directions(rng):
    fit = fit_pump_response(_shots(rng, FINE), jitter=KNOWN)
    from dataclasses import replace

    broken = replace(fit, tau_err=float("nan"))
    why = diagnose(broken, np.unique(FINE), KNOWN)
    assert why == {"tau": "tau is not constrained: the likelihood is flat in it (its "
                          "uncertainty is undefined)"}
