"""The command registry (help derives from it) and the toolbar as pure functions."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from expctl.devices.access import AccessLevel
from expctl.engine.events import RunStarted, RunStopped, StateChanged
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
    assert immediate == {"pause", "resume", "stop", "abort", "history", "help"}


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
                       requests=("pump→on",), activity="mv theta 11.4 deg", queued=2)
    text = "".join(t for _, t in toolbar_fragments(st))
    assert text == (" bl3  engine paused │ beam on 512 µJ │ xray_shutter open │ run 17 reference "
                    "(40/300 shots) │ requests pump→on │ mv theta 11.4 deg │ 2 queued")
    assert ("class:tb.warn", "paused") in toolbar_fragments(st)
    idle = "".join(t for _, t in toolbar_fragments(ToolbarStatus("bl3", connected=True)))
    assert idle == " bl3  engine idle │ beam ? │ ? │ run none"
    assert "connecting" in "".join(t for _, t in toolbar_fragments(ToolbarStatus("bl3")))


def test_status_board_follows_engine_events_and_polls_devices():
    board = StatusBoard("bl3")
    board(StateChanged("idle", "running", 0.0))
    rec = SimpleNamespace(run=5, label="ref", shots=300)
    board(RunStarted(rec, None, 0.0))
    assert board.status.run == "5 ref (0/300 shots)" and board.status.engine == "running"
    board(RunStopped(rec, "completed", 1.0))
    assert board.status.run == ""
    specs = {"xray_shutter": SimpleNamespace(kind="shutter", access=AccessLevel.USER, units=""),
             "pump": SimpleNamespace(kind="accelerator", access=AccessLevel.ACCELERATOR,
                                     units=""),
             "beam": SimpleNamespace(kind="beam", access=AccessLevel.USER, units="")}
    devices = {"xray_shutter": SimpleNamespace(state="open"), "pump": SimpleNamespace(
        pending="on"), "beam": SimpleNamespace(read=lambda: {"beam": 1.0,
                                                             "beam.pulse_energy": 498.6})}
    board.poll(devices, specs, read_beam=False)
    assert (board.status.shutter, board.status.requests, board.status.beam) == (
        "xray_shutter open", ("pump→on",), "?")
    board.poll(devices, specs, read_beam=True)
    assert board.status.beam == "on 499 µJ"


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
