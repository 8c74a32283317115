"""Every simulated device honours the expctl.devices protocols, live and in the estimator twin."""

from __future__ import annotations

import math

import pytest

from expctl.devices import (
    Beamline,
    Checkable,
    Device,
    FacilityArchive,
    FaultInjector,
    HasSafeState,
    Movable,
    Readable,
    Requestable,
    RunControl,
    Settable,
    Status,
    Stoppable,
    Switchable,
    Triggerable,
    load_profile,
    wait_all,
)
from expctl.devices.registry import BackendRegistry
from expctl.errors import LimitError
from sim.backend import PROFILE_DIR, SimBackend

PROFILE = load_profile(PROFILE_DIR / "bl3.yaml")
KIND_PROTOCOLS = {
    "motor": (Movable, Stoppable, HasSafeState, Checkable),
    "pseudo": (Movable, Stoppable, Checkable),
    "shutter": (Switchable, HasSafeState),
    "switchable": (Switchable,),
    "attenuator": (Settable, HasSafeState),
    "photodiode": (Readable, Triggerable),
    "beam": (Readable,),
    "mpccd": (Readable, Triggerable),
    "accelerator": (Requestable, HasSafeState),
}


@pytest.fixture(params=["live", "estimator"])
def beamline(request, clock, tmp_path):
    bl = SimBackend().connect(PROFILE, clock, data_dir=tmp_path / "data")
    yield bl if request.param == "live" else bl.estimator_copy()
    bl.close()


def test_profile_names_every_pinned_device():
    pinned = {"sample_x", "sample_y", "theta", "xray_shutter", "attenuator", "pd_gain", "pd_i0",
              "beam", "mpccd", "mpccd_octal", "pump", "pump_delay", "delay", "sd_t1", "sd_t2",
              "mono_energy"}
    assert pinned <= set(PROFILE.devices)
    assert PROFILE.devices["mono_energy"].access.label == "staff"
    assert PROFILE.devices["pump"].access.label == "accelerator-request"


def test_registry_finds_the_backend_and_profile(clock):
    reg = BackendRegistry({"sim": SimBackend()})
    prof = reg.find_profile("bl3")
    assert (prof.name, prof.backend, prof.beamline) == ("bl3", "sim", 3)
    assert isinstance(reg.connect(prof, clock, data_dir=None), Beamline)


def test_beamline_and_services(beamline):
    assert isinstance(beamline, Beamline)
    assert isinstance(beamline.daq, RunControl)
    assert isinstance(beamline.archive, FacilityArchive)
    assert isinstance(beamline.faults, FaultInjector)
    assert set(beamline.spot_grids) == {"sample"}


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
    if kind in ("mpccd",):
        assert set(values) == {f"{name}.roi0", f"{name}.roi1", f"{name}.nphot"}
    else:
        assert name in values


@pytest.mark.parametrize("name", [n for n, s in PROFILE.devices.items()
                                  if s.kind in ("motor", "pseudo", "shutter", "switchable",
                                                "attenuator")])
def test_settable_reaches_targets_and_refuses_outside_limits(beamline, name):
    dev = beamline.devices[name]
    spec = PROFILE.devices[name]
    lim = dev.limits
    if lim.choices is not None:
        target = lim.choices[-1]
        bad = "nonsense"
    else:
        target = round(0.75 * lim.low + 0.25 * lim.high, 6)
        bad = lim.high + 1.0
    with pytest.raises(LimitError) as err:
        dev.check_value(bad)
    assert name in str(err.value) and err.value.allowed
    with pytest.raises(LimitError):
        dev.set(bad)
    st = dev.set(target)
    assert isinstance(st, Status)
    wait_all([st], beamline.clock)
    got = dev.read()[name]
    if isinstance(target, str):
        assert got == target
    else:
        assert got == pytest.approx(float(target), abs=1e-9)
    if spec.safe is not None:
        dev.check_value(spec.safe)


@pytest.mark.parametrize("name", [n for n, s in PROFILE.devices.items()
                                  if s.kind in ("photodiode", "mpccd")])
def test_triggerables_complete_after_their_shots(beamline, name):
    dev = beamline.devices[name]
    now = beamline.clock.now()
    st = dev.trigger(30)
    assert st.deadline == pytest.approx(now + 1.0, abs=1 / 30)
    wait_all([st], beamline.clock)
    assert all(math.isfinite(v) for v in dev.read().values())


@pytest.mark.parametrize("name", [n for n, s in PROFILE.devices.items()
                                  if s.kind == "accelerator"])
def test_requestables(beamline, name):
    dev = beamline.devices[name]
    target = "on" if dev.limits.choices else 0.5 * (dev.limits.low + dev.limits.high)
    st = dev.request(target)
    assert dev.pending == target
    wait_all([st], beamline.clock)
    assert dev.pending is None and dev.read()[name] == target
    with pytest.raises(LimitError):
        dev.check_value("sideways" if dev.limits.choices else 1e6)


def test_run_control_round_trip(beamline):
    daq = beamline.daq
    rec, st = daq.start_run(12, label="contract")
    assert rec.status == 2 and rec.shots == 0
    wait_all([st], beamline.clock)
    block = daq.collect()
    final = daq.stop_run()
    assert len(block) == 12 and block.run == rec.run
    for key in ("tag", "event_time", "lightStatus/xray", "lightStatus/laser", "pd_i0",
                "beam/pulse_energy", "mpccd/ROI_0_sum", "mpccd/ROI_1_sum", "mpccd/photon_nPhot",
                "mpccd_octal/ROI_0_sum", "mpccd_octal/ROI_1_sum", "mpccd_octal/photon_nPhot"):
        assert block.data[key].shape == (12,), key
    assert final.status == 0 and final.shots == 12
    assert daq.collect() is None
    assert "detectors" in daq.config()
