"""Typed profile sections: roles, daq and spot_grids are read and checked once, clearly."""

from __future__ import annotations

import pytest
import yaml

from expctl.devices.profile import DaqSpec, Roles, load_profile
from expctl.devices.registry import BackendRegistry
from expctl.errors import BackendError
from expctl.plans.procedures import PumpProbeSettings

DEVICES = {
    "tth": {"kind": "motor", "units": "deg"}, "shut": {"kind": "shutter"},
    "gain": {"kind": "switchable"}, "foil": {"kind": "attenuator"}, "ion": {"kind": "monitor"},
    "fel2": {"kind": "accelerator"}, "dly": {"kind": "accelerator"}, "jf": {"kind": "detector"},
    "sx": {"kind": "motor"}, "sy": {"kind": "motor"},
}
ROLES = {"theta": "tth", "shutter": "shut", "pd_gain": "gain", "attenuator": "foil", "i0": "ion",
         "pump": "fel2", "delays": ["dly"], "timing_tool": "jf"}


def _profile(tmp_path, **sections):
    body = {"name": "bl9", "backend": "sim", "beamline": 9, "devices": DEVICES, **sections}
    path = tmp_path / "bl9.yaml"
    path.write_text(yaml.safe_dump(body, sort_keys=False), encoding="utf-8")
    return load_profile(path)


def test_bl3_sections_are_typed() -> None:
    bl3 = BackendRegistry().find_profile("bl3")
    assert bl3.roles.shutter == "xray_shutter" and bl3.roles.delays == ("pump_delay", "delay")
    assert bl3.daq.rate_hz == 30.0 and bl3.daq.detectors == ("mpccd", "mpccd_octal")
    grid = bl3.spot_grids["sample"]
    assert (grid.x_axis, grid.y_axis, grid.options["pitch_mm"]) == ("sample_x", "sample_y", 0.2)
    assert bl3.with_seed(5).roles == bl3.roles


def test_missing_sections_take_their_defaults(tmp_path) -> None:
    profile = _profile(tmp_path)
    assert profile.roles == Roles() and profile.daq == DaqSpec() and profile.spot_grids == {}
    with pytest.raises(BackendError, match="the profile names no device for the role 'theta'"):
        profile.roles.require("theta")


def test_unknown_roles_and_daq_keys_are_kept_for_the_backend(tmp_path) -> None:
    profile = _profile(tmp_path, roles=ROLES, daq={"rate_hz": 60, "pv_prefix": "BL9:"})
    assert profile.roles.extra == {"timing_tool": "jf"}
    assert profile.daq.rate_hz == 60.0 and profile.daq.options == {"pv_prefix": "BL9:"}


@pytest.mark.parametrize(("sections", "message"), [
    ({"roles": {"shutter": "shutt"}}, "roles: shutter: 'shutt' is not a device of this profile"),
    ({"roles": {"delays": ["dly", 5]}}, "roles: delays: 5 is not a device of this profile"),
    ({"roles": ["shut"]}, "roles: must be a mapping, got list"),
    ({"daq": {"rate_hz": 0}}, "daq: rate_hz: must be a positive number, got 0"),
    ({"daq": {"timeout_margin": -1}}, "daq: timeout_margin: must be a non-negative number, got -1"),
    ({"daq": {"gate_shutter": "yes"}}, "daq: gate_shutter: must be true or false, got 'yes'"),
    ({"daq": {"detectors": ["jf", "eiger"]}},
     "daq: detectors: 'eiger' is not a device of this profile"),
    ({"spot_grids": {"plate": {"x_axis": "sx"}}}, "spot_grids: plate: lacks y_axis"),
    ({"spot_grids": {"plate": {"x_axis": "sx", "y_axis": "sz"}}},
     "spot_grids: plate: y_axis: 'sz' is not a device of this profile"),
])
def test_bad_sections_name_file_section_and_value(tmp_path, sections, message) -> None:
    with pytest.raises(BackendError) as info:
        _profile(tmp_path, **sections)
    assert info.value.message == f"beamline profile {tmp_path / 'bl9.yaml'}: {message}"
    if "is not a device" in message:
        assert info.value.allowed == ", ".join(DEVICES)


def test_procedure_names_come_from_the_roles(tmp_path) -> None:
    profile = _profile(tmp_path, roles=ROLES, daq={"detectors": ["jf"]})
    s = PumpProbeSettings.from_profile(profile, rock_points=9)
    assert (s.theta, s.shutter, s.pump, s.pump_delay, s.pd_gain, s.attenuator) == (
        "tth", "shut", "fel2", "dly", "gain", "foil")
    assert (s.rock_signal, s.rock_i0, s.rock_read, s.rock_points) == (
        "jf.roi0", "ion", ("jf", "ion"), 9)
    assert PumpProbeSettings.from_profile(BackendRegistry().find_profile("bl3")) == \
        PumpProbeSettings()  # bl3's roles give the documented defaults
    with pytest.raises(BackendError, match="profile bl9 names no device for the role 'delays'"):
        PumpProbeSettings.from_profile(_profile(tmp_path, roles={"theta": "tth"}))
