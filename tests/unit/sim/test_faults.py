"""Injected faults surface as distinct, catchable errors with clear messages."""

from __future__ import annotations

import numpy as np
import pytest

from expctl.devices import wait_all
from expctl.errors import (
    BackendError,
    BeamLossError,
    DetectorDropoutError,
    DeviceError,
    DeviceTimeoutError,
    MotorStallError,
    RequestRefusedError,
)


def test_stall_stops_the_motor_short(beamline, clock):
    beamline.faults.inject("stall", "theta", fraction=0.5)
    st = beamline.devices["theta"].set(11.5)
    with pytest.raises(MotorStallError) as err:
        wait_all([st], clock)
    assert str(err.value) == "theta stalled at 11.45 deg, 0.05 deg short of 11.5 deg"
    assert beamline.devices["theta"].position == pytest.approx(11.45)
    wait_all([beamline.devices["theta"].set(11.5)], clock)  # one-shot: the retry works


def test_timeout_never_completes(beamline, clock):
    beamline.faults.inject("timeout", "attenuator", after=5.0)
    st = beamline.devices["attenuator"].set(200)
    with pytest.raises(DeviceTimeoutError, match="attenuator did not respond within 5 s"):
        wait_all([st], clock)
    assert clock.now() == pytest.approx(5.0)
    assert beamline.devices["attenuator"].read()["attenuator"] == 1800  # where it was


def test_dropout_fails_triggers_and_runs(beamline, clock):
    beamline.faults.inject("dropout", "mpccd")
    with pytest.raises(DetectorDropoutError, match="mpccd stopped delivering frames"):
        wait_all([beamline.devices["mpccd"].trigger(10)], clock)
    rec, st = beamline.daq.start_run(30)
    with pytest.raises(DetectorDropoutError, match=f"during run {rec.run}"):
        wait_all([st], clock)
    clock.sleep(1.0)
    block = beamline.daq.collect()
    beamline.daq.stop_run(aborted=True)
    assert all(v != v for v in block.data["mpccd/ROI_0_sum"])  # NaN after the dropout
    assert beamline.archive.run_record(3, rec.run).comment == "(aborted)"
    beamline.faults.clear()
    wait_all([beamline.devices["mpccd"].trigger(10)], clock)


def test_beam_loss_episode(beamline, clock, settle):
    settle(beamline, xray_shutter="open")
    t0 = clock.now()
    beamline.faults.inject("beam_loss", start=t0 + 2.0, duration=10.0)
    assert beamline.devices["beam"].read()["beam"] == 1.0
    rec, st = beamline.daq.start_run(150)  # 5 s of shots
    with pytest.raises(BeamLossError, match=f"beam lost during run {rec.run}"):
        wait_all([st], clock)
    assert clock.now() == pytest.approx(t0 + 2.0)
    assert beamline.devices["beam"].read()["beam"] == 0.0
    clock.sleep(3.0)
    block = beamline.daq.collect()
    beamline.daq.stop_run(aborted=True)
    xray = block.data["lightStatus/xray"]
    assert xray[:55].all() and not xray[-30:].any()
    assert block.data["beam/pulse_energy"][-1] == 0.0
    with pytest.raises(BeamLossError, match="no X-ray beam during the mpccd acquisition"):
        wait_all([beamline.devices["mpccd"].trigger(5)], clock)
    clock.sleep_until(t0 + 12.5)
    assert beamline.devices["beam"].read()["beam"] == 1.0
    wait_all([beamline.devices["mpccd"].trigger(5)], clock)


def test_refused_request(beamline, clock):
    beamline.faults.inject("refuse", "pump", reason="linac tuning in progress")
    with pytest.raises(RequestRefusedError) as err:
        wait_all([beamline.devices["pump"].request("on")], clock)
    assert str(err.value) == "accelerator refused pump = on: linac tuning in progress"
    wait_all([beamline.devices["pump"].request("on")], clock)
    assert beamline.devices["pump"].read() == {"pump": "on"}


def test_faults_are_distinct_types():
    kinds = [MotorStallError, DeviceTimeoutError, DetectorDropoutError, BeamLossError,
             RequestRefusedError]
    for a in kinds:
        assert issubclass(a, DeviceError)
        for b in kinds:
            assert a is b or not issubclass(a, b)


def test_bad_fault_requests_are_refused_with_choices(beamline):
    with pytest.raises(BackendError) as err:
        beamline.faults.inject("explode", "theta")
    assert "unknown fault kind 'explode'" in str(err.value)
    assert "stall, timeout, dropout, beam_loss, refuse" in err.value.allowed
    with pytest.raises(BackendError) as err:
        beamline.faults.inject("stall", "xray_shutter")
    assert "fault 'stall' cannot target 'xray_shutter'" in str(err.value)
    assert "theta" in err.value.allowed


def test_beam_loss_injected_during_a_run_fails_it_and_darkens_the_rest(beamline, clock, settle):
    settle(beamline, xray_shutter="open")
    rec, st = beamline.daq.start_run(150)  # 5 s of shots; nothing armed yet
    clock.sleep(1.0)
    t_inj = clock.now()
    beamline.faults.inject("beam_loss", duration=30.0)
    with pytest.raises(BeamLossError, match=f"beam lost during run {rec.run}"):
        wait_all([st], clock)
    assert clock.now() == pytest.approx(t_inj)
    clock.sleep(2.0)
    block = beamline.daq.collect()
    beamline.daq.stop_run(aborted=True)
    times = block.data["event_time"] - block.data["event_time"][0]
    xray = block.data["lightStatus/xray"]
    assert xray[times < 0.99].all() and not xray[times > 1.01].any()
    assert np.all(block.data["beam/pulse_energy"][times > 1.01] == 0.0)


def test_dropout_injected_during_a_run_fails_it_and_blanks_the_rest(beamline, clock):
    rec, st = beamline.daq.start_run(90)
    clock.sleep(1.0)
    beamline.faults.inject("dropout", "mpccd_octal")
    with pytest.raises(DetectorDropoutError,
                       match=f"mpccd_octal stopped delivering frames during run {rec.run}"):
        wait_all([st], clock)
    clock.sleep(1.0)
    block = beamline.daq.collect()
    beamline.daq.stop_run(aborted=True)
    roi = block.data["mpccd_octal/ROI_0_sum"]
    assert len(roi) == 60
    assert np.isfinite(roi[:29]).all() and np.isnan(roi[29:]).all()  # from t = 1 s on
    assert np.isfinite(block.data["mpccd/ROI_0_sum"]).all()  # the other detector delivers


def test_a_fault_after_the_run_ended_leaves_it_alone(beamline, clock):
    rec, st = beamline.daq.start_run(10)
    wait_all([st], clock)
    beamline.faults.inject("beam_loss", duration=5.0)
    wait_all([st], clock)  # still a success
    assert beamline.daq.stop_run().shots == 10
