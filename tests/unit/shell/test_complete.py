"""Completion as a pure function of the text before the cursor."""

from __future__ import annotations

import pytest

from expctl.devices.profile import load_profile
from expctl.shell import CompletionContext, build_registry, suggest
from sim.backend import PROFILE_DIR


@pytest.fixture(scope="module")
def ctx():
    devices = load_profile(PROFILE_DIR / "bl3.yaml").devices
    files = ["sequences/small.yaml", "sequences/rocking.yaml", "sequences/"]
    params = {"sequences/small.yaml": ["shots", "span"]}
    return CompletionContext(build_registry(), devices,
                             lambda prefix: [f for f in files if f.startswith(prefix)],
                             lambda path: params.get(path, []))


def texts(line, ctx):
    return [s.text for s in suggest(line, ctx)]


def test_commands_complete_from_the_registry(ctx):
    assert texts("r", ctx) == ["reduce", "request", "resume", "rock", "runs"]
    got = suggest("ro", ctx)
    assert [(s.text, s.start) for s in got] == [("rock", -2)]
    assert got[0].meta.startswith("rocking curve")
    assert "exit" in texts("", ctx) and "quit" in texts("", ctx)


def test_mv_offers_motors_only_and_alternates_with_values(ctx):
    motors = texts("mv ", ctx)
    assert {"theta", "sample_x", "delay", "sd_t1", "mono_energy"} <= set(motors)
    assert not {"xray_shutter", "pd_gain", "pump", "mpccd"} & set(motors)
    assert texts("mv the", ctx) == ["theta"]
    assert texts("mv theta ", ctx) == []               # a position comes next
    assert "theta" not in texts("mv theta 11.4 ", ctx)  # already moving
    assert "sample_x" in texts("mv theta 11.4 ", ctx)


def test_units_after_a_number_match_the_device_dimension(ctx):
    assert texts("mv delay 5 p", ctx) == ["ps"]
    assert set(texts("mv theta 11 m", ctx)) == {"mrad", "mdeg"}
    assert texts("rock theta 36 md", ctx) == ["mdeg"]
    # after the unit the next device slot comes
    assert "sample_x" in texts("mv delay 5 ps sam", ctx) or texts("mv delay 5 ps sam", ctx) == [
        "sample_x", "sample_y"]


def test_device_states_and_device_kinds(ctx):
    assert texts("set pd_gain ", ctx) == ["low", "mid", "high"]
    assert texts("set pd_gain h", ctx) == ["high"]
    assert texts("open ", ctx) == ["xray_shutter"]
    assert texts("request ", ctx) == ["pump", "pump_delay"]
    assert texts("request pump ", ctx) == ["off", "on"]
    assert sorted(texts("scan theta 11 12 5 ", ctx)) == ["mpccd", "mpccd_octal", "pd_i0"]
    assert "beam" in texts("wm ", ctx) and "theta" not in texts("wm theta ", ctx)


def test_sequence_files_and_parameters(ctx):
    assert texts("seq ", ctx) == ["run", "dry-run", "validate"]
    assert texts("seq run sequences/s", ctx) == ["sequences/small.yaml"]
    assert texts("seq run sequences/small.yaml ", ctx) == ["shots=", "span="]
    assert texts("seq run sequences/small.yaml shots=5 ", ctx) == ["span="]
    assert texts("seq run sequences/small.yaml shots=", ctx) == []
    assert texts("help se", ctx) == ["seq", "set"]


def test_nothing_for_unknown_commands_or_before_the_profile_is_loaded():
    bare = CompletionContext(build_registry())
    assert suggest("frobnicate ", bare) == []
    assert texts("mv ", bare) == []
    assert texts("he", bare) == ["help"]
