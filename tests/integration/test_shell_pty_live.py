"""The console in a pseudo-terminal on a wall clock (``--speed``), typed into as a person would.

What only a real terminal and real time can show: scan rows arriving one by one,
one Ctrl-C stopping a move short of its target, a scan stopped by Ctrl-C kept as
a record, and ``wa`` answered while a sequence runs and while it is paused.
No timing is asserted: only the order in which things appear.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

pexpect = pytest.importorskip("pexpect")

LAUNCH = "import sys; from expctl.cli import main; sys.exit(main())"
CPR = "\x1b\\[6n"  # prompt_toolkit asks where the cursor is; a terminal answers
REPO = Path(__file__).resolve().parents[2]
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b[()][A-Z0-9]|\r")


def expect(child, pattern: str, timeout: float = 60) -> None:
    """Wait for ``pattern``, answering cursor-position requests as a terminal does."""
    while child.expect([pattern, CPR], timeout=timeout) == 1:
        child.send("\x1b[40;1R")


def spawn(data: Path, *extra: str, columns: int = 120):
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    child = pexpect.spawn(sys.executable, ["-c", LAUNCH, "shell", "--data-dir", str(data),
                                           *extra], cwd=str(REPO), encoding="utf-8",
                          timeout=60, dimensions=(40, columns), env=env)
    expect(child, "bl3>")
    expect(child, "engine")  # the toolbar: connected
    return child


def let_time_pass(child, seconds: float) -> None:
    """Let the shell work for ``seconds`` of wall time, answering the terminal's queries."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if child.expect([CPR, pexpect.TIMEOUT], timeout=0.1) == 0:
            child.send("\x1b[40;1R")


def leave(child) -> None:
    child.send("exit\r")
    index = child.expect([pexpect.EOF, "Close it before leaving"], timeout=60)
    if index == 1:
        child.send("y\r")
        child.expect(pexpect.EOF, timeout=60)
    child.close()


def _runs_json(data: Path, *args: str):
    out = subprocess.run([sys.executable, "-c", LAUNCH, "runs", *args, "--json", "--data-dir",
                          str(data)], cwd=REPO, capture_output=True, text=True, check=True,
                         env={**os.environ, "PYTHONPATH": str(REPO)})
    return json.loads(out.stdout)


@pytest.mark.slow
def test_scan_rows_arrive_one_by_one_and_ctrl_c_keeps_the_record(tmp_path):
    data = tmp_path / "data"
    child = spawn(data, "--speed", "1")
    try:
        child.send("open\r")
        expect(child, "xray_shutter open")
        child.send("dscan theta -10 mdeg 10 mdeg 40 0.2\r")
        expect(child, r"scan 1  dscan theta -10 mdeg 10 mdeg 40 0\.2  \(41 points\)")
        expect(child, r" 2 +11\.3905\d+ +-?\d")          # the second row is on screen …
        assert "completed" not in ANSI.sub("", child.before)  # … before the scan ended
        expect(child, r" 4 +11\.3915\d+ +-?\d")
        child.send("\x03")                           # one Ctrl-C: stop now
        expect(child, r"stopping now \(Ctrl-C\)")
        expect(child, r"scan 1 stopped after (\d+) of 41 points; the points taken are kept")
        taken = int(child.match.group(1))
        expect(child, r"back at the start: theta 11\.4 deg")
        leave(child)
    finally:
        child.close(force=True)
    (scan,) = _runs_json(data, "--scans")
    assert (scan["kind"], scan["outcome"], scan["points"], scan["planned"]) == (
        "dscan", "stopped", taken, 41)
    assert 4 <= taken < 41
    from expctl.runlog.scans import read_scan_columns

    columns = read_scan_columns(data / scan["file"]).columns   # the points taken, on disk
    assert len(columns["theta"]) == taken
    assert columns["theta"][0] == pytest.approx(11.39, abs=1e-6)


@pytest.mark.slow
def test_one_ctrl_c_stops_a_move_short_of_its_target(tmp_path):
    child = spawn(tmp_path / "data", "--speed", "1")
    try:
        child.send("umv sample_x 4.5\r")             # 2 mm/s: about 2.4 s at speed 1
        expect(child, r"sample_x 0 → 4\.5 mm")
        let_time_pass(child, 1.0)
        child.send("\x03")
        expect(child, r"sample_x ([\d.]+) mm \(stopped short of 4\.5\)")
        stopped = float(child.match.group(1))
        expect(child, r"umv sample_x 4\.5: stopped \(Ctrl-C\)")
        child.send("wm sample_x\r")
        expect(child, r"sample_x +([\d.]+) mm +limits")
        assert float(child.match.group(1)) == pytest.approx(stopped, abs=1e-6)
        assert 0 < stopped < 4.5
        leave(child)
    finally:
        child.close(force=True)


@pytest.mark.slow
def test_wa_answers_while_a_sequence_runs_and_while_it_is_paused(tmp_path):
    child = spawn(tmp_path / "data", "--speed", "4")
    try:
        child.send("seq run sequences/small.yaml shots=900\r")   # a 30 s reference run
        expect(child, r"running small: about")
        expect(child, r"rock: centre [\d.]+ ± ")           # aligned: the 30 s run starts
        let_time_pass(child, 1.0)
        child.send("wa\r")
        expect(child, r"theta +motor +11\.\d+ +deg")            # answered at once …
        expect(child, r"mpccd +mpccd +\(busy\)")                  # … detectors left alone
        assert "small completed" not in ANSI.sub("", child.before)
        child.send("\x03")
        expect(child, "pause requested at the next checkpoint")
        child.send("\x03")                                         # again: pause now
        expect(child, "paused — type resume, stop or abort")
        child.send("wa\r")
        expect(child, r"theta +motor +11\.\d+ +deg")
        expect(child, r"pd_i0 +photodiode +[\d.]+ +pC")           # paused: instruments too
        child.send("resume\r")
        expect(child, r"small completed: 2 runs", timeout=90)
        leave(child)
    finally:
        child.close(force=True)
