"""Shell parsing as pure functions: words, units, device targets, counts, usage errors."""

from __future__ import annotations

import pytest

from expctl.devices.access import AccessLevel
from expctl.devices.profile import load_profile
from expctl.errors import AccessError, LimitError, UnitError, UserError
from expctl.shell import (
    build_registry,
    join_units,
    parse_amount,
    parse_assignments,
    parse_count,
    parse_line,
    parse_relative,
    parse_targets,
    split_line,
)
from sim.backend import PROFILE_DIR


@pytest.fixture(scope="module")
def devices():
    return load_profile(PROFILE_DIR / "bl3.yaml").devices


@pytest.fixture(scope="module")
def registry():
    return build_registry()


def test_split_line_quotes_and_comments():
    assert split_line('take_run 10 ref "first light" # note') == [
        "take_run", "10", "ref", "first light"]
    assert split_line("   ") == []


def test_split_line_unbalanced_quote_is_a_user_error():
    with pytest.raises(UserError, match="cannot read the line: No closing quotation"):
        split_line('take_run 10 "ref')


def test_join_units_merges_a_unit_after_a_number_only():
    assert join_units(["delay", "5", "ps", "theta", "11.4"]) == ["delay", "5 ps", "theta", "11.4"]
    assert join_units(["rock", "theta", "36", "mdeg", "21"]) == ["rock", "theta", "36 mdeg", "21"]
    # a device called like a unit is never swallowed
    assert join_units(["1", "s"], lambda w: w == "s") == ["1", "s"]


def test_parse_line_finds_command_and_checks_count(registry):
    inv = parse_line("mv theta 11.41 sample_x 1 mm", registry)
    assert inv.command.name == "mv"
    assert inv.args == ["theta", "11.41", "sample_x", "1 mm"]
    assert parse_line("  # only a comment", registry) is None
    assert parse_line("quit", registry).command.name == "exit"


def test_parse_line_usage_errors(registry):
    with pytest.raises(UserError) as err:
        parse_line("mv theta", registry)
    assert err.value.paragraph() == (
        "mv: expected mv DEV POS …, got 1 argument. See `help mv`.")
    with pytest.raises(UserError, match=r"rock: expected rock AXIS SPAN POINTS, got 4"):
        parse_line("rock theta 0.01 21 7", registry)
    with pytest.raises(UserError) as err:
        parse_line("rokc theta", registry)
    assert err.value.paragraph() == "unknown command 'rokc'. Did you mean `rock` (relative)?"


def test_parse_targets_converts_units_and_keeps_states(devices):
    got = parse_targets(["theta", "11.41", "delay", "0.05 ns", "sample_x", "500 um"], devices,
                        "move")
    assert got == {"theta": 11.41, "delay": pytest.approx(50.0),
                   "sample_x": pytest.approx(0.5)}
    assert parse_targets(["pd_gain", "high", "attenuator", "0.2 mm"], devices, "set") == {
        "pd_gain": "high", "attenuator": 200.0}
    assert parse_targets(["pump", "on"], devices, "request") == {"pump": "on"}


def test_parse_targets_refusals_name_device_and_range(devices):
    with pytest.raises(LimitError) as err:
        parse_targets(["theta", "99"], devices, "move")
    assert err.value.location is None
    assert err.value.paragraph() == (
        "theta target 99 deg is outside its limits (allowed: 10 .. 13 deg)")
    with pytest.raises(UnitError, match=r"theta is in deg \(angle\); 5 ps is a time"):
        parse_targets(["theta", "5 ps"], devices, "move")
    with pytest.raises(AccessError, match="mono_energy"):
        parse_targets(["mono_energy", "9"], devices, "move", AccessLevel.USER)
    with pytest.raises(AccessError, match="pump is an accelerator parameter|cannot be set|"
                                          "accelerator"):
        parse_targets(["pump", "on"], devices, "set")
    with pytest.raises(UserError, match="unknown device 'thetta'") as err:
        parse_targets(["thetta", "1"], devices, "move")
    assert "Did you mean 'theta'?" in err.value.paragraph()
    with pytest.raises(UserError, match="expected DEVICE VALUE pairs"):
        parse_targets(["theta"], devices, "move")


def test_parse_relative_and_amounts(devices):
    assert parse_relative(["theta", "10 mdeg"], devices) == {"theta": pytest.approx(0.01)}
    with pytest.raises(UserError, match="pd_gain has states, not positions"):
        parse_relative(["pd_gain", "1"], devices)
    assert parse_amount("36 mdeg", "deg", "SPAN") == pytest.approx(0.036)
    assert parse_amount("0.5", "s", "t") == 0.5
    with pytest.raises(UserError, match="SPAN must be a number, got 'wide'"):
        parse_amount("wide", "deg", "SPAN")


def test_parse_count_and_assignments():
    assert parse_count("41", "POINTS", 3) == 41
    with pytest.raises(UserError, match="POINTS must be at least 3, got 2"):
        parse_count("2", "POINTS", 3)
    with pytest.raises(UserError, match="SHOTS must be a whole number, got '1.5'"):
        parse_count("1.5", "SHOTS")
    assert parse_assignments(["shots=5", "span=0.02 deg"]) == ["shots=5", "span=0.02 deg"]
    with pytest.raises(UserError, match="expected NAME=VALUE, got 'shots'"):
        parse_assignments(["shots"])
