"""The bl3-epics profile and the reading of EPICS wiring (every problem, file and device named)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from expctl.devices import BackendRegistry
from expctl.epics import EpicsBackend
from expctl.epics.connect import channel_names
from expctl.epics.wiring import read_wiring
from expctl.errors import AggregateError, BackendError
from sim.backend import SimBackend
from sim.ioc.daq import block_columns

REGISTRY = BackendRegistry({"sim": SimBackend(), "epics": EpicsBackend()})
EPICS = REGISTRY.find_profile("bl3-epics")
SIM = REGISTRY.find_profile("bl3")


def test_bl3_epics_declares_the_same_devices_as_bl3():
    """Validation and dry-runs must not depend on which backend drives the beamline: the
    epics profile takes devices and sections from its twin, adding only PVs."""
    assert list(EPICS.devices) == list(SIM.devices)
    for name, spec in SIM.devices.items():
        twin = EPICS.devices[name]
        assert (twin.kind, twin.units, twin.limits, twin.access, twin.safe, twin.equipment,
                twin.velocity, twin.acceleration) == \
            (spec.kind, spec.units, spec.limits, spec.access, spec.safe, spec.equipment,
             spec.velocity, spec.acceleration), name
    assert EPICS.seed == SIM.seed and EPICS.beamline == SIM.beamline
    assert EPICS.roles == SIM.roles and EPICS.suspenders == SIM.suspenders
    assert EPICS.serves("bl3") and EPICS.serves("bl3-epics") and not SIM.serves("bl3-epics")
    assert EPICS.daq.detectors == SIM.daq.detectors and EPICS.daq.rate_hz == SIM.daq.rate_hz
    for name, grid in SIM.spot_grids.items():
        assert EPICS.spot_grids[name].as_dict() == {**grid.as_dict(),
                                                    "sample_pv": "$(P)SIM:SAMPLE"}


def test_bl3_epics_reads_every_column_the_ioc_hands_over():
    """A per-shot column the simulator adds (ROI_0_max …) must reach run files over CA too."""
    columns = read_wiring(EPICS).daq.columns
    assert list(columns) == block_columns(list(SIM.daq.detectors))
    assert columns["mpccd/ROI_0_nsat"] == "BL3:DAQ:BLK:MPCCD:ROI_0_NSAT"


def test_the_wiring_expands_macros_and_sorts_monitors_from_reads():
    wiring = read_wiring(EPICS)
    assert wiring.devices["theta"].roles["pv"] == "BL3:THETA"
    assert wiring.devices["mpccd"].trigger == wiring.devices["pd_i0"].trigger
    assert wiring.daq.columns["tag"] == "BL3:DAQ:BLK:TAG" and wiring.daq.dtypes["tag"] == "int64"
    assert wiring.settings.twin == "bl3" and wiring.settings.faults["inject"] == "BL3:SIM:FAULT"
    monitored, polled = channel_names(wiring)
    assert {"BL3:THETA.RBV", "BL3:THETA.DMOV", "BL3:XRAY_SHUTTER_RBV", "BL3:PUMP:BUSY",
            "BL3:DAQ:RUNINFO", "BL3:ACQ:NSHOTS"} <= set(monitored)
    assert {"BL3:THETA.LVIO", "BL3:THETA:MSG", "BL3:DAQ:BLK:TAG", "BL3:ACQ:TRIGGER"} <= set(polled)
    assert not set(monitored) & set(polled)


def _with(profile, device=None, options=None, epics=None):
    raw = dict(profile.raw)
    if epics is not None:
        raw["epics"] = {**raw["epics"], **epics}
    devices = dict(profile.devices)
    if device is not None:
        devices[device] = replace(devices[device], options=options)
    return replace(profile, devices=devices, raw=raw)


def test_every_wiring_problem_is_reported_together_naming_file_and_device():
    shutter = dict(EPICS.devices["xray_shutter"].options)
    del shutter["readback"]
    broken = _with(EPICS, "xray_shutter", shutter, epics={"ack_timeout": -1})
    theta = dict(broken.devices["theta"].options, pv="$(Q)THETA")
    broken = _with(broken, "theta", theta)
    with pytest.raises(AggregateError) as err:
        read_wiring(broken)
    text = err.value.paragraph()
    assert "has 3 EPICS wiring problems" in text and "bl3-epics.yaml" in text
    assert "xray_shutter: needs 'readback' (a PV name)" in text
    assert "theta: PV '$(Q)THETA' uses the undefined macro $(Q)" in text
    assert "epics: 'ack_timeout' must be positive, got -1" in text
    assert err.value.exit_code == 1


def test_an_unknown_kind_names_the_kinds_the_backend_has():
    odd = replace(EPICS, devices={**EPICS.devices, "theta": replace(EPICS.devices["theta"],
                                                                   kind="goniometer")})
    with pytest.raises(BackendError) as err:
        read_wiring(odd)
    assert "theta: the epics backend has no device kind 'goniometer'" in str(err.value)
    assert "motor, shutter" in str(err.value)
