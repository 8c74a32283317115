"""Physics of the simulated beamline, each model checked against its source (sim/PHYSICS.md).

Every test names the source of the value it checks: tabulated data (xraydb 4.5:
Elam attenuation, Waasmaier–Kirfel f0, Chantler f′/f″, Als-Nielsen & McMorrow
dynamical theory), a paper or facility page, or first principles.
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest

from expctl.devices import wait_all
from expctl.pump_response import PumpResponse
from sim.physics.attenuation import Attenuation
from sim.physics.beamline import Physics
from sim.physics.optics import Reflection, RockingCurve, bragg_angle_deg, fwhm_of, photons_per_uj
from sim.physics.rand import gammas, poissons
from sim.physics.source import BeamLoss, Source
from sim.truth import ground_truth, spot_bragg_offset, spot_peak_theta

xraydb = pytest.importorskip("xraydb", reason="xraydb is the source of the tabulated values")

SI111 = Reflection()


# ---------------------------------------------------------------- crystal optics (xraydb)

def test_si111_form_factors_are_xraydbs():
    """Source: xraydb f0 (Waasmaier–Kirfel) at q = 1/(2d), f1/f2 (Chantler) at 10 keV."""
    q = 0.5 / SI111.d_spacing_angstrom
    assert SI111.f0_q == pytest.approx(float(xraydb.f0("Si", q)[0]), abs=1e-3)
    assert SI111.f0_forward == pytest.approx(float(xraydb.f0("Si", 0.0)[0]), abs=2e-3)
    assert SI111.f1 == pytest.approx(xraydb.f1_chantler("Si", 10_000.0), abs=1e-3)
    assert SI111.f2 == pytest.approx(xraydb.f2_chantler("Si", 10_000.0), abs=1e-3)


@pytest.mark.parametrize("energy", [8.0, 12.0])
def test_fixed_form_factors_keep_the_darwin_width_away_from_10kev(energy):
    """Source: xraydb.darwin_width at 8 and 12 keV: f′ and f″ held at their 10 keV values
    give the Darwin width within 1 % (f0 dominates) and its peak within 2.5 %."""
    dw = xraydb.darwin_width(energy * 1e3, "Si", (1, 1, 1))
    zeta = np.asarray(dw.zeta)
    ours = SI111.reflectivity(zeta, energy)
    x = zeta * math.tan(dw.theta) * 1e6
    assert fwhm_of(x, ours) == pytest.approx(dw.theta_fwhm * 1e6, rel=0.01)
    assert ours.max() == pytest.approx(np.max(dw.intensity), rel=0.025)


def test_kinematic_bragg_angle_of_si111_at_10kev():
    """Source: Bragg's law with a(Si) = 5.4309 A (xraydb's lattice constant)."""
    dw = xraydb.darwin_width(10_000.0, "Si", (1, 1, 1))
    assert SI111.bragg_deg(10.0) == pytest.approx(math.degrees(dw.theta), abs=1e-6)
    assert bragg_angle_deg(10.0, 3.13553) == pytest.approx(11.403, abs=0.001)


def test_darwin_curve_matches_xraydb():
    """Source: xraydb.darwin_width (Als-Nielsen & McMorrow 6.4): Si(111), 10 keV, s-pol."""
    dw = xraydb.darwin_width(10_000.0, "Si", (1, 1, 1))
    tan = math.tan(dw.theta)
    zeta = np.asarray(dw.zeta)
    ours = SI111.reflectivity(zeta, 10.0)
    assert ours == pytest.approx(np.asarray(dw.intensity), rel=0.005)  # form factors rounded
    x = zeta * tan * 1e6
    assert fwhm_of(x, ours) == pytest.approx(dw.theta_fwhm * 1e6, rel=0.005)  # 28.6 urad
    assert ours.max() == pytest.approx(0.961, abs=0.001)  # absorption: below 1
    assert SI111.zeta_width(10.0) * 10_000.0 == pytest.approx(dw.energy_width, rel=1e-4)


def test_refraction_shift_matches_xraydb():
    """Source: xraydb.darwin_width theta_offset: the reflection peaks 25.2 urad above the
    kinematic Bragg angle (Si(111), 10 keV)."""
    dw = xraydb.darwin_width(10_000.0, "Si", (1, 1, 1))
    assert SI111.refraction_shift_urad(10.0) == pytest.approx(dw.theta_offset * 1e6, rel=1e-4)
    assert SI111.refraction_shift_urad(10.0) == pytest.approx(25.2, abs=0.1)


def test_two_crystal_rocking_curve_matches_xraydb():
    """Source: xraydb.darwin_width rocking_curve (one crystal rocked against another):
    FWHM 38.0 urad, peak 0.75 (xraydb truncates the tails: its peak is 2 % high)."""
    dw = xraydb.darwin_width(10_000.0, "Si", (1, 1, 1))
    one = RockingCurve(mono_reflections=1)
    assert one.fwhm_urad == pytest.approx(dw.rocking_theta_fwhm * 1e6, rel=0.01)
    assert one.peak == pytest.approx(dw.rocking_curve.max(), rel=0.03)


def test_measured_rocking_curve_behind_a_double_crystal_mono():
    """Source: dynamical theory as above; a DCM passes R(ζ)² (two reflections), so the
    sample's curve rocked across it is narrower (34.0 urad) and peaks higher (0.89) than
    the single-crystal autocorrelation, peaking where the sample's reflection is centred."""
    dcm = RockingCurve(mono_reflections=2)
    assert dcm.fwhm_urad == pytest.approx(34.0, abs=0.2)
    assert dcm.peak == pytest.approx(0.892, abs=0.002)
    assert abs(dcm.peak_offset_urad) < 0.3


def test_mosaic_is_a_sample_option_that_broadens_the_curve():
    """Source: a Gaussian mosaic spread convolves the perfect-crystal curve (the integrated
    reflectivity is kept)."""
    perfect = RockingCurve()
    mosaic = RockingCurve(mosaic_fwhm_urad=40.0)
    assert math.hypot(perfect.fwhm_urad, 40.0) == pytest.approx(mosaic.fwhm_urad, rel=0.1)
    x = np.linspace(-400.0, 400.0, 8001)
    assert np.trapezoid(mosaic(x), x) == pytest.approx(np.trapezoid(perfect(x), x), rel=0.01)
    assert fwhm_of(x, perfect(x, broadening=2.0)) == pytest.approx(2 * perfect.fwhm_urad,
                                                                  rel=1e-3)


def test_measured_rocking_fwhm_and_peak_match_the_truth(beamline, profile, settle):
    """Scan theta over spot 0 with many shots per point: the FWHM of roi0/i0 is the dynamical
    theory's 34.0 urad, the peak sits at the kinematic angle + refraction + the spot's offset,
    and the detected photons there are incident photons x 0.89 x quantum efficiency."""
    truth = ground_truth(profile)
    grid = beamline.spot_grids["sample"]
    x, y = grid.position(0)
    settle(beamline, sample_x=x, sample_y=y, xray_shutter="open", attenuator=1750,
           pd_gain="high")
    peak = spot_peak_theta(profile, 0)
    span = math.degrees(4 * truth.rocking_fwhm_urad * 1e-6)
    thetas = peak + np.linspace(-span / 2, span / 2, 61)
    det, pd = beamline.devices["mpccd"], beamline.devices["pd_i0"]
    signal, photons = [], []
    for th in thetas:
        settle(beamline, theta=float(th))
        wait_all([det.trigger(100), pd.trigger(100)], beamline.clock)
        reading = det.read()
        signal.append(reading["mpccd.roi0"] / pd.read()["pd_i0"])
        photons.append(reading["mpccd.nphot"])
    x_urad = (thetas - peak) * math.pi / 180 * 1e6
    assert fwhm_of(x_urad, np.asarray(signal)) == pytest.approx(truth.rocking_fwhm_urad,
                                                                rel=0.05)
    assert abs(x_urad[int(np.argmax(signal))]) < 3.0
    pd_t = beamline.world.model.pd.transmission(10.0)
    incident = (truth.probe_pulse_energy_uj * math.exp(-1750 / 127.2) * pd_t
                * photons_per_uj(10.0))
    # 100-shot means of a 61 % rms probe: 6 % per point
    assert max(photons) == pytest.approx(incident * truth.peak_reflectivity
                                         * truth.quantum_efficiency, rel=0.15)


def test_spot_offsets_are_seeded_and_spread(profile):
    """Source: profile (strain of the plate, 25 urad rms clipped at 60 urad), seeded."""
    offs = np.array([spot_bragg_offset(profile, i) for i in range(400)])
    assert offs.std() == pytest.approx(25.0, rel=0.15)
    assert np.abs(offs).max() <= 60.0
    other = np.array([spot_bragg_offset(profile.with_seed(1), i) for i in range(400)])
    assert not np.allclose(offs, other)
    assert spot_bragg_offset(profile, 7) == spot_bragg_offset(profile, 7)


# ---------------------------------------------------------------- attenuation (xraydb)

@pytest.mark.parametrize("kind, model", [("total", Attenuation(127.2, 2.90)),
                                         ("photo", Attenuation(130.3, 2.94))])
def test_si_attenuation_lengths_match_xraydb(kind, model):
    """Source: xraydb mu_elam('Si', kind) x 2.329 g/cm³, 6–14 keV: the power law is within
    1.5 %; foils use the total attenuation, sensors the photoabsorption."""
    for e in np.linspace(6.0, 14.0, 9):
        mu = xraydb.mu_elam("Si", e * 1e3, kind=kind) * 2.329  # 1/cm
        assert model.length_um(e) == pytest.approx(1e4 / mu, rel=0.015)
    with pytest.raises(ValueError, match="above the Si K edge"):
        model.length_um(1.5)


def test_profile_uses_the_xraydb_attenuation_and_transmission_is_exp(profile):
    ph = Physics.from_profile(profile)
    assert (ph.attenuation.length_um_at_10kev, ph.si_photo.length_um_at_10kev) == (127.2, 130.3)
    for t in (25.0, 1750.0, 3175.0):
        assert ph.attenuation.transmission(t, 10.0) == pytest.approx(math.exp(-t / 127.2))


def test_measured_transmission_follows_exp(beamline, settle):
    """I0 (behind the attenuator) with 200 um more Si: ratio exp(-200/127.2) (xraydb)."""
    settle(beamline, xray_shutter="open", pd_gain="mid", attenuator=1400)
    pd = beamline.devices["pd_i0"]
    wait_all([pd.trigger(3000)], beamline.clock)
    open_q = pd.read()["pd_i0"] - 0.008  # the mid range's offset
    settle(beamline, attenuator=1600)
    wait_all([pd.trigger(3000)], beamline.clock)
    att_q = pd.read()["pd_i0"] - 0.008
    # different shots: SASE x mono fluctuations (~61 % rms) average to ~1.1 % over 3000
    assert att_q / open_q == pytest.approx(math.exp(-200 / 127.2), rel=0.04)


# ---------------------------------------------------------------- source

def test_sase_and_mono_pulse_energy_statistics():
    """Source: SASE gamma statistics (Saldin, Schneidmiller & Yurkov; M = 1/rms²), SACLA
    ~500 uJ at 10 keV with ~10 % rms (Yabashi et al. 2015, JSR 22, 477): 8 % SASE x 6 %
    electron beam; a Si(111) mono passes few modes (~60 % rms)."""
    src = Source()
    tags = np.arange(0, 400_000, 2)
    shots = src.shots(123, tags)
    sase, probe = shots.sase_uj, shots.probe_uj
    assert sase.mean() == pytest.approx(500.0, rel=0.005)
    total = math.sqrt((1 + 0.08 ** 2) * (1 + 0.06 ** 2) - 1)
    assert sase.std() / sase.mean() == pytest.approx(total, rel=0.02)  # 10 %
    assert probe.mean() == pytest.approx(src.probe_pulse_energy_uj, rel=0.01)
    want = math.sqrt((1 + total ** 2) * (1 + 0.36) - 1)
    assert probe.std() / probe.mean() == pytest.approx(want, rel=0.02)


def test_two_colours_of_one_bunch_correlate_through_the_electron_beam():
    """Source: both colours ride one bunch, so they share its charge/energy jitter: the
    correlation of their pulse energies is σe²/σ² = 0.0036/0.01 = 0.36 (an optical laser
    pump does not correlate)."""
    src = Source()
    shots = src.shots(5, np.arange(0, 400_000, 2))
    rho = np.corrcoef(shots.sase_uj, shots.pump_uj)[0, 1]
    assert rho == pytest.approx(0.06 ** 2 / (0.08 ** 2 + 0.06 ** 2), abs=0.02)
    laser = replace(src, pump_from_bunch=False, pump_relative_rms=0.02).shots(
        5, np.arange(0, 400_000, 2))
    assert abs(np.corrcoef(laser.sase_uj, laser.pump_uj)[0, 1]) < 0.01
    assert laser.pump_uj.std() / laser.pump_uj.mean() == pytest.approx(0.02, rel=0.05)


def test_probe_flux_from_source_bandwidth_and_mono_passband():
    """Source: a Gaussian SASE spectrum of 0.4 % FWHM (SACLA, Yabashi et al. 2015) through
    the Si(111) DCM passband ∫R² dζ = 1.23e-4 (dynamical theory, xraydb form factors):
    2.9 % of 500 uJ, x 0.8 transport = 11.5 uJ = 7.2e9 photons at 10 keV."""
    rc = RockingCurve()
    src = Source(mono_passband_zeta=rc.passband_zeta)
    dw = xraydb.darwin_width(10_000.0, "Si", (1, 1, 1))
    darwin = np.asarray(dw.intensity)
    dz = float(np.diff(dw.zeta)[0])
    assert rc.passband_zeta == pytest.approx(float(np.sum(darwin ** 2)) * dz, rel=0.03)
    e = np.linspace(-0.02, 0.02, 40_001)  # relative energy offset
    spectrum = np.exp(-4 * math.log(2) * (e / 0.004) ** 2)
    band = np.interp(rc.sample.zeta_offset(10.0) - e, np.asarray(dw.zeta), darwin ** 2,
                     left=0, right=0)  # ζ = Δλ/λ = -ΔE/E
    assert src.mono_throughput == pytest.approx(float((spectrum * band).sum()
                                                      / spectrum.sum()), rel=0.03)
    assert src.probe_pulse_energy_uj == pytest.approx(11.5, rel=0.01)
    assert src.probe_pulse_energy_uj * photons_per_uj(10.0) == pytest.approx(7.2e9, rel=0.01)


def test_photons_per_microjoule_is_first_principles():
    """Source: 1 uJ / (10 keV x 1.602176634e-19 J/eV) = 6.24e8 photons."""
    assert photons_per_uj(10.0) == pytest.approx(1e-6 / (1e4 * 1.602176634e-19))


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


def test_beam_loss_episodes_are_seeded_and_off_by_default():
    assert BeamLoss(1).episodes(1e6) == []
    a = BeamLoss(1, rate_per_hour=2.0, mean_duration_s=30.0)
    eps = a.episodes(36_000.0)
    assert 8 <= len(eps) <= 35
    assert a.episodes(7200.0) == [e for e in eps if e[0] < 7200.0]
    start, end = eps[0]
    on = a.beam_on(np.array([start - 0.1, (start + end) / 2, end + 0.1]))
    assert on.tolist() == [True, False, True]


# ---------------------------------------------------------------- pump response

def test_pump_response_average_is_the_emg():
    """Source: a step-exponential averaged over Gaussian jitter is an exponentially modified
    Gaussian (the model reduction fits)."""
    resp = PumpResponse(-0.3, 0.35, 2.0)
    rng = np.random.default_rng(1)
    for delay in (-0.5, 0.2, 0.35, 0.5, 3.0):
        shots = resp.per_shot(delay + 0.1 * rng.standard_normal(400_000))
        assert shots.mean() == pytest.approx(
            resp.expected_response(np.array([delay]), 0.1)[0], abs=2e-3)
    assert resp.expected_response(np.array([-1000.0, 1000.0]), 0.1) == pytest.approx(
        [0, 0], abs=1e-12)
    assert resp.per_shot(np.array([0.35]))[0] == pytest.approx(-0.3)


def test_incomplete_recovery_leaves_a_residual_step():
    """A part ``r`` of the change does not recover (heat): dI/I -> A r at long delays, and
    the jitter average adds r times an error-function step."""
    resp = PumpResponse(-0.3, 0.0, 2.0, residual=0.2)
    assert resp.per_shot(np.array([50.0]))[0] == pytest.approx(-0.06, rel=1e-6)
    rng = np.random.default_rng(2)
    shots = resp.per_shot(0.1 + 0.15 * rng.standard_normal(400_000))
    assert shots.mean() == pytest.approx(resp.expected_response(np.array([0.1]), 0.15)[0],
                                         abs=2e-3)


def test_fluence_dependence_saturates_and_is_stated_at_the_mean_pump_energy(profile):
    """f(E) = (1 - exp(-E/Es)) / (1 - exp(-Emean/Es)) with Es = 600 uJ: the amplitude is A at
    the mean pump pulse energy, grows less than linearly above it."""
    pump = Physics.from_profile(profile).pump
    assert pump.reference_uj == 300.0 and pump.saturation_uj == 600.0
    assert pump.per_shot(0.0, 300.0) == pytest.approx(-0.3)
    assert pump.per_shot(0.0, 600.0) / pump.per_shot(0.0, 300.0) == pytest.approx(
        (1 - math.exp(-1)) / (1 - math.exp(-0.5)))
    assert pump.fluence_factor(0.0) == 0.0
    linear = PumpResponse(-0.3, reference_uj=300.0)
    assert linear.per_shot(0.0, 450.0) == pytest.approx(-0.45)


def test_lattice_strain_shifts_and_broadens_the_rocking_curve_with_delay():
    """Option: the strained lattice shifts the curve by shift x f(E) x (1 - exp(-dt/rise))."""
    resp = PumpResponse(-0.3, 0.0, 2.0, shift_urad=-20.0, broadening=0.5, rise_ps=1.5,
                        reference_uj=300.0)
    assert resp.strains_lattice and not PumpResponse().strains_lattice
    t = np.array([-1.0, 0.0, 1.5, 30.0])
    assert resp.strain(t, 300.0) == pytest.approx([0.0, 0.0, 1 - math.exp(-1), 1.0])
    assert resp.strain(1.5, 300.0) == pytest.approx(1 - math.exp(-1))


def test_pumped_shots_see_the_strained_lattice(beamline, profile, settle):
    """With the option on, a pumped shot on the flank reflects as the shifted curve predicts."""
    world = beamline.world
    strained = replace(world.physics.pump, shift_urad=-20.0, rise_ps=0.5, amplitude=0.0)
    object.__setattr__(world.physics, "pump", strained)
    truth = ground_truth(profile)
    x, y = beamline.spot_grids["sample"].position(40)
    theta = spot_peak_theta(profile, 40) - math.degrees(17e-6)  # half-way down a flank
    settle(beamline, sample_x=x, sample_y=y, theta=theta, xray_shutter="open",
           attenuator=1750, pd_gain="high")
    wait_all([beamline.devices["delay"].set(20.0)], beamline.clock)  # long after t0
    det, pd = beamline.devices["mpccd"], beamline.devices["pd_i0"]
    wait_all([det.trigger(300), pd.trigger(300)], beamline.clock)
    before = det.read()["mpccd.roi0"] / pd.read()["pd_i0"]
    wait_all([beamline.devices["pump"].request("on")], beamline.clock)
    wait_all([det.trigger(1), pd.trigger(1)], beamline.clock)
    after = det.read()["mpccd.roi0"] / pd.read()["pd_i0"]
    rc = world.physics.rocking
    want = rc(np.array([-17.0 + 20.0]))[0] / rc(np.array([-17.0]))[0]
    assert truth.rocking_fwhm_urad > 30.0
    assert after / before == pytest.approx(want, rel=0.1)


def test_pointing_jitter_is_one_microradian_rms():
    """Source: profile estimate (XFEL pointing is stable to ~1 urad shot to shot); the
    rocking curve sees it as a sideways shift of each shot."""
    shots = Source().shots(3, np.arange(0, 200_000, 2))
    assert np.std(shots.pointing_urad) == pytest.approx(1.0, rel=0.01)


# ---------------------------------------------------------------- I0 photodiode

def _diode(profile):
    from sim.shotmodel import photodiode

    return photodiode(profile, Physics.from_profile(profile))


def test_photodiode_charge_per_microjoule_from_its_thickness(profile):
    """Source: xraydb photoabsorption of 20 um Si (14.2 % at 10 keV) x 10 keV / 3.65 eV
    electrons per absorbed photon: 39.0 nC per uJ passing it; it passes exp(-20/127.2)."""
    pd = _diode(profile)
    mu = xraydb.mu_elam("Si", 10_000.0, kind="photo") * 2.329
    absorbed = 1 - math.exp(-20e-4 * mu)
    want = photons_per_uj(10.0) * absorbed * 1e4 / 3.65 * 1.602176634e-7
    assert pd.pc_per_uj(10.0) == pytest.approx(want, rel=0.01)
    assert pd.pc_per_uj(10.0) == pytest.approx(39_000.0, rel=0.01)
    assert pd.transmission(10.0) == pytest.approx(math.exp(-20 / 127.2))


def test_photodiode_noise_gain_errors_and_compression(profile):
    """Source: Poisson statistics of the absorbed photons (730 at the reference's 0.32 pC:
    3.7 % rms); the amplifier's per-range gain and offset (profile truth) and its 2 %
    compression at full scale."""
    pd = _diode(profile)
    rng = np.random.default_rng(4)
    n = 200_000
    z = rng.standard_normal((3, n))
    uj = 0.32 / pd.pc_per_uj(10.0)
    high = 2  # gain index: low, mid, high
    q, sat = pd.charge(np.full(n, uj), 10.0, high, z[0], z[1], z[2])
    photons = uj * pd.pc_per_uj(10.0) / (1e4 / 3.65 * 1.602176634e-7)
    assert photons == pytest.approx(730, rel=0.01)
    assert q.mean() == pytest.approx(0.984 * 0.32 + 0.0009, rel=2e-3)
    noise = math.hypot(0.984 * 0.32 / math.sqrt(photons), math.hypot(0.0005, 1e-4 * 2.0))
    assert q.std() == pytest.approx(noise, rel=0.02)
    assert not sat.any()
    full, _ = pd.charge(np.array([2.0 / pd.pc_per_uj(10.0)]), 10.0, 1, np.zeros(1),
                        np.zeros(1), np.zeros(1))  # full scale of high, read on mid
    assert full[0] == pytest.approx(1.012 * 2.0 * (1 - 0.02 * 0.01) + 0.008, rel=1e-4)
    near, flag = pd.charge(2.2 / pd.pc_per_uj(10.0), 10.0, high, 0.0, 0.0, 0.0)
    assert near == 2.0 and flag == 1.0  # the high range clips at its full scale


# ---------------------------------------------------------------- detector

def test_mpccd_quantum_efficiency_from_its_50um_sensor(profile, beamline):
    """Source: MPCCD sensing layer 50 um (Kameshima et al. 2014, Rev. Sci. Instrum. 85,
    033110) and xraydb photoabsorption: 0.32 at 10 keV, 0.62 at 7 keV."""
    model = beamline.world.detector_models[0]
    for e in (7.0, 10.0, 12.0):
        mu = xraydb.mu_elam("Si", e * 1e3, kind="photo") * 2.329
        assert model.quantum_efficiency(e) == pytest.approx(1 - math.exp(-50e-4 * mu),
                                                            rel=0.015)
    assert ground_truth(profile).quantum_efficiency == pytest.approx(0.319, abs=0.002)


def test_mpccd_pixel_capacity_is_the_adc_range_before_the_full_well(beamline):
    """Source: SACLA Research Frontiers 2014 (MPCCD: peak signal over 4 Me-, noise below
    300 e-): 4 Me- hold 1460 photons of 10 keV; at 18 e-/ADU the 16-bit ADC holds
    (65535 - 300) / 152.2 = 428.6, so the ADC saturates first."""
    model = beamline.world.detector_models[0]
    assert model.full_well_e == 4.0e6 and model.read_noise_e < 300.0
    assert model.cap_photons(10.0) == pytest.approx((65535 - 300) / 152.207, rel=1e-4)
    low_gain = replace(model, sensors=tuple(replace(s, absgain=80.0) for s in model.sensors),
                       _cache={})
    assert low_gain.cap_photons(10.0) == pytest.approx(4.0e6 * 3.65 / 1e4)
