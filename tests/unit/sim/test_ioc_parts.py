"""Pieces of the simulated IOC that need no network: naming, foils, enum puts, restart,
its log."""

from __future__ import annotations

import asyncio
import logging
import sys

import numpy as np
import pytest

from expctl.devices import SpotGrid, wait_all
from expctl.errors import BackendError
from sim.backend import SimBackend, open_archive
from sim.ioc.channels import Refused, enum_label, text
from sim.ioc.control import IocFaults
from sim.ioc.discrete import foil_set
from sim.ioc.naming import column_pv, device_base, signal_pv
from sim.ioc.restart import Autosave, close_interrupted_runs
from sim.ioc.serve import _BeaconOnce


def test_pv_names():
    assert device_base("BL3:", "theta") == "BL3:THETA"
    assert signal_pv("BL3:", "pd_i0", "pd_i0") == "BL3:PD_I0"
    assert signal_pv("BL3:", "mpccd", "mpccd.roi0") == "BL3:MPCCD:ROI0"
    assert column_pv("BL3:", "mpccd/ROI_0_sum") == "BL3:DAQ:BLK:MPCCD:ROI_0_SUM"
    assert column_pv("BL3:", "lightStatus/xray") == "BL3:DAQ:BLK:LIGHTSTATUS:XRAY"


def test_foils_in_for_a_thickness():
    foils = (25.0, 50.0, 100.0, 200.0, 400.0, 800.0)
    assert foil_set(0.0, foils) == (False,) * 6
    assert foil_set(225.0, foils) == (True, False, False, True, False, False)
    assert foil_set(1575.0, foils) == (True,) * 6


def test_enum_puts_arrive_as_index_or_label():
    labels = ("open", "closed")
    assert enum_label(np.int16(1), labels) == "closed"
    assert enum_label(0, labels) == "open"
    assert enum_label(b"open", labels) == "open" and enum_label("closed", labels) == "closed"
    assert enum_label(7, labels) == "7"  # not a state: the device refuses it
    assert text(b"run 12\0junk") == "run 12"


def test_autosave_brings_setpoints_back_and_drops_invalid_ones(tmp_path, profile):
    saved = Autosave(tmp_path, "bl3")
    saved.changed("theta", 11.45)
    saved.changed("xray_shutter", "open")
    saved.changed("sample_x", 99.0)  # outside the limits: not restored
    restored = Autosave(tmp_path, "bl3").apply(profile)
    assert restored.devices["theta"].options["initial"] == 11.45
    assert restored.devices["xray_shutter"].options["initial"] == "open"
    assert restored.devices["sample_x"].options["initial"] == 0.0
    assert Autosave(None, "bl3").apply(profile) == profile


def test_a_run_a_killed_ioc_left_running_is_closed_at_restart(tmp_path, profile, clock):
    bl = SimBackend().connect(profile, clock, data_dir=tmp_path)
    wait_all([bl.devices["xray_shutter"].set("open")], clock)
    record, status = bl.daq.start_run(20, label="cut")
    clock.sleep(0.5)
    bl.daq.collect()  # some shots recorded, then the process dies without stop_run
    assert close_interrupted_runs(tmp_path, 3) == [record.run]
    closed = open_archive(tmp_path).run_record(3, record.run)
    assert closed.status == 0 and 0 < closed.shots < 20
    assert closed.comment == "(interrupted: the IOC stopped during the run)"
    assert close_interrupted_runs(tmp_path, 3) == []


def test_an_ignored_target_holds_its_puts_until_the_faults_are_cleared(beamline):
    faults = IocFaults(beamline.faults, {"theta", "daq"}, beamline.clock)
    with pytest.raises(BackendError, match="cannot target 'nothing'"):
        faults.inject("ignore", "nothing")

    async def scenario() -> None:
        faults.inject("ignore", "theta")
        held = asyncio.ensure_future(faults.hold_if_ignored("theta"))
        await faults.hold_if_ignored("daq")  # not ignored: returns at once
        await asyncio.sleep(0.01)
        assert not held.done()
        faults.clear()
        with pytest.raises(Refused):
            await held
    asyncio.run(scenario())


def test_spot_grids_on_a_plate_are_the_simulators(beamline, profile):
    grid = profile.raw["spot_grids"]["sample"]
    assert SpotGrid.on_plate("sample_x", "sample_y", grid["plate_mm"], grid["pitch_mm"],
                             grid["margin_mm"]) == beamline.spot_grids["sample"]


def test_fault_times_count_from_when_the_ioc_takes_them(beamline, clock):
    """A client's clock has another zero than the IOC's: SIM:FAULT times are relative."""
    faults = IocFaults(beamline.faults, {"mpccd"}, clock)
    clock.sleep(100.0)
    faults.inject("dropout", "mpccd", at=5.0)
    faults.inject("stall", "theta", at=2.5)
    assert beamline.faults.dropouts["mpccd"] == pytest.approx(105.0)
    assert beamline.faults.take("stall", "theta") is None  # not before 102.5
    clock.sleep(3.0)
    assert beamline.faults.take("stall", "theta") == {}


def test_the_mounted_sample_comes_back_after_a_restart(tmp_path, profile):
    from sim.ioc.server import SimIOC

    first = SimIOC(profile, prefix="T:", data_dir=tmp_path)
    first.mount("xtal-3")
    assert first.beamline.sample == "xtal-3"
    plate = first.beamline.world.plate
    plate.damaged_at[17] = 0.0
    plate.on_damage()  # as a pumped shot reports it
    first.close()
    again = SimIOC(profile, prefix="T:", data_dir=tmp_path)
    try:
        assert again.sample == "xtal-3" and again.beamline.sample == "xtal-3"
        assert 17 in again.beamline.world.plate.damaged_at
        assert text(again.pvdb["T:SIM:SAMPLE"].value) == "xtal-3"
    finally:
        again.close()
    with pytest.raises(BackendError, match="cannot name a file"):
        again.mount("../x")


def _record(msg: str, *args: object, exc: bool = False) -> logging.LogRecord:
    try:
        raise OSError("Connection refused")
    except OSError:
        info = sys.exc_info() if exc else None
    return logging.LogRecord("caproto.ctx", logging.ERROR, __file__, 1, msg, args, info)


def test_unreceived_beacons_are_said_once_in_one_line():
    once = _BeaconOnce()
    first = _record("Failed to send beacon to %r. Try setting EPICS_CAS_AUTO_BEACON_ADDR_LIST=no",
                    ("127.0.0.1", 5065), exc=True)
    assert once.filter(first)
    assert first.getMessage() == ("Failed to send beacon to ('127.0.0.1', 5065) "
                                  "(no CA repeater listening?); said once")
    assert first.exc_info is None and first.exc_text is None
    assert not once.filter(_record("Failed to send beacon to %r.", ("127.0.0.1", 5065), exc=True))
    other = _record("circuit %s closed", "x", exc=True)
    assert once.filter(other) and other.exc_info is not None  # everything else unchanged
