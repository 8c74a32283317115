"""The IPython surface: devices as objects, SPEC verbs as methods, rehearsal, access enforced."""

from __future__ import annotations

import pytest

from expctl.errors import AccessError, AggregateError, ArgumentError
from expctl.namespace import DeviceProxy, connect
from expctl.plans import line_scan, rel_scan
from expctl.runlog import Catalog


@pytest.fixture
def bl(tmp_path):
    console = connect("bl3", tmp_path / "data")
    yield console
    console.session.close()


def test_devices_are_attributes_and_move_through_the_engine(bl, capsys):
    assert isinstance(bl.theta, DeviceProxy) and "theta" in dir(bl)
    assert repr(bl.theta) == "<theta: 11.4 deg (motor)>"
    assert bl.theta.umv("11.402 deg") == pytest.approx(11.402)
    assert bl.theta.umvr("-2 mdeg") == pytest.approx(11.400)
    bl.sample_x.mv(1.5)
    bl.attenuator.set("200 um")
    assert bl.attenuator.value == 200.0
    bl.pump_delay.mv("500 fs")                  # an accelerator parameter: requested
    assert bl.pump_delay.value == pytest.approx(0.5)
    out = capsys.readouterr().out
    assert "theta 11.402 deg" in out and "theta 11.4 deg" in out
    assert bl.devices["sample_x"].value == 1.5
    with pytest.raises(AttributeError, match="no device or command 'thetta'"):
        _ = bl.thetta


def test_access_levels_hold_on_every_path(bl):
    # mono_energy is staff-only: a user session is refused before anything moves
    with pytest.raises((AccessError, AggregateError), match="staff"):
        bl.mono_energy.set(10.5)
    with pytest.raises((AccessError, AggregateError), match="staff"):
        bl.mv({"mono_energy": "10.5 keV"})
    assert bl.mono_energy.value == 10.0
    assert not hasattr(DeviceProxy, "device")  # no handle on the raw device to go around it


def test_scans_print_rows_are_recorded_and_cen_moves(bl, tmp_path, capsys):
    bl.open()
    bl.theta.mv(11.4025)
    data = bl.dscan(bl.theta, "-5 mdeg", "5 mdeg", 10, count=0.1)
    out = capsys.readouterr().out
    assert "scan 1  dscan theta -5 mdeg 5 mdeg 10  (11 points)" in out
    assert "scan 1 completed: 11 points in " in out
    assert bl.theta.value == pytest.approx(11.4025)            # back at the start
    assert data.number == 1 and data.stats().cen == pytest.approx(11.4025, abs=2e-3)
    bl.cen()
    row = Catalog(tmp_path / "data", readonly=True).scan(1)
    assert bl.theta.value == pytest.approx(row["result"]["cen"])
    summary = bl.ct(0.2)
    assert summary["mpccd.roi0/pd_i0"]["n"] == 6.0


def test_rehearsal_gives_duration_and_every_violation_before_anything_moves(bl):
    est = bl.rehearse(lambda: line_scan({"theta": (11.0, 14.0)}, 7, ("pd_i0",)))
    assert not est.ok and "point 6 of 7: theta target 13.5 deg" in est.describe()
    assert bl.theta.value == pytest.approx(11.4)
    ok = bl.session.rehearse(lambda: rel_scan({"theta": ("-1 mdeg", "1 mdeg")}, 5, ("pd_i0",)))
    assert ok.ok and ok.total_s > 0 and ok.describe().endswith("; ok")
    with pytest.raises(ArgumentError, match="a function that makes the plan"):
        bl.session.rehearse(line_scan({"theta": (11.0, 11.1)}, 3))
