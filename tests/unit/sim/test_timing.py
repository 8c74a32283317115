"""Delay mechanisms as sim/PHYSICS.md states them: two-colour chicane, split-delay optics,
optical laser with drift and a timing tool."""

from __future__ import annotations

import math

import numpy as np
import pytest

from expctl.clock import VirtualClock
from expctl.devices import load_profile, wait_all
from sim.backend import PROFILE_DIR, SimBackend
from sim.noisebank import STREAM_JITTER
from sim.physics.rand import normals
from sim.physics.timing import Timing, TimingTool
from sim.truth import ground_truth


@pytest.fixture(scope="module")
def laser_profile():
    return load_profile(PROFILE_DIR / "bl3-laser.yaml")


@pytest.fixture
def laser(laser_profile, tmp_path):
    bl = SimBackend().connect(laser_profile, VirtualClock(), data_dir=tmp_path / "laser")
    yield bl
    bl.close()


def _pumped_run(bl, shots):
    d = bl.devices
    wait_all([d["xray_shutter"].set("open"), d["attenuator"].set(1800),
              d["pd_gain"].set("high"), d["pump"].request("on")], bl.clock)
    rec, st = bl.daq.start_run(shots)
    wait_all([st], bl.clock)
    block = bl.daq.collect()
    bl.daq.stop_run()
    return block.data


def test_profiles_declare_their_mechanism(profile, laser_profile):
    """bl3: two colours of one bunch (Hara et al. 2013, Nat. Commun. 4, 2919); bl3-laser: an
    optical laser pump (SACLA EH2; LCLS XPP)."""
    assert ground_truth(profile).mechanism == "two_colour"
    assert ground_truth(laser_profile).mechanism == "optical_laser"
    with pytest.raises(ValueError, match="not one of two_colour, optical_laser"):
        Timing.from_options({"mechanism": "telepathy"}, 1)


def test_two_colour_jitter_is_femtoseconds(profile):
    """Source: two colours from one bunch share its arrival time; the chicane's relative
    jitter is at the fs level (Hara et al. 2013): 2 fs rms in the profile."""
    truth = ground_truth(profile)
    assert truth.jitter_rms_ps == 0.002
    z = normals(profile.seed, np.arange(0, 200_000, 2), STREAM_JITTER)
    assert np.std(truth.jitter_rms_ps * z) == pytest.approx(0.002, rel=0.01)


def test_split_delay_stages_carry_scale_errors_and_a_zero_offset(beamline, profile, settle):
    """Source: SACLA BL3 SDO (Si(220), 0–100 ps; delay per stage mm = 4 sin θ_220 / c):
    the actual delay is the nominal one minus the 0.35 ps zero offset, scaled by the mean
    of the stages' delay-per-mm errors (+0.4 %, −0.25 %)."""
    world = beamline.world
    for nominal in (0.0, 10.0, 80.0):
        settle(beamline, delay=nominal)
        state = world.state(np.array([beamline.clock.now() + 0.1]))
        assert state.delay_ps == pytest.approx((1 + 0.00075) * (nominal - 0.35), abs=1e-9)
    truth = ground_truth(profile)
    assert truth.t0_ps == pytest.approx(0.35) and truth.delay_axis == "delay"
    assert truth.tau_ps == pytest.approx(2.0 / 1.00075)
    theta220 = math.asin(12.398419843320026 / (2 * 5.4309 / math.sqrt(8) * 10.0))
    assert profile.devices["delay"].options["components"]["sd_t1"]["scale"] == pytest.approx(
        0.299792458 / (4 * math.sin(theta220)), rel=1e-5)


def test_chicane_request_latency_and_envelope(beamline):
    """Source: SACLA semi-automatic accelerator control (requests applied after a latency);
    the chicane reaches below a picosecond."""
    dev = beamline.devices["pump_delay"]
    st = dev.request(0.8)
    assert st.deadline - beamline.clock.now() == pytest.approx(3.0)
    assert dev.limits.high == 1.0 and dev.limits.low == 0.0


def test_laser_arrival_jitters_150fs_and_drifts(laser, laser_profile):
    """Source: optical-laser/XFEL synchronisation at SACLA and LCLS: 100–300 fs rms without
    a timing tool, slow drifts of ~0.1 ps; the profile: 150 fs rms, 0.1 ps over 40 min."""
    timing = laser.world.physics.timing
    assert (timing.mechanism, timing.jitter_rms_ps, timing.drift_ps) == ("optical_laser",
                                                                          0.15, 0.1)
    t = np.linspace(0.0, 2400.0, 10_001)
    drift = timing.drift(t)
    assert drift.max() - drift.min() == pytest.approx(0.2, rel=0.01)
    assert timing.drift(0.0) == pytest.approx(timing.drift(2400.0))


def test_timing_tool_measures_each_shot(laser):
    """Source: LCLS smalldata ``tt/`` names (FLTPOS, FLTPOS_PS, AMPL, FLTPOSFWHM, ttCorr);
    error ~7 fs rms (Katayama et al. 2016, Struct. Dyn. 3, 034301: 7.0 fs): here 3 px of
    2.5 fs.  ttCorr is the shot's arrival error, so scan/delay + ttCorr is the actual delay."""
    data = _pumped_run(laser, 600)
    model = laser.world.model
    shots = model.shots(data["tag"], laser.world.timeline.time_of(data["tag"]),
                        laser.world.state(laser.world.timeline.time_of(data["tag"])),
                        acquired=False, plate=None)
    true = np.asarray(shots._timing_error())
    corr = data["tt/ttCorr"]
    assert np.all(np.isfinite(corr)) and np.all(data["tt/AMPL"] > 0)
    assert np.std(true) == pytest.approx(0.15, rel=0.1)
    assert np.std(corr - true) == pytest.approx(3.0 * 0.0025, rel=0.15)
    assert np.corrcoef(data["tt/AMPL"], data["beam/pulse_energy"])[0, 1] > 0.3
    assert np.median(data["tt/FLTPOSFWHM"]) == pytest.approx(105.0, rel=0.05)
    tt = model.timing_tool
    assert tt.ps_of(tt.px_of(np.array([-0.5, 0.0, 0.7]))) == pytest.approx([-0.5, 0.0, 0.7])


def test_timing_tool_finds_no_edge_without_laser_or_outside_its_window(laser):
    d = laser.devices
    wait_all([d["xray_shutter"].set("open"), d["attenuator"].set(1800)], laser.clock)
    rec, st = laser.daq.start_run(20)
    wait_all([st], laser.clock)
    data = laser.daq.collect().data
    laser.daq.stop_run()
    assert np.all(np.isnan(data["tt/ttCorr"])) and np.all(data["tt/AMPL"] == 0.0)
    tt = TimingTool()
    lo, hi = tt.window_ps
    got = tt.shots(np.array([lo - 0.1, 0.0, hi + 0.1]), np.ones(3, bool), np.ones(3),
                   np.zeros(3), np.zeros(3), np.zeros(3))
    assert np.isnan(got["tt/FLTPOS"]).tolist() == [True, False, True]


def test_laser_pumped_shots_follow_the_actual_delay(laser, laser_profile):
    """The response of each pumped shot follows its actual delay (jitter + drift), not the
    nominal one: binned by scan/delay + ttCorr the edge is sharp again."""
    truth = ground_truth(laser_profile)
    assert truth.t0_ps == pytest.approx(1.27)
    pump = laser.world.physics.pump
    wait_all([laser.devices["delay"].set(truth.t0_ps)], laser.clock)  # on the edge
    data = _pumped_run(laser, 200)
    model = laser.world.model
    times = laser.world.timeline.time_of(data["tag"])
    shots = model.shots(data["tag"], times, laser.world.state(times), acquired=False,
                        plate=None)
    actual = laser.world.state(times).delay_ps + np.asarray(shots._timing_error())
    drift = laser.world.physics.timing.drift(model.unix0 + times).mean()
    want = 0.5 * math.erfc(-drift / (0.15 * math.sqrt(2)))  # jitter and drift blur the edge
    assert np.mean(actual > pump.t0_ps) == pytest.approx(want, abs=0.1)
    corrected = truth.t0_ps + data["tt/ttCorr"]
    assert np.corrcoef(corrected, actual)[0, 1] > 0.99
