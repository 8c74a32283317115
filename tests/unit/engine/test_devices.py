"""The engine's device table: each device narrowed to what it supports, refusals named."""

from __future__ import annotations

import pytest

from expctl.devices.access import AccessLevel
from expctl.engine import Engine
from expctl.engine.devices import DeviceTable
from expctl.errors import AccessError, SequenceError
from expctl.plans import mvr
from expctl.testing import make_fake_beamline


@pytest.fixture
def table() -> DeviceTable:
    return DeviceTable(make_fake_beamline().devices, "bl3", AccessLevel.USER)


def test_each_device_is_narrowed_to_the_protocols_it_supports(table) -> None:
    detector, motor, pump = table.info("mpccd"), table.info("theta"), table.info("pump")
    assert detector.triggerable is detector.device and detector.readable is detector.device
    assert motor.triggerable is None and motor.requestable is None
    assert pump.requestable is pump.device and pump.triggerable is None
    assert table.info("theta") is motor  # looked at once


def test_an_unknown_device_is_named_with_close_names(table) -> None:
    with pytest.raises(SequenceError) as info:
        table.info("tehta")
    assert info.value.paragraph() == ("no device called 'tehta' on bl3. "
                                      "Did you mean theta?")


def test_only_settable_devices_may_be_set_and_only_axes_moved_relatively(table) -> None:
    with pytest.raises(SequenceError, match="mpccd cannot be set"):
        table.settable("mpccd", "set")
    with pytest.raises(SequenceError, match="xray_shutter has no position to move relative"):
        table.movable("xray_shutter")
    with pytest.raises(AccessError, match="pump is an accelerator parameter"):
        table.settable("pump", "set")
    assert table.movable("theta") is table.allowed["theta"]


def test_snapshot_reads_every_device_but_the_detectors(table) -> None:
    snap = table.snapshot()
    assert "theta" in snap and "xray_shutter" in snap and "mpccd" not in snap


def test_a_relative_move_of_a_switch_is_refused_before_anything_moves() -> None:
    bl = make_fake_beamline()
    with pytest.raises(SequenceError, match="no position to move relative to"):
        Engine(bl).run(mvr({"xray_shutter": 1.0, "theta": 0.1}))
    assert bl.devices["theta"].moves == 0
