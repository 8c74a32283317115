"""Physics of the simulated beamline, checked against the profile's numbers."""

from __future__ import annotations

import math

import numpy as np
import pytest

from expctl.devices import wait_all
from sim.physics.attenuation import Attenuation
from sim.physics.optics import RockingCurve, bragg_angle_deg, fwhm_of
from sim.physics.pump import PumpResponse
from sim.physics.rand import gammas, poissons
from sim.physics.source import BeamLoss, Source
from sim.truth import ground_truth, spot_bragg_offset, spot_peak_theta


def test_si_attenuation_length_and_transmission():
    att = Attenuation()
    assert att.length_um(10.0) == pytest.approx(134.0)
    assert att.length_um(8.0) == pytest.approx(134.0 * 0.8 ** 2.9)  # ~70 um, CXRO 69.8
    for t in (25.0, 200.0, 1575.0):
        assert att.transmission(t, 10.0) == pytest.approx(math.exp(-t / 134.0), rel=1e-12)
    with pytest.raises(ValueError, match="above the Si K edge"):
        att.length_um(1.5)


def test_measured_transmission_follows_exp(beamline, settle):
    """I0 (behind the attenuator) ratio with and without foils = exp(-t/lambda)."""
    settle(beamline, xray_shutter="open", pd_gain="low", attenuator=0)
    pd = beamline.devices["pd_i0"]
    wait_all([pd.trigger(3000)], beamline.clock)
    open_q = pd.read()["pd_i0"]
    settle(beamline, attenuator=200, pd_gain="high")
    wait_all([pd.trigger(3000)], beamline.clock)
    att_q = pd.read()["pd_i0"]
    # different shots: SASE x mono fluctuations (~61 % rms) average to ~1.1 % over 3000
    assert att_q / open_q == pytest.approx(math.exp(-200 / 134.0), rel=0.04)


def test_bragg_angle_of_si111_at_10kev():
    assert bragg_angle_deg(10.0, 3.1356) == pytest.approx(11.40, abs=0.005)


def test_rocking_curve_width_is_intrinsic_convolved_with_mosaic():
    perfect = RockingCurve(28.6, 0.5, 0.0)
    assert perfect.fwhm_urad == pytest.approx(28.6, rel=1e-3)
    mosaic = RockingCurve(28.6, 0.5, 20.0)
    # wider than either, narrower than their sum
    assert 28.6 < mosaic.fwhm_urad < 48.6
    x = np.linspace(-200, 200, 4001)
    assert fwhm_of(x, mosaic(x, broadening=2.0)) == pytest.approx(2 * mosaic.fwhm_urad,
                                                                  rel=1e-3)


def test_measured_rocking_fwhm_matches_configured_width(beamline, profile, settle):
    """Scan theta over spot 0 with many shots per point; FWHM of roi0/i0 within 5 %."""
    truth = ground_truth(profile)
    grid = beamline.spot_grids["sample"]
    x, y = grid.position(0)
    settle(beamline, sample_x=x, sample_y=y, xray_shutter="open", attenuator=200,
           pd_gain="high")
    peak = spot_peak_theta(profile, 0)
    span = math.degrees(4 * truth.rocking_fwhm_urad * 1e-6)
    thetas = peak + np.linspace(-span / 2, span / 2, 61)
    det, pd = beamline.devices["mpccd"], beamline.devices["pd_i0"]
    signal = []
    for th in thetas:
        settle(beamline, theta=float(th))
        wait_all([det.trigger(100), pd.trigger(100)], beamline.clock)
        signal.append(det.read()["mpccd.roi0"] / pd.read()["pd_i0"])
    x_urad = (thetas - peak) * math.pi / 180 * 1e6
    measured = fwhm_of(x_urad, np.asarray(signal))
    assert measured == pytest.approx(truth.rocking_fwhm_urad, rel=0.05)
    assert abs(x_urad[int(np.argmax(signal))]) < 5.0  # peak where the truth puts it


def test_spot_offsets_are_seeded_and_spread(profile):
    offs = np.array([spot_bragg_offset(profile, i) for i in range(400)])
    assert offs.std() == pytest.approx(25.0, rel=0.15)
    assert np.abs(offs).max() <= 60.0
    other = np.array([spot_bragg_offset(profile.with_seed(1), i) for i in range(400)])
    assert not np.allclose(offs, other)
    assert spot_bragg_offset(profile, 7) == spot_bragg_offset(profile, 7)


def test_sase_and_mono_pulse_energy_statistics():
    src = Source()
    tags = np.arange(0, 400_000, 2)
    shots = src.shots(123, tags)
    sase, probe = shots.sase_uj, shots.probe_uj
    assert sase.mean() == pytest.approx(500.0, rel=0.005)
    assert sase.std() / sase.mean() == pytest.approx(0.10, rel=0.02)
    # gamma(M=100): skewness 2/sqrt(M) = 0.2
    skew = np.mean(((sase - sase.mean()) / sase.std()) ** 3)
    assert skew == pytest.approx(0.2, abs=0.03)
    # the monochromatic probe fluctuates far more: sqrt((1+0.01)(1+0.36)-1) = 0.61
    assert probe.mean() == pytest.approx(4.0, rel=0.01)
    assert probe.std() / probe.mean() == pytest.approx(math.sqrt(1.01 * 1.36 - 1), rel=0.02)


def test_gamma_variates_match_distribution_quantiles():
    tags = np.arange(200_000)
    for shape in (0.7, 2.78, 100.0):
        g = gammas(5, tags, 30, shape)
        assert g.mean() == pytest.approx(shape, rel=0.01)
        assert g.var() == pytest.approx(shape, rel=0.03)
    # exponential (shape 1): P(X > 2) = e^-2
    assert np.mean(gammas(5, tags, 30, 1.0) > 2.0) == pytest.approx(math.exp(-2), rel=0.02)


def test_poisson_variates_small_and_large_means():
    tags = np.arange(100_000)
    for lam in (0.05, 3.0, 40.0, 2000.0):
        k = poissons(9, tags, 70, np.full(tags.shape, lam))
        assert k.mean() == pytest.approx(lam, rel=0.02 if lam > 1 else 0.06)
        assert k.var() == pytest.approx(lam, rel=0.04 if lam > 1 else 0.08)
    k = poissons(9, tags, 70, np.full(tags.shape, 0.5))
    assert np.mean(k == 0) == pytest.approx(math.exp(-0.5), rel=0.01)


def test_pump_response_average_is_the_emg():
    resp = PumpResponse(-0.3, 0.35, 2.0, 0.1)
    rng = np.random.default_rng(1)
    for delay in (-0.5, 0.2, 0.35, 0.5, 3.0):
        shots = resp.per_shot(delay + 0.1 * rng.standard_normal(400_000))
        assert shots.mean() == pytest.approx(resp.expected_response(np.array([delay]))[0],
                                             abs=2e-3)
    assert resp.expected_response(np.array([-1000.0, 1000.0])) == pytest.approx([0, 0], abs=1e-12)
    assert resp.per_shot(np.array([0.35]))[0] == pytest.approx(-0.3)


def test_beam_loss_episodes_are_seeded_and_off_by_default():
    assert BeamLoss(1).episodes(1e6) == []
    a = BeamLoss(1, rate_per_hour=2.0, mean_duration_s=30.0)
    eps = a.episodes(36_000.0)
    assert 8 <= len(eps) <= 35
    assert a.episodes(7200.0) == [e for e in eps if e[0] < 7200.0]
    start, end = eps[0]
    on = a.beam_on(np.array([start - 0.1, (start + end) / 2, end + 0.1]))
    assert on.tolist() == [True, False, True]
