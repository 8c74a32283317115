"""Ctrl-C twice (and three times) on ``expctl run --speed``: a real process on a wall clock.

The pump is on when the keys are pressed, so the safe state must close the shutter
and switch the pump off; the process exits 130 and says what the safe state did.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import pexpect
import pytest

ROOT = Path(__file__).resolve().parents[2]
LAUNCH = "import sys; from expctl.cli import main; sys.exit(main())"


def _spawn(tmp_path: Path) -> pexpect.spawn:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "EXPCTL_DATA_DIR": str(tmp_path / "data"),
           "COLUMNS": "120"}
    return pexpect.spawn(sys.executable, ["-c", LAUNCH, "run", "sequences/small.yaml",
                                          "--speed", "2"],
                         env=env, cwd=str(ROOT), encoding="utf-8", timeout=90,
                         dimensions=(30, 120))


def _after_pump_on(child: pexpect.spawn) -> None:
    child.expect("step 8")  # `set pd_gain low, attenuator 0 um`: the pump was requested on


@pytest.mark.slow
def test_ctrl_c_twice_pauses_in_the_safe_state_and_abort_exits_130(tmp_path) -> None:
    child = _spawn(tmp_path)
    _after_pump_on(child)
    child.sendintr()
    time.sleep(0.05)
    child.sendintr()
    child.expect(r"\[a\]bort\? ")
    said = child.before
    assert "paused in step 8 (set pd_gain = mid, attenuator = 1600 um)" in said
    assert "safe state: xray_shutter open → closed, pump on → off (undone on resume)" in said
    child.sendline("a")
    child.expect(pexpect.EOF)
    child.close()
    assert "aborted: 1 run" in child.before
    assert "internal error" not in child.before
    assert child.exitstatus == 130


@pytest.mark.parametrize("presses", [3, pytest.param(5, marks=pytest.mark.slow)])
def test_ctrl_c_during_the_safe_state_aborts_once_it_is_reached(tmp_path, presses) -> None:
    child = _spawn(tmp_path)
    _after_pump_on(child)
    for _ in range(presses):  # the pump-off request takes 0.5 s wall: these land inside it
        child.sendintr()
        time.sleep(0.03)
    child.expect(pexpect.EOF)
    child.close()
    out = child.before
    assert "internal error" not in out and "[a]bort?" not in out
    assert "safe state after abort: xray_shutter open → closed, pump on → off" in out
    assert "aborted: 1 run" in out
    assert child.exitstatus == 130


@pytest.mark.slow
def test_two_sigint_without_a_terminal_abort_through_the_safe_state(tmp_path) -> None:
    """The issue's reproduction: `expctl run … --speed 2`, SIGINT twice from outside."""
    import json
    import signal
    import subprocess

    data = tmp_path / "data"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "EXPCTL_DATA_DIR": str(data)}
    proc = subprocess.Popen([sys.executable, "-c", LAUNCH, "run", "sequences/small.yaml",
                             "--speed", "2"], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    journal = data / "journal"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:  # until the reference run is journaled
        files = list(journal.glob("*.jsonl")) if journal.is_dir() else []
        if files and any(json.loads(line).get("t") == "run"
                         for line in files[0].read_text().splitlines() if line.endswith("}")):
            break
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    time.sleep(0.2)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    # 130, or death by the second SIGINT when it lands while the interpreter shuts down
    # after a quick abort (what a shell reports as 130 too)
    assert proc.returncode in (130, -signal.SIGINT), err
    assert "internal error" not in out + err
    assert "paused with no terminal to ask: aborting" in out
    assert "safe state: xray_shutter open → closed" in out
    assert "aborted: 1 run (1)" in out


@pytest.mark.slow
def test_ctrl_c_during_the_rehearsal_leaves_no_campaign(tmp_path) -> None:
    import signal
    import subprocess

    from expctl.beamtime.lock import lock_path
    from expctl.engine.journal import list_campaigns

    data = tmp_path / "data"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "EXPCTL_DATA_DIR": str(data)}
    proc = subprocess.Popen([sys.executable, "-c", LAUNCH, "run", "sequences/pumpprobe.yaml"],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:  # control is taken just before the rehearsal
        path = lock_path(data, 3)
        if path.exists() and path.read_text():
            break
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.02)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    # 130, or death by the second SIGINT when it lands while the interpreter shuts down
    # after a quick abort (what a shell reports as 130 too)
    assert proc.returncode in (130, -signal.SIGINT), err
    assert list_campaigns(data) == []
    assert not lock_path(data, 3).read_text()  # control given back
