"""The device contract over Channel Access: every bl3-epics device against the simulated IOC.

The same protocols and behaviours the contract suite checks on the in-process
simulator (tests/contract/test_sim_devices.py), with what differs over a real
protocol: statuses completed by callbacks on a wall clock, readbacks by monitor,
one acquisition gate shared by the detectors.
"""

from __future__ import annotations

import math

import pytest

from expctl.devices import (
    Beamline,
    Checkable,
    Device,
    FacilityArchive,
    FaultInjector,
    Movable,
    Readable,
    RunControl,
    Settable,
    Status,
    Supervised,
    Triggerable,
    wait_all,
)
from expctl.errors import LimitError
from tests.contract.test_sim_devices import KIND_PROTOCOLS
from tests.integration.epics_ioc import (
    IOC,
    Operator,
    connect,
    free_port,
    ioc_environment,
    registry,
)

SPEED = 50.0  # the contract moves mono_energy 2.5 keV at 0.05 keV/s: 1 s of wall time


@pytest.fixture(scope="module")
def beamline(tmp_path_factory):
    port = free_port()
    ioc = IOC(tmp_path_factory.mktemp("ioc"), port, speed=SPEED).start()
    with ioc_environment(port):
        bl = connect(registry(), speed=SPEED)
        yield bl
        bl.close()
    ioc.stop()


PROFILE = registry().find_profile("bl3-epics")


def test_beamline_and_services(beamline):
    assert isinstance(beamline, Beamline) and isinstance(beamline, Supervised)
    assert isinstance(beamline.daq, RunControl)
    assert isinstance(beamline.archive, FacilityArchive)  # the IOC named its data directory
    assert isinstance(beamline.faults, FaultInjector)
    assert set(beamline.spot_grids) == {"sample"}
    assert beamline.conditions()[0].reason(beamline.devices) is None  # every PV connected


@pytest.mark.parametrize("name", sorted(PROFILE.devices))
def test_device_protocols(beamline, name):
    dev = beamline.devices[name]
    kind = PROFILE.devices[name].kind
    assert isinstance(dev, Device) and dev.name == name
    for proto in KIND_PROTOCOLS[kind]:
        assert isinstance(dev, proto), f"{name} ({kind}) is not {proto.__name__}"
    values = dev.read()
    assert set(values) == set(dev.describe())
    assert all(isinstance(v, float | str) for v in values.values())
    if kind == "mpccd":
        assert set(values) == {f"{name}.roi0", f"{name}.roi1", f"{name}.nphot"}
    else:
        assert name in values


@pytest.mark.parametrize("name", [n for n, s in PROFILE.devices.items()
                                  if s.kind in ("motor", "pseudo", "shutter", "switchable",
                                                "attenuator")])
def test_settable_reaches_targets_and_refuses_outside_limits(beamline, name):
    dev = beamline.devices[name]
    assert isinstance(dev, Settable) and isinstance(dev, Checkable)
    lim = dev.limits
    if lim.choices is not None:
        target, bad = lim.choices[-1], "nonsense"
    else:
        target, bad = round(0.75 * lim.low + 0.25 * lim.high, 6), lim.high + 1.0
    with pytest.raises(LimitError) as err:
        dev.set(bad)  # refused before anything is sent
    assert name in str(err.value) and err.value.allowed
    status = dev.set(target)
    assert isinstance(status, Status)
    wait_all([status], beamline.clock)
    got = dev.read()[name]
    if isinstance(target, str):
        assert got == target
    else:
        assert got == pytest.approx(float(target), abs=1e-6)
    if isinstance(dev, Movable):
        assert dev.position == pytest.approx(float(target), abs=1e-6)


def test_triggers_of_one_action_share_the_acquisition(beamline):
    """pd_i0 and mpccd triggered together are one acquisition of the gate (same shots)."""
    operator = Operator()
    try:
        before = operator.get("BL3:ACQ:COUNT")
        statuses = [beamline.devices[n].trigger(30) for n in ("pd_i0", "mpccd")]
        wait_all(statuses, beamline.clock)
        assert operator.get("BL3:ACQ:COUNT") == before + 1
    finally:
        operator.close()
    for name in ("pd_i0", "mpccd"):
        assert all(math.isfinite(v) for v in beamline.devices[name].read().values())
    assert isinstance(beamline.devices["mpccd"], Triggerable)


@pytest.mark.parametrize("name", [n for n, s in PROFILE.devices.items()
                                  if s.kind == "accelerator"])
def test_requestables(beamline, name):
    dev = beamline.devices[name]
    lim = dev.limits
    target = "on" if lim.choices else round(0.25 * lim.low + 0.75 * lim.high, 6)
    status = dev.request(target)
    assert dev.pending == target  # known at once, as on the simulator
    wait_all([status], beamline.clock)
    assert dev.pending is None and dev.read()[name] == target
    with pytest.raises(LimitError):
        dev.check_value("sideways" if dev.limits.choices else 1e6)


def test_run_control_round_trip(beamline):
    daq = beamline.daq
    rec, status = daq.start_run(12, label="contract")
    assert rec.status == 2 and rec.shots == 0 and rec.label == "contract"
    wait_all([status], beamline.clock)
    block = daq.collect()
    final = daq.stop_run()
    assert len(block) == 12 and block.run == rec.run
    for key in ("tag", "event_time", "lightStatus/xray", "lightStatus/laser", "pd_i0",
                "beam/pulse_energy", "mpccd/ROI_0_sum", "mpccd/ROI_1_sum", "mpccd/photon_nPhot",
                "mpccd_octal/ROI_0_sum", "mpccd_octal/ROI_1_sum", "mpccd_octal/photon_nPhot"):
        assert block.data[key].shape == (12,), key
    assert block.data["tag"].dtype == "int64" and block.data["lightStatus/xray"].dtype == "int8"
    assert (block.data["tag"] == rec.start_tag + 2 * block.data["tag"].argsort()).all()
    assert final.status == 0 and final.shots == 12 and final.end_tag == block.data["tag"][-1]
    assert daq.collect() is None
    assert "detectors" in daq.config()
    assert beamline.archive.run_record(3, rec.run).shots == 12  # the IOC's facility archive


def test_estimator_copy_is_the_simulated_twin_in_the_live_state(beamline):
    theta = beamline.devices["theta"]
    wait_all([theta.set(11.41)], beamline.clock)
    twin = beamline.estimator_copy()
    try:
        assert type(twin).__name__ == "SimBeamline" and twin.clock.is_virtual
        assert twin.devices["theta"].position == pytest.approx(theta.position)
        assert twin.devices["pump"].read() == beamline.devices["pump"].read()
        assert twin.spot_grids["sample"] == beamline.spot_grids["sample"]
    finally:
        twin.close()
    assert isinstance(beamline.devices["delay"], Readable)
