"""End to end: `expctl shell` in a pseudo-terminal, typed into as a person would (Tab included)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

pexpect = pytest.importorskip("pexpect")

LAUNCH = "import sys; from expctl.cli import main; sys.exit(main())"
CPR = "\x1b\\[6n"  # prompt_toolkit asks where the cursor is; a terminal answers


def expect(child, pattern: str, timeout: float = 60) -> None:
    """Wait for ``pattern``, answering cursor-position requests as a terminal does."""
    while child.expect([pattern, CPR], timeout=timeout) == 1:
        child.send("\x1b[40;1R")


REPO = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_shell_in_a_terminal_with_tab_completion(tmp_path):
    child = pexpect.spawn(sys.executable, ["-c", LAUNCH, "shell", "--data-dir",
                                           str(tmp_path / "data")],
                          cwd=str(REPO), encoding="utf-8", timeout=60,
                          dimensions=(40, 160))
    try:
        expect(child, "bl3>")
        expect(child, "engine")                   # toolbar: connected, engine state shown
        child.send("wm the")
        child.send("\t")                         # completes the only motor: theta
        child.send("\r")
        expect(child, r"theta +11\.4 deg +limits 10 \.\. 13 deg")
        child.send("umv theta 11.41\r")
        expect(child, r"theta 11\.41 deg")       # umv says where it ended …
        child.send("wm theta\r")                  # … and wm (answered at once) agrees
        expect(child, r"theta +11\.41 deg +limits")
        child.send("seq val")
        child.send("\t")                         # completes `validate`
        child.send(" sequences/sma\t")           # completes the file name
        child.send("\r")
        expect(child, r"sequences/small\.yaml: ok \(small; params: shots, span\)")
        child.send("mv theta 99\r")
        expect(child, r"error: theta target 99 deg is outside its limits")
        child.send("exit\r")
        child.expect(pexpect.EOF)
    finally:
        child.close(force=True)
    assert child.exitstatus == 0
    history = (tmp_path / "data" / "shell_history").read_text(encoding="utf-8")
    assert "+wm theta\n" in history and "+seq validate sequences/small.yaml\n" in history
