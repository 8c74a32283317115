"""Failures over Channel Access end as clear errors within a bounded time, never as hangs.

Refused, ignored and out-of-limit puts, refused accelerator requests, faults the
simulator injects (stall, beam loss), unreachable IOCs and PVs that do not exist.
Each error is checked by its message; the elapsed wall time is checked against the
status timeout that a hang would have run into (not a speed measurement).
"""

from __future__ import annotations

import time
from dataclasses import replace

import pytest

from expctl.devices import wait_all
from expctl.epics.connect import channel_names
from expctl.epics.wiring import read_wiring
from expctl.errors import (
    AggregateError,
    BackendError,
    BeamLossError,
    DeviceError,
    LimitError,
    MotorStallError,
    RequestRefusedError,
)
from tests.integration.epics_ioc import (
    IOC,
    Operator,
    connect,
    free_port,
    ioc_environment,
    registry,
)
from tests.integration.epics_ioc import profile as epics_profile

#: Wall seconds within which every failure here must be reported (a hang would reach the
#: status timeouts: 10 s and more).
BOUND = 2.0


@pytest.fixture(scope="module")
def port():
    return free_port()


@pytest.fixture(scope="module")
def beamline(tmp_path_factory, port):
    ioc = IOC(tmp_path_factory.mktemp("ioc"), port).start()
    with ioc_environment(port):
        bl = connect(registry())
        yield bl
        bl.close()
    ioc.stop()


@pytest.fixture
def operator(beamline):
    op = Operator()
    yield op
    op.close()


def _fails(beamline, make_status, error):
    """Run the action; its error (of type ``error``) and the wall seconds it took."""
    t0 = time.monotonic()
    with pytest.raises(error) as err:
        wait_all([make_status()], beamline.clock)
    return err.value, time.monotonic() - t0


def test_a_refused_put_is_a_clear_error_at_once(beamline, operator):
    operator.put("BL3:THETA.DISP", 1)
    try:
        err, took = _fails(beamline, lambda: beamline.devices["theta"].set(11.45), DeviceError)
    finally:
        operator.put("BL3:THETA.DISP", 0)
    assert "disabled (DISP = 1)" in err.message and "refused BL3:THETA.VAL = 11.45" in err.message
    assert err.device == "theta" and took < BOUND


def test_an_out_of_limit_put_is_a_clear_error_at_once(beamline, operator):
    """The IOC's soft limit is narrower than the profile's: the record refuses (LVIO)."""
    operator.put("BL3:THETA.HLM", 11.5)
    try:
        err, took = _fails(beamline, lambda: beamline.devices["theta"].set(12.5), DeviceError)
    finally:
        operator.put("BL3:THETA.HLM", 13.0)
    assert "outside the soft limits 10 .. 11.5 deg (HLM/LLM), LVIO set" in err.message
    assert "BL3:THETA.RBV reads" in err.message and took < BOUND
    assert beamline.devices["theta"].position != pytest.approx(12.5)


def test_a_put_outside_the_profile_limits_never_leaves_the_client(beamline):
    with pytest.raises(LimitError) as err:
        beamline.devices["theta"].set(20.0)
    assert err.value.allowed == "10 .. 13 deg"


def test_a_silently_ignored_move_is_caught_by_its_readback(beamline, operator):
    """SPMG = Stop: the record takes the put and completes it without moving."""
    operator.put("BL3:THETA.SPMG", 0)  # Stop
    try:
        err, took = _fails(beamline, lambda: beamline.devices["theta"].set(11.35), DeviceError)
    finally:
        operator.put("BL3:THETA.SPMG", 3)  # Go
    assert "motion is disabled (SPMG = Stop)" in err.message and took < BOUND


def test_a_put_the_ioc_neither_acts_on_nor_answers_fails_after_the_ack_timeout(beamline):
    beamline.faults.inject("ignore", "xray_shutter")
    try:
        state = beamline.devices["xray_shutter"].state
        other = "open" if state == "closed" else "closed"
        err, took = _fails(beamline, lambda: beamline.devices["xray_shutter"].set(other),
                           DeviceError)
    finally:
        beamline.faults.clear()
    assert f"the IOC did not act on BL3:XRAY_SHUTTER = {other} within 0.5 s" in err.message
    assert f"still reads {state}" in err.message and took < BOUND


def test_an_ignored_put_of_the_value_it_already_holds_fails_after_the_ack_timeout(beamline):
    """No echo can show an unchanged value was taken; the setpoint's timestamp does."""
    state = beamline.devices["xray_shutter"].state
    beamline.faults.inject("ignore", "xray_shutter")
    try:
        err, took = _fails(beamline, lambda: beamline.devices["xray_shutter"].set(state),
                           DeviceError)
    finally:
        beamline.faults.clear()
    assert f"the IOC did not act on BL3:XRAY_SHUTTER = {state} within 0.5 s" in err.message
    assert took < BOUND
    wait_all([beamline.devices["xray_shutter"].set(state)], beamline.clock)  # taken: fine


def test_fault_times_count_on_the_session_clock_not_the_iocs(beamline):
    """A beam loss scheduled 30 s ahead (1.5 s of wall time) starts then, not at once."""
    beam, clock = beamline.devices["beam"], beamline.clock
    start = clock.now() + 30.0
    beamline.faults.inject("beam_loss", start=start, duration=600.0)
    try:
        clock.sleep(10.0)
        assert beam.read()["beam"] == 1.0
        while clock.now() < start + 20.0 and beam.read()["beam"] == 1.0:
            clock.sleep(1.0)
        assert beam.read()["beam"] == 0.0 and clock.now() > start - 2.0
    finally:
        beamline.faults.clear()


def test_the_mounted_sample_reaches_the_ioc(beamline, operator):
    beamline.mount_sample("sample", "xtal-7")
    assert operator.get("BL3:SIM:SAMPLE") == "xtal-7"
    with pytest.raises(BackendError, match="no spot grid 'plate'"):
        beamline.mount_sample("plate", "xtal-7")
    with pytest.raises(BackendError, match="did not take sample '../x' on sample"):
        beamline.mount_sample("sample", "../x")


def test_a_refused_accelerator_request_says_why(beamline):
    beamline.faults.inject("refuse", "pump", reason="machine study until 18:00")
    try:
        err, took = _fails(beamline, lambda: beamline.devices["pump"].request("on"),
                           RequestRefusedError)
    finally:
        beamline.faults.clear()
    assert "machine study until 18:00" in err.message and took < BOUND
    assert beamline.devices["pump"].pending is None


def test_simulator_faults_keep_their_error_class(beamline):
    beamline.faults.inject("stall", "sample_x", fraction=0.5)
    err, _ = _fails(beamline, lambda: beamline.devices["sample_x"].set(1.0), MotorStallError)
    assert "sample_x stalled at" in err.message
    beamline.faults.inject("beam_loss", duration=30.0)
    try:
        err, _ = _fails(beamline, lambda: beamline.devices["pd_i0"].trigger(5), BeamLossError)
    finally:
        beamline.faults.clear()
    assert "no X-ray beam during the" in err.message


def test_an_unknown_fault_is_refused_with_the_iocs_reason(beamline):
    with pytest.raises(BackendError) as err:
        beamline.faults.inject("stall", "xray_shutter")
    assert "fault 'stall' cannot target 'xray_shutter'" in str(err.value)


def test_an_unreachable_ioc_lists_every_pv_with_addresses_and_environment():
    silent = free_port()
    reg = registry()
    with ioc_environment(silent):
        with pytest.raises(BackendError) as err:
            connect(reg, connect_timeout=1.0)
    text = str(err.value)
    assert err.value.exit_code == 1
    every = sum(map(len, channel_names(read_wiring(epics_profile(reg)))))
    assert every > 140 and f"none of its {every} PVs answered within 1 s" in text
    assert "theta: BL3:THETA.VAL, BL3:THETA.RBV, BL3:THETA.DMOV" in text
    assert "daq: BL3:DAQ:RUNINFO" in text
    assert f"Searched 127.0.0.1:{silent}" in text
    assert "EPICS_CA_ADDR_LIST=127.0.0.1" in text and "EPICS_CA_AUTO_ADDR_LIST=NO" in text
    assert "expctl sim-ioc" in text


def test_a_profile_pv_that_does_not_exist_is_a_user_error_naming_the_device(beamline, port):
    reg = registry()
    profile = epics_profile(reg, connect_timeout=1.0)
    theta = profile.devices["theta"]
    devices = {**profile.devices, "theta": replace(theta, options={**theta.options,
                                                                   "pv": "$(P)THETAX"})}
    broken = replace(profile, devices=devices)
    with ioc_environment(port):
        with pytest.raises(AggregateError) as err:
            reg.connect(broken, beamline.clock, data_dir=None)
    assert err.value.exit_code == 2
    assert [e.device for e in err.value.errors] == ["theta"]
    assert "theta: no server has BL3:THETAX.VAL" in err.value.paragraph()
    assert f"served by 127.0.0.1:{port}" in err.value.message
