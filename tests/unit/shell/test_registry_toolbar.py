"""The command registry (help derives from it) and the toolbar as pure functions."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from expctl.devices.access import AccessLevel
from expctl.devices.protocols import ShotBlock
from expctl.engine.events import (
    RunStarted,
    RunStopped,
    ScanClosed,
    ScanOpened,
    ScanPointTaken,
    ShotBlockTaken,
    StateChanged,
)
from expctl.errors import UserError
from expctl.shell import (
    ArgKind,
    ArgSpec,
    CommandRegistry,
    ShellCommand,
    StatusBoard,
    ToolbarStatus,
    build_registry,
    describe_error,
    toolbar_fragments,
)
from expctl.shell.registry import Mode

SPEC_VOCABULARY = ["wa", "wm", "mv", "mvr", "umv", "ct", "scan", "rock", "peak", "open", "close",
                   "request", "take_run", "seq", "runs", "show", "reduce", "pause", "resume",
                   "stop", "abort", "history", "help", "exit"]


def test_registry_has_the_spec_vocabulary_and_help_lists_each():
    reg = build_registry()
    for name in SPEC_VOCABULARY:
        assert name in reg
        assert f"  {name} " in reg.help_text() or reg.help_text().count(name)
    assert reg.help_text("rock").startswith("rock AXIS SPAN POINTS\n  rocking curve")
    assert "also: quit" in reg.help_text("exit")
    immediate = {c.name for c in reg if c.mode is Mode.IMMEDIATE}
    assert immediate == {"pause", "resume", "stop", "abort", "history", "help", "comment"}
    reading = {c.name for c in reg if c.mode is Mode.READ}
    assert reading == {"wa", "wm", "runs", "show", "reduce", "plot"}


def test_a_did_you_mean_never_swaps_absolute_and_relative_unnoticed():
    reg = build_registry()
    with pytest.raises(UserError) as err:
        reg.get("dscna")
    assert err.value.hint == ("Did you mean `dscan` (relative) or `d2scan` (relative) or "
                              "`scan` (absolute)?")
    with pytest.raises(UserError) as err:
        reg.get("umvrr")
    assert "`umvr` (relative)" in err.value.hint and "`umv` (absolute)" in err.value.hint
    with pytest.raises(UserError) as err:
        reg.get("histroy")
    assert err.value.hint == "Did you mean `history`?"
    assert reg.get("lup") is reg.get("dscan") and reg.get("mov") is reg.get("mv")
    for command in reg:                                   # every command has a worked example
        assert command.example, command.name
    assert "example:\n    dscan theta -10 mdeg 10 mdeg 20" in reg.help_text("dscan")


def test_slots_follow_the_repeat_group():
    cmd = build_registry().get("seq")
    assert [cmd.slot(i).kind for i in range(5)] == [
        ArgKind.CHOICE, ArgKind.FILE, ArgKind.PARAM, ArgKind.PARAM, ArgKind.PARAM]
    assert build_registry().get("rock").slot(3) is None
    assert build_registry().get("mv").usage() == "mv DEV POS …"


def test_duplicate_names_are_refused():
    c = ShellCommand("x", "", (ArgSpec("A", ArgKind.TEXT),), lambda sh, a: None)
    with pytest.raises(ValueError, match="registered twice"):
        CommandRegistry([c, c])


def test_toolbar_fragments_show_state_beam_shutter_run_requests():
    st = ToolbarStatus("bl3", connected=True, engine="paused", beam="on 512 µJ",
                       shutter="xray_shutter open", run="17 reference (40/300 shots)",
                       requests=("pump→on",), activity="mv theta 11.4 deg",
                       live="theta 11.3 deg", queued=2)
    text = "".join(t for _, t in toolbar_fragments(st))
    assert text == (" bl3  engine paused │ beam on 512 µJ │ xray_shutter open │ run 17 reference "
                    "(40/300 shots) │ requests pump→on\n mv theta 11.4 deg │ theta 11.3 deg │ "
                    "2 queued")
    assert ("class:tb.warn", "paused") in toolbar_fragments(st)
    idle = "".join(t for _, t in toolbar_fragments(ToolbarStatus("bl3", connected=True)))
    assert idle == " bl3  engine idle │ beam ? │ ?"          # one line; no run, no activity
    assert "connecting" in "".join(t for _, t in toolbar_fragments(ToolbarStatus("bl3")))


def test_a_running_command_keeps_the_whole_beamline_line_at_100_columns():
    """What the operator saw cut at 100 columns: a scan's line pushed pump, delay and the
    attenuator out; the command now has a line of its own."""
    st = ToolbarStatus("bl3", connected=True, engine="running", beam="on 482 µJ",
                       shutter="shutter open", pump="off", delay="0 ps", attenuator="1800 um",
                       activity="dscan theta -10 mdeg 10 mdeg 20 0.1", live="theta 11.395 deg",
                       scan="scan 1: 6/21 points")
    first, second = "".join(t for _, t in toolbar_fragments(st, 99)).split("\n")
    assert first == (" bl3  engine running │ beam on 482 µJ │ shutter open │ pump off │ "
                     "delay 0 ps │ att 1800 um")
    assert second == " dscan theta -10 mdeg 10 mdeg 20 0.1 │ theta 11.395 deg │ scan 1: 6/21 points"


def _bl3_like():
    specs = {"xray_shutter": SimpleNamespace(kind="shutter", access=AccessLevel.USER, units=""),
             "pump": SimpleNamespace(kind="accelerator", access=AccessLevel.ACCELERATOR,
                                     units=""),
             "pump_delay": SimpleNamespace(kind="accelerator", access=AccessLevel.ACCELERATOR,
                                           units="ps"),
             "delay": SimpleNamespace(kind="pseudo", access=AccessLevel.USER, units="ps"),
             "attenuator": SimpleNamespace(kind="attenuator", access=AccessLevel.USER,
                                           units="um"),
             "beam": SimpleNamespace(kind="beam", access=AccessLevel.USER, units="")}
    devices = {"xray_shutter": SimpleNamespace(state="open"),
               "pump": SimpleNamespace(pending="on", value="off"),
               "pump_delay": SimpleNamespace(pending=None, value=0.5),
               "delay": SimpleNamespace(position=2.0),
               "attenuator": SimpleNamespace(position=200.0),
               "beam": SimpleNamespace(read=lambda: {"beam": 1.0, "beam.pulse_energy": 498.6})}
    roles = SimpleNamespace(shutter="xray_shutter", pump="pump", attenuator="attenuator",
                            delays=("pump_delay", "delay"), beam="beam")
    return devices, specs, roles


def test_status_board_follows_engine_events_and_polls_devices():
    board = StatusBoard("bl3")
    board(StateChanged("idle", "running", 0.0))
    rec = SimpleNamespace(run=5, label="ref", shots=300)
    board(RunStarted(rec, None, 0.0))
    assert board.status.run == "5 ref (0/300 shots)" and board.status.engine == "running"
    board(RunStopped(rec, "completed", 1.0))
    assert board.status.run == ""
    devices, specs, roles = _bl3_like()
    board.poll(devices, specs, roles, read_beam=False)
    st = board.status
    assert (st.shutter, st.requests, st.beam) == ("shutter open", ("pump→on",), "?")
    # pump state, delay as the sum of the delay roles, attenuator with units
    assert (st.pump, st.delay, st.attenuator) == ("off", "2.5 ps", "200 um")
    board.poll(devices, specs, roles, read_beam=True)
    assert board.status.beam == "on 499 µJ"


def test_status_board_takes_the_beam_from_shots_while_busy_and_says_why_suspended():
    board = StatusBoard("bl3")
    rec = SimpleNamespace(run=7, label="", shots=None)
    board(RunStarted(rec, None, 0.0))
    on = ShotBlock(7, {"tag": np.arange(30), "beam/pulse_energy": np.full(30, 510.0)})
    board(ShotBlockTaken(on, None, 1.0))
    assert board.status.beam == "on 510 µJ" and board.status.run == "7 (30 shots)"
    off = ShotBlock(7, {"tag": np.arange(30), "beam/pulse_energy":
                        np.r_[np.full(20, 505.0), np.zeros(10)]})
    board(ShotBlockTaken(off, None, 2.0))
    assert board.status.beam == "off"
    board(StateChanged("running", "suspended", 2.0, "no X-ray beam"))
    assert board.status.suspended.startswith("suspended: no X-ray beam since ")
    board(StateChanged("suspended", "running", 9.0, "condition good again"))
    assert board.status.suspended == "" and board.status.beam == "on"   # resumed: beam back


def test_status_board_follows_a_scan_and_takes_the_beam_from_its_points():
    board = StatusBoard("bl3")
    board(ScanOpened(3, "dscan", ("theta",), 21, 0.0))
    assert board.status.scan == "scan 3: 0/21 points"
    board(ScanPointTaken(3, 0, {"theta": 11.39, "beam": 1.0, "beam.pulse_energy": 487.4}, 0.1))
    board(ScanPointTaken(3, 1, {"theta": 11.391, "beam": 1.0, "beam.pulse_energy": 530.2},
                         0.2))
    assert (board.status.scan, board.status.beam) == ("scan 3: 2/21 points", "on 530 µJ")
    board(ScanClosed(3, "stopped", 2, 0.3))
    assert board.status.scan == ""


def test_toolbar_drops_whole_fields_by_priority_at_narrow_widths():
    st = ToolbarStatus("bl3", connected=True, engine="running", beam="on 512 µJ",
                       shutter="shutter open", pump="on", delay="0.5 ps", attenuator="200 um",
                       run="17 reference (40/300 shots)",
                       step="delay 3/25 (0.5 ps) › spot 2/5 › run reference: 300 shots",
                       eta="ETA 41 min", requests=("pump→on",),
                       activity="seq run sequences/pumpprobe.yaml", queued=1)
    full = "".join(t for _, t in toolbar_fragments(st))
    for width in (200, 160, 120, 100, 80, 60, 40):
        text = "".join(t for _, t in toolbar_fragments(st, width))
        lines = text.split("\n")
        assert len(lines) == 2 and all(len(line) <= width for line in lines), (width, text)
        fields = [f.strip() for line in lines for f in line.split("│")]
        for field in fields:  # every field shown is shown whole
            assert field in full, (width, field)
        assert fields[0] == "bl3  engine running"
    at80 = "".join(t for _, t in toolbar_fragments(st, 80))
    assert "beam on 512 µJ" in at80 and "shutter open" in at80 and "ETA 41 min" in at80
    assert "queued" not in at80 and "requests" not in at80
    assert "delay 3/25 (0.5 ps) › spot 2/5" in at80
    at160 = "".join(t for _, t in toolbar_fragments(st, 160))
    assert "att 200 um" in at160 and "run 17 reference (40/300 shots)" in at160


def test_toolbar_says_since_when_it_is_suspended_and_why():
    import time

    epoch = time.mktime((2026, 12, 3, 14, 0, 0, 0, 0, -1))  # local 14:00:00
    board = StatusBoard("bl3", epoch=epoch)
    board(StateChanged("running", "suspended", 192.0, "no beam"))
    board.update(connected=True)
    text = "".join(t for _, t in toolbar_fragments(board.status))
    assert "engine suspended: no beam since 14:03:12 │" in text
    board(StateChanged("suspended", "running", 250.0, "condition good again"))
    assert board.status.suspended == ""
    assert "engine running │" in "".join(t for _, t in toolbar_fragments(board.status))


def test_describe_error_is_one_paragraph_for_anything():
    assert describe_error(UserError("bad", hint="Do this.")) == "error: bad. Do this."
    text = describe_error(ZeroDivisionError("division\nby zero"))
    assert "\n" not in text
    assert text.startswith("unexpected ZeroDivisionError: division by zero — the shell carries on")
