"""What `expctl run` prints when piped (a `| tee` log): golden lines, width honoured, units.

The golden file pins the lines with every number masked (``#``), so a change in
the simulator's physics does not break it but a change in what is said does;
regenerate with ``python -m tests.integration.test_cli_output``.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
GOLDEN = REPO / "tests" / "data" / "golden"
LAUNCH = "import sys; from expctl.cli import main; sys.exit(main())"
PUMPPROBE = ["--set", "spots_per_delay=2", "--set", "delays=[-1 ps, 0.5 ps]",
             "--set", "reference_shots=10"]
CASES = {"run_small": ["sequences/small.yaml"],
         "run_pumpprobe": ["sequences/pumpprobe.yaml", *PUMPPROBE],
         "dry_run_pumpprobe": ["sequences/pumpprobe.yaml", "--dry-run", *PUMPPROBE]}


def expctl_run(data: Path, args: list[str], columns: int | None) -> str:
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
    env["PYTHONPATH"] = str(REPO)
    if columns is not None:
        env["COLUMNS"] = str(columns)
    done = subprocess.run([sys.executable, "-c", LAUNCH, "run", *args, "--data-dir", str(data)],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return done.stdout


def masked(text: str) -> str:
    return re.sub(r"-?\d+(?:\.\d+)?(?:e[-+]?\d+)?", "#", text)


@pytest.fixture(scope="module")
def piped(tmp_path_factory):
    """`expctl run` piped without COLUMNS, once per case."""
    cache: dict[str, str] = {}

    def out(name: str) -> str:
        if name not in cache:
            cache[name] = expctl_run(tmp_path_factory.mktemp(name) / "data", CASES[name], None)
        return cache[name]

    return out


@pytest.mark.parametrize("name", ["run_small", "run_pumpprobe"])
@pytest.mark.slow
def test_run_piped_says_each_run_and_result_with_units_and_matches_the_golden(piped, name):
    out = piped(name)
    assert "${" not in out
    assert all(line == line.rstrip() for line in out.splitlines())   # no padding
    assert re.search(r"^rock: centre 11\.\d+ ± [\d.e-]+ deg, FWHM [\d.]+ deg, ok", out, re.M)
    assert re.search(r"^run 1 reference: \d+ shots  \[", out, re.M)
    assert masked(out) == (GOLDEN / f"{name}.txt").read_text(encoding="utf-8")


def test_locations_are_one_based_with_loop_values(piped):
    out = piped("run_pumpprobe")
    assert "run 5 reference: 10 shots  [delay 2/2 (0.5 ps) › spot 1/2]" in out
    assert "run 2 pumped: 1 shot  [delay 1/2 (-1 ps) › spot 1/2]" in out


@pytest.mark.parametrize("columns", [80, 200])
@pytest.mark.parametrize("name", ["run_pumpprobe", "dry_run_pumpprobe"])
@pytest.mark.slow
def test_piped_output_fits_the_width_given(tmp_path, name, columns):
    out = expctl_run(tmp_path / "data", CASES[name], columns)
    lines = out.splitlines()
    assert lines and all(len(line) <= columns for line in lines), \
        [line for line in lines if len(line) > columns]
    assert "${" not in out
    for unit in ("deg", "ps"):                      # units survive any shortening
        assert re.search(rf"\d {unit}\b", out), unit
    if columns == 200:  # wide enough that nothing had to be shortened
        assert not any(line.endswith("…") for line in lines)


def _regenerate() -> None:
    import tempfile

    GOLDEN.mkdir(parents=True, exist_ok=True)
    for name in ("run_small", "run_pumpprobe"):
        with tempfile.TemporaryDirectory() as tmp:
            text = masked(expctl_run(Path(tmp) / "data", CASES[name], None))
        (GOLDEN / f"{name}.txt").write_text(text, encoding="utf-8")
        print(f"wrote {name}")


if __name__ == "__main__":
    _regenerate()
