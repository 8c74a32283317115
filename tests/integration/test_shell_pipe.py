"""A shell session driven through prompt_toolkit's pipe input, on the virtual clock."""

from __future__ import annotations

import io
import re
import threading
import time
from pathlib import Path

import pytest
from prompt_toolkit.input import create_pipe_input
from prompt_toolkit.output import DummyOutput

from expctl.cli.shell import run_cli_command
from expctl.engine.events import StepStarted
from expctl.session import Session
from expctl.shell import Shell, history_path

REPO = Path(__file__).resolve().parents[2]


def _shell(tmp_path, inp, out, open_session=None):
    data = tmp_path / "data"
    return Shell(open_session or (lambda: Session.open("bl3", data)), profile_name="bl3",
                 data_dir=data, input=inp, output=DummyOutput(), stdout=out,
                 sequence_dir=REPO / "sequences", delegate=run_cli_command)


def test_session_mv_wa_rock_peak_dry_run_error_exit(tmp_path, monkeypatch):
    monkeypatch.chdir(REPO)
    out = io.StringIO()
    lines = ["mv theta 11.4", "wa", "wm theta", "rock theta 0.02 41", "open",
             "rock theta 20 mdeg 41", "peak", "mv theta 99", "seq dry-run sequences/small.yaml "
             "shots=5", "take_run 10 ref", "show 1", "close", "exit"]
    with create_pipe_input() as inp:
        inp.send_text("\n".join(lines) + "\n")
        assert _shell(tmp_path, inp, out).run() == 0
    text = out.getvalue()
    # wa: a table with every device; wm: value, units, limits
    assert re.search(r"\n *theta +motor +11\.4 +deg +10 \.\. 13 +user", text)
    assert "theta        11.4 deg  limits 10 .. 13 deg  [motor, user]" in text
    # the first rock is refused (shutter closed), the loop carries on
    assert "error: xray_shutter is closed: a rocking curve needs the beam. Type `open` first." \
        in text
    assert "xray_shutter open" in text
    # the rock is a recorded scan: numbered, its 41 rows printed, its peak statistics
    assert "scan 1  rock theta 20 mdeg 41  (41 points)" in text
    assert re.search(r"\n  41 +11\.41\d+ ", text)
    m = re.search(r"cen ([\d.]+) deg  com [\d.]+ deg  fwhm ([\d.]+) deg  "
                  r"\(mpccd\.roi0/pd_i0\)\n  max [\d.e+-]+ at [\d.]+ deg  fit ([\d.]+) ± ", text)
    assert m, text
    cen, fwhm, center = float(m.group(1)), float(m.group(2)), float(m.group(3))
    assert 11.395 < center < 11.41          # Si(111) at 10 keV plus the spot's offset
    assert abs(cen - center) < fwhm / 4
    assert 0.0015 < fwhm < 0.004            # 28.6 urad intrinsic, broadened by mosaic
    assert re.search(rf"theta moved to the fitted peak, {center:.6g} deg", text)
    assert re.search(rf"theta {center:.6g} deg \(peak of scan 1\)", text)
    assert "error: theta target 99 deg is outside its limits (allowed: 10 .. 13 deg)" in text
    assert "small (sequences/small.yaml, profile bl3)" in text
    assert "no limit or access problems found" in text
    assert "run 1 ref: 10 shots" in text
    assert re.search(r"per-shot datasets", text)        # `show 1` from the CLI's own command
    assert "unexpected" not in text


def test_history_persists_and_usage_errors_are_paragraphs(tmp_path):
    out = io.StringIO()
    with create_pipe_input() as inp:
        inp.send_text("mv theta\nrokc\nhelp rock\nexit\n")
        _shell(tmp_path, inp, out).run()
    out2 = io.StringIO()
    with create_pipe_input() as inp:
        inp.send_text("history 5\nexit\n")
        _shell(tmp_path, inp, out2).run()
    text = out.getvalue()
    assert "error: mv: expected mv DEV POS …, got 1 argument. See `help mv`." in text
    assert "error: unknown command 'rokc'. Did you mean `rock` (relative)?" in text
    assert "rock AXIS SPAN POINTS\n  rocking curve" in text
    assert history_path(tmp_path / "data").is_file()
    assert re.search(r"1  mv theta\n +2  rokc\n +3  help rock\n +4  exit\n +5  history 5",
                     out2.getvalue())


@pytest.mark.slow
def test_ctrl_c_during_a_sequence_pauses_then_resume_completes(tmp_path, monkeypatch):
    """Ctrl-C while `seq run` works: pause at the next checkpoint, resume, the sequence ends.

    The engine thread is held at the rocking-curve step (virtual clock: nothing
    else would give a person time to press Ctrl-C) until Ctrl-C has been handled.
    """
    monkeypatch.chdir(REPO)
    out = io.StringIO()
    gate, reached = threading.Event(), threading.Event()

    def open_session():
        s = Session.open("bl3", tmp_path / "data")

        def hold(event):
            if isinstance(event, StepStarted) and event.path == "4":
                reached.set()
                gate.wait(10)
        s.bus.subscribe(hold)
        return s

    def wait_for(pattern, timeout=30.0):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if re.search(pattern, out.getvalue()):
                return
            time.sleep(0.02)
        pytest.fail(f"never saw {pattern!r} in:\n{out.getvalue()}")

    with create_pipe_input() as inp:
        sh = _shell(tmp_path, inp, out, open_session)
        t = threading.Thread(target=sh.run)
        t.start()
        try:
            inp.send_text("seq run sequences/small.yaml shots=5\n")
            assert reached.wait(30)
            inp.send_text("\x03")
            wait_for("pause requested at the next checkpoint")
            gate.set()
            wait_for("paused — type resume, stop or abort")
            inp.send_text("resume\n")
            wait_for(r"small completed: 2 runs 1–2")
            inp.send_text("exit\n")
        finally:
            gate.set()
            sh.request_exit()  # never leave the shell thread behind, even when a wait failed
            t.join(30)
    text = out.getvalue()
    assert "running small: about" in text
    assert re.search(r"  run 1 reference: 5 shots  \[step \d+\]", text)
    assert "  run 2 pumped: 1 shot  [step 9]" in text


def test_moving_commands_are_refused_while_another_process_controls_the_beamline(tmp_path):
    from expctl.beamtime.lock import BeamlineLock

    out = io.StringIO()
    other = BeamlineLock(tmp_path / "data", 3, "bl3")
    other.acquire("expctl run sequences/pumpprobe.yaml", campaign="20261203-140000-abcdef")
    try:
        with create_pipe_input() as inp:
            inp.send_text("mv theta 11.41\nwm theta\nmount new xtal-1\nexit\n")
            assert _shell(tmp_path, inp, out).run() == 0
    finally:
        other.release()
    text = out.getvalue()
    assert text.count("error: bl3: beamline 3 is controlled by pid") == 2  # mv and mount
    assert "running `expctl run sequences/pumpprobe.yaml`, campaign 20261203-140000-abcdef" \
        in text
    assert "theta        11.4 deg" in text  # reading needs no control
    out = io.StringIO()
    with create_pipe_input() as inp:  # once it is free: mount, move
        inp.send_text("mount new xtal-1 first crystal\numv theta 11.41\nexit\n")
        assert _shell(tmp_path, inp, out).run() == 0
    text = out.getvalue()
    assert re.search(r"registered and mounted xtal-1 on grid sample: (\d+) of \1 spots", text)
    assert "theta 11.41 deg" in text
    assert BeamlineLock(tmp_path / "data", 3).holder() is None  # given back after each command
