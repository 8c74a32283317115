"""Bottom layer: units, errors, limits, access, clock and status."""

from __future__ import annotations

import math

import pytest

from expctl.clock import VirtualClock
from expctl.devices import AccessLevel, Limits, Status, check_access, wait_all
from expctl.errors import (
    AccessError,
    AggregateError,
    DeviceTimeoutError,
    IllegalCommand,
    LimitError,
    Location,
    MotorStallError,
    SequenceError,
    UnitError,
    UserError,
)
from expctl.units import convert, parse_quantity


@pytest.mark.parametrize(
    ("text", "unit", "expected"),
    [("10 ps", "fs", 10_000.0), ("200 um", "mm", 0.2), ("-2 ps", "ps", -2.0),
     ("0.01 deg", "urad", 174.53292519943), ("1.5e3 eV", "keV", 1.5), (300, "", 300.0)],
)
def test_quantities_convert_exactly(text, unit, expected):
    assert parse_quantity(text).to(unit) == pytest.approx(expected, rel=1e-12)


def test_units_of_other_dimension_are_refused_naming_both():
    with pytest.raises(UnitError) as err:
        convert(3.0, "ps", "mm")
    assert "ps (time) cannot be converted to mm (length)" in str(err.value)
    assert "um" in err.value.allowed


@pytest.mark.parametrize("text", ["10 parsecs", "ten ps", "", "1..2 mm"])
def test_bad_quantities_are_user_errors(text):
    with pytest.raises(UnitError) as err:
        parse_quantity(text)
    assert err.value.exit_code == 2


def test_limit_error_names_device_target_and_range():
    lim = Limits(-5.0, 5.0, "mm")
    with pytest.raises(LimitError) as err:
        lim.check("sample_x", 7.5)
    assert err.value.paragraph() == (
        "sample_x target 7.5 mm is outside its limits (allowed: -5 .. 5 mm)"
    )
    lim.check("sample_x", 5.0)
    assert not lim.contains(math.nan)


def test_discrete_limits_list_the_choices():
    lim = Limits(units="", choices=("low", "mid", "high"))
    with pytest.raises(LimitError, match=r"allowed: low, mid, high"):
        lim.check("pd_gain", "max")


def test_sequence_error_paragraph_carries_location():
    err = SequenceError("unknown device 'thetaa'", location=Location("seq.yaml", 12, 7),
                        hint="Did you mean 'theta'?")
    assert err.paragraph() == "seq.yaml:12:7: unknown device 'thetaa'. Did you mean 'theta'?"


def test_aggregate_error_is_user_error_only_if_all_parts_are():
    user = AggregateError([LimitError("a"), SequenceError("b")])
    mixed = AggregateError([LimitError("a"), MotorStallError("stall")])
    assert (user.exit_code, mixed.exit_code) == (2, 1)
    assert user.paragraph().splitlines() == ["2 problems found:", "  - a", "  - b"]


def test_illegal_command_lists_allowed_commands():
    err = IllegalCommand("resume", "idle", ["start"])
    assert str(err) == "cannot resume while the engine is idle (allowed: start)"


def test_access_levels_order_and_accelerator_parameters():
    check_access("theta", AccessLevel.USER, AccessLevel.USER, verb="move")
    with pytest.raises(AccessError, match="needs staff access"):
        check_access("mono_energy", AccessLevel.STAFF, AccessLevel.USER, verb="move")
    with pytest.raises(AccessError, match="cannot be set directly"):
        check_access("pump", AccessLevel.ACCELERATOR, AccessLevel.STAFF, verb="set")
    check_access("pump", AccessLevel.ACCELERATOR, AccessLevel.USER, verb="request")


def test_virtual_clock_jumps_and_never_goes_back():
    clock = VirtualClock()
    clock.sleep_until(12.5)
    clock.sleep_until(3.0)
    clock.sleep(0.5)
    assert clock.now() == 13.0


def test_wait_all_jumps_to_latest_deadline_and_raises_first_error():
    clock = VirtualClock()
    ok = Status("theta", 0.0, 2.0)
    stalled = Status("sample_x", 0.0, 5.0, error=MotorStallError("sample_x stalled"))
    with pytest.raises(MotorStallError):
        wait_all([ok, stalled], clock)
    assert clock.now() == 5.0
    assert ok.update(1.0).fraction == pytest.approx(0.5)


def test_status_times_out_before_a_late_deadline():
    clock = VirtualClock()
    slow = Status("daq", 0.0, 100.0, timeout=10.0)
    with pytest.raises(DeviceTimeoutError, match="did not complete within 10 s"):
        wait_all([slow], clock)
    assert clock.now() == 10.0


def test_callback_status_finishes_from_hardware_side():
    st = Status("shutter", 0.0)
    assert not st.is_done(1e9)
    st.finish(at=0.3)
    assert st.is_done(0.3) and st.wait_real(0)


@pytest.mark.parametrize(("value", "src", "dst", "expected"),
                         [(30.0, "s", "min", 0.5), (1.0, "h", "s", 3600.0), (7.0, "nm", "m", 7e-9)])
def test_conversions_between_non_decimal_units_are_exact(value, src, dst, expected):
    assert convert(value, src, dst) == expected


def test_data_dir_rule_env_then_default_and_explicit_wins(monkeypatch, tmp_path):
    from pathlib import Path

    from expctl.paths import default_data_dir, resolve_data_dir

    monkeypatch.setenv("EXPCTL_DATA_DIR", str(tmp_path / "d"))
    assert default_data_dir() == tmp_path / "d"
    assert resolve_data_dir(None) == tmp_path / "d"
    assert resolve_data_dir(tmp_path / "x") == tmp_path / "x"
    monkeypatch.delenv("EXPCTL_DATA_DIR")
    assert default_data_dir() == Path("expctl-data")


def test_long_foil_ladders_are_summarised_as_a_range():
    ladder = Limits(units="um", choices=tuple(25.0 * k for k in range(64)))
    assert ladder.describe() == "0 .. 1575 um in steps of 25 um (64 values)"
    uneven = Limits(units="um",
                    choices=(0.0, 10.0, 30.0, 70.0, 150.0, 310.0, 630.0, 1270.0, 2550.0))
    assert uneven.describe() == "0, 10, 30, …, 2550 um (9 values)"
    assert Limits(units="um", choices=(0.0, 25.0)).describe() == "0 um, 25 um"


def test_unknown_profile_and_backend_are_user_errors():
    from expctl.devices import BackendRegistry

    registry = BackendRegistry({})
    with pytest.raises(UserError) as err:
        registry.find_profile("bl9")
    assert err.value.exit_code == 2 and "no beamline profile called 'bl9'" in str(err.value)
    with pytest.raises(UserError, match="no backend called 'epics'"):
        registry.get("epics")


def test_cli_reports_a_bug_in_one_paragraph_and_keeps_the_traceback(monkeypatch, capsys):
    import argparse
    from pathlib import Path

    import expctl.cli as cli

    def broken(args: argparse.Namespace) -> int:
        raise ZeroDivisionError("division by zero")

    command = cli.Command("broken", "a command with a bug",
                          lambda p: None, broken)
    monkeypatch.setattr(cli, "_parser", lambda: _parser_with(command))
    assert cli.main(["broken"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("internal error: ZeroDivisionError: division by zero. This is a bug")
    assert "Traceback" not in err
    report = Path(err.split("the traceback is in ")[1].split(" (please")[0])
    assert "ZeroDivisionError" in report.read_text(encoding="utf-8")
    report.unlink()


def _parser_with(command):
    import argparse

    parser = argparse.ArgumentParser(prog="expctl")
    sub = parser.add_subparsers(dest="command")
    p = sub.add_parser(command.name)
    p.set_defaults(_run=command.run)
    return parser
