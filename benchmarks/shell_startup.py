"""Shell start to first prompt: spawn `expctl shell` in a pseudo-terminal, time the prompt.

Target ≤ 0.6 s (printed, never enforced). Also times until the toolbar shows the
beamline connected. ``--json`` prints one JSON object. ``--repeat N`` (default 5).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import pexpect

LAUNCH = "import sys; from expctl.cli import main; sys.exit(main())"
CPR = "\x1b\\[6n"  # prompt_toolkit asks where the cursor is; a terminal answers


def expect(child, pattern: str, timeout: float = 60) -> None:
    """Wait for ``pattern``, answering cursor-position requests as a terminal does."""
    while child.expect([pattern, CPR], timeout=timeout) == 1:
        child.send("\x1b[40;1R")


REPO = Path(__file__).resolve().parents[1]


def once(data_dir: Path) -> tuple[float, float]:
    t0 = time.perf_counter()
    child = pexpect.spawn(sys.executable, ["-c", LAUNCH, "shell", "--data-dir",
                                           str(data_dir)], cwd=str(REPO), encoding="utf-8",
                          timeout=60, dimensions=(40, 160))
    expect(child, "bl3>")
    prompt = time.perf_counter() - t0
    expect(child, "engine")
    connected = time.perf_counter() - t0
    child.send("exit\r")
    child.expect(pexpect.EOF)
    child.close()
    return prompt, connected


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        once(Path(tmp))  # warm the file cache and numba's cache
        runs = [once(Path(tmp)) for _ in range(args.repeat)]
    prompt = [r[0] for r in runs]
    conn = [r[1] for r in runs]
    result = {"first_prompt_s_median": statistics.median(prompt),
              "first_prompt_s_max": max(prompt), "connected_s_median": statistics.median(conn),
              "target_first_prompt_s": 0.6, "repeat": args.repeat}
    if args.json:
        print(json.dumps(result))
    else:
        print(f"shell start to first prompt: median {result['first_prompt_s_median']:.3f} s, "
              f"max {result['first_prompt_s_max']:.3f} s (target ≤ 0.6 s)")
        print(f"start to beamline connected (toolbar): median "
              f"{result['connected_s_median']:.3f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
