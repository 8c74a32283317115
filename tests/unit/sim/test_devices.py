"""Simulated devices: motion times, limits, switches, accelerator requests, monitors."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest

from expctl.devices import AccessLevel, Profile, wait_all
from expctl.errors import AccessError, LimitError, RequestRefusedError
from sim.backend import SimBackend
from sim.devices.motor import move_time
from sim.truth import ground_truth


def test_trapezoid_move_time_is_analytic(beamline, clock):
    theta = beamline.devices["theta"]  # v = 0.05 deg/s, a = 0.5 deg/s^2, settle 0.02 s
    st = theta.set(11.5)
    # 0.1 deg >= v^2/a = 0.005 deg: trapezoid, 0.1/0.05 + 0.05/0.5 = 2.1 s, + settle
    assert st.deadline == pytest.approx(2.1 + 0.02)
    clock.sleep(1.05)  # half-way in time is half-way in position (symmetric profile)
    assert theta.position == pytest.approx(11.45, abs=1e-9)
    wait_all([st], clock)
    assert theta.position == pytest.approx(11.5)
    assert move_time(0.001, 0.05, 0.5) == pytest.approx(2 * math.sqrt(0.001 / 0.5))


def test_out_of_limit_move_is_refused_with_range(beamline):
    with pytest.raises(LimitError) as err:
        beamline.devices["sample_x"].set(7.5)
    assert err.value.paragraph() == (
        "sample_x target 7.5 mm is outside its limits (allowed: -5 .. 5 mm)")
    assert beamline.devices["sample_x"].position == 0.0


def test_attenuator_takes_only_foil_sums(beamline):
    att = beamline.devices["attenuator"]
    with pytest.raises(LimitError) as err:
        att.set(210)
    assert "attenuator cannot be set to 210 um" in str(err.value)
    assert "3175 um" in err.value.allowed


def test_shutter_and_gain_switch_after_transit(beamline, clock):
    sh = beamline.devices["xray_shutter"]
    assert sh.state == "closed" and sh.safe_value == "closed"
    st = sh.set("open")
    assert st.deadline == pytest.approx(0.05)
    assert sh.state == "closed"
    wait_all([st], clock)
    assert sh.state == "open"


def test_request_applies_after_latency_and_shows_pending(beamline, clock):
    delay = beamline.devices["pump_delay"]
    st = delay.request(0.5)
    assert st.deadline == pytest.approx(3.0)
    assert delay.pending == 0.5 and delay.read() == {"pump_delay": 0.0}
    wait_all([st], clock)
    assert delay.pending is None and delay.read() == {"pump_delay": 0.5}


def test_request_outside_envelope_is_refused(beamline, clock):
    """Two-colour delays come from the chicane: below a picosecond (Hara et al. 2013)."""
    st = beamline.devices["pump_delay"].request(5.0)
    with pytest.raises(RequestRefusedError) as err:
        wait_all([st], clock)
    assert err.value.paragraph() == (
        "accelerator refused pump_delay = 5.0 ps: outside its envelope "
        "(allowed: 0 .. 1 ps)")


def test_accelerator_parameters_cannot_be_set(beamline):
    pump = beamline.devices["pump"]
    assert not hasattr(pump, "set")
    assert pump.access is AccessLevel.ACCELERATOR


def test_unauthorised_request_is_refused(profile: Profile, clock, tmp_path):
    spec = profile.devices["pump"]
    staff_only = replace(spec, options={**spec.options, "request_access": "staff"})
    prof = replace(profile, devices={**profile.devices, "pump": staff_only})
    bl = SimBackend().connect(prof, clock, data_dir=None)
    with pytest.raises(AccessError) as err:
        bl.devices["pump"].request("on", AccessLevel.USER)
    assert err.value.paragraph() == (
        "requesting pump needs staff access; the requester has user. "
        "Ask beamline staff to place the request.")
    wait_all([bl.devices["pump"].request("on", AccessLevel.STAFF)], clock)
    assert bl.devices["pump"].read() == {"pump": "on"}


def test_yaml_boolean_on_is_understood(beamline, clock):
    wait_all([beamline.devices["pump"].request(True)], clock)
    assert beamline.devices["pump"].read() == {"pump": "on"}


def test_split_delay_moves_both_stages(beamline, clock, settle):
    settle(beamline, delay=10.0)
    # SACLA SDO geometry: c / (4 sin theta_Si220) = 0.232141 mm per ps on each stage,
    # nominal zero at 2 mm
    assert beamline.devices["sd_t1"].position == pytest.approx(4.32141)
    assert beamline.devices["sd_t2"].position == pytest.approx(4.32141)
    assert beamline.devices["delay"].position == pytest.approx(10.0)


def test_spot_grid_keeps_margins(beamline):
    grid = beamline.spot_grids["sample"]
    assert (grid.xs[0], grid.xs[-1]) == (-4.5, 4.5)
    assert len(grid) == 46 * 46
    assert np.allclose(np.diff(grid.ys), 0.2)


def test_pd_saturates_at_high_gain_with_the_strong_beam(beamline, profile, settle):
    """1550 um of Si: ~2 pC mean on the diode, the high range's full scale; mid holds it."""
    truth = ground_truth(profile)
    settle(beamline, xray_shutter="open", attenuator=1550, pd_gain="high")
    wait_all([beamline.devices["pd_i0"].trigger(300)], beamline.clock)
    strong = beamline.devices["pd_i0"].read()
    assert strong["pd_i0.saturated"] > 0.2
    settle(beamline, pd_gain="mid")
    wait_all([beamline.devices["pd_i0"].trigger(300)], beamline.clock)
    mid = beamline.devices["pd_i0"].read()
    assert mid["pd_i0.saturated"] == 0.0
    want = (truth.probe_pulse_energy_uj * np.exp(-1550 / 127.2) * truth.i0_pc_per_uj
            * truth.i0_gain_error["mid"] + truth.i0_offset_pc["mid"])
    assert mid["pd_i0"] == pytest.approx(want, rel=0.1)  # 300 shots of 61 % rms: 3.5 %


def test_beam_reads_status_and_pulse_energy(beamline):
    got = beamline.devices["beam"].read()
    assert got["beam"] == 1.0
    assert 200.0 < got["beam.pulse_energy"] < 800.0


def test_estimator_copy_is_independent(beamline, clock, settle):
    settle(beamline, theta=11.41)
    twin = beamline.estimator_copy()
    assert twin.clock is not clock and twin.clock.now() == clock.now()
    wait_all([twin.devices["theta"].set(11.0)], twin.clock)
    assert twin.devices["theta"].position == pytest.approx(11.0)
    assert beamline.devices["theta"].position == pytest.approx(11.41)
    assert clock.now() < twin.clock.now()
    rec, st = twin.daq.start_run(3)
    wait_all([st], twin.clock)
    twin.daq.stop_run()
    assert twin.data_dir is None and beamline.archive.newest_run(3) == 0
    assert rec.run == 1
