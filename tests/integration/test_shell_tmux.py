"""The toolbar as the operator sees it, read off a tmux screen while a run meets a beam loss.

A pseudo-terminal's byte stream holds only the toolbar's redrawn fragments; tmux
renders the screen, so ``capture-pane`` shows the bottom line as a person reads
it.  The beam loss comes from the simulator's fault schedule (``--fault``), on a
wall clock.  Nothing is timed: the test waits for the toolbar to show each state.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
LAUNCH = "import sys; from expctl.cli import main; sys.exit(main())"

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None,
                                reason="tmux is not installed (the screen is read with it)")


class Tmux:
    """One detached tmux session running a command, its screen readable as text."""

    def __init__(self, name: str, command: list[str], columns: int = 120) -> None:
        self.name = name
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        subprocess.run(["tmux", "new-session", "-d", "-s", name, "-x", str(columns), "-y",
                        "24", "-c", str(REPO), *command], check=True, env=env)

    def screen(self) -> str:
        return subprocess.run(["tmux", "capture-pane", "-p", "-t", self.name], check=True,
                              capture_output=True, text=True).stdout

    def toolbar(self) -> str:
        lines = [line for line in self.screen().splitlines() if " engine " in line]
        return lines[-1] if lines else ""

    def type(self, line: str) -> None:
        subprocess.run(["tmux", "send-keys", "-t", self.name, line, "Enter"], check=True)

    def wait(self, found, what: str, timeout: float = 60.0) -> str:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            bar = self.toolbar()
            if found(bar):
                return bar
            time.sleep(0.1)
        raise AssertionError(f"the toolbar never showed {what}:\n{self.screen()}")

    def close(self) -> None:
        subprocess.run(["tmux", "kill-session", "-t", self.name], check=False,
                       capture_output=True)


@pytest.mark.slow
def test_toolbar_beam_changes_during_a_run_with_a_beam_loss(tmp_path):
    name = f"expctl-test-{os.getpid()}"
    shell = Tmux(name, [sys.executable, "-c", LAUNCH, "shell", "--speed", "4", "--data-dir",
                        str(tmp_path / "data"), "--fault", "beam_loss@20s+12s"])
    try:
        shell.wait(lambda bar: "engine idle" in bar, "the connected beamline")
        shell.type("open")
        shell.type("take_run 1500 reference")                 # 50 s of beam: the loss is in it
        during = shell.wait(lambda bar: "engine running" in bar and "shots)" in bar,
                            "the run taking shots")
        assert "beam on " in during and " µJ" in during
        lost = shell.wait(lambda bar: "suspended: no beam since" in bar, "the beam loss")
        assert "beam off" in lost
        back = shell.wait(lambda bar: "engine running" in bar and "beam on " in bar,
                          "the beam back")
        assert "shots)" in back
        screen = shell.wait(lambda bar: "engine idle" in bar, "the run's end", timeout=90)
        assert "beam on " in screen
        text = shell.screen()
        assert "suspended: no beam since" in text and "cut after" in text
        assert "reference: 1500 shots" in text
    finally:
        shell.close()


@pytest.mark.slow
def test_a_scan_has_a_toolbar_line_of_its_own_and_its_points_feed_the_beam(tmp_path):
    """At 100 columns the beamline line stays whole while a scan runs; the second line
    says which command, where the axis is and how far the scan got."""
    name = f"expctl-scan-{os.getpid()}"
    shell = Tmux(name, [sys.executable, "-c", LAUNCH, "shell", "--speed", "1", "--data-dir",
                        str(tmp_path / "data")], columns=100)
    try:
        shell.wait(lambda bar: "engine idle" in bar, "the connected beamline")
        shell.type("open")
        shell.wait(lambda bar: "shutter open" in bar, "the open shutter")
        shell.type("dscan theta -10 mdeg 10 mdeg 30 0.1")
        beams = set()
        end = time.monotonic() + 60
        while len(beams) < 2:                       # the beam read from the scan's shots
            assert time.monotonic() < end, shell.screen()
            lines = shell.screen().rstrip("\n").splitlines()
            if len(lines) >= 2 and "scan 1: " in lines[-1]:
                first, second = lines[-2], lines[-1]
                assert first.startswith(" bl3  engine running │ beam on ")
                assert "│ pump off │ delay 0 ps │ att 1800 um" in first
                assert second.startswith(" dscan theta -10 mdeg 10 mdeg 30 0.1 │ theta 11.")
                beams.add(first.split("│")[1])
            time.sleep(0.1)
        shell.wait(lambda bar: "engine idle" in bar, "the scan's end", timeout=90)
    finally:
        shell.close()


@pytest.mark.slow
def test_resume_shows_what_it_will_do_and_asks_first(tmp_path):
    """On a terminal `expctl resume` asks; `n` leaves the campaign untouched, `--yes`
    does not ask."""
    from expctl.engine.journal import find_unfinished
    from tests.integration.test_resume_campaign import _started_and_cut

    data = tmp_path / "data"
    seq = tmp_path / "small.yaml"
    shutil.copy(REPO / "sequences" / "small.yaml", seq)
    campaign = _started_and_cut(data, seq, "shots=5")
    name = f"expctl-resume-{os.getpid()}"
    term = Tmux(name, [sys.executable, "-c", LAUNCH, "resume", "--data-dir", str(data)])
    try:
        end = time.monotonic() + 60
        while "resume now? [y]es / [n]o:" not in term.screen():
            assert time.monotonic() < end, term.screen()
            time.sleep(0.1)
        screen = term.screen()
        assert f"resuming campaign {campaign}: small" in screen and "next: step 7" in screen
        term.type("n")
        while "not resumed: nothing moved" not in term.screen():
            assert time.monotonic() < end, term.screen()
            time.sleep(0.1)
    finally:
        term.close()
    assert find_unfinished(data).id == campaign          # still there to resume
    done = subprocess.run([sys.executable, "-c", LAUNCH, "resume", "--yes", "--data-dir",
                           str(data)], cwd=REPO, capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(REPO)})
    assert done.returncode == 0, done.stderr
    assert "resume now?" not in done.stdout and f"campaign {campaign}: completed" in done.stdout
