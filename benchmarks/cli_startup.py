"""Whole-process timings of the commands users type first; prints figures, never fails.

    python benchmarks/cli_startup.py [--repeat N] [--json]

Targets (issue 5): ``expctl --help`` <= 0.3 s; ``expctl run sequences/pumpprobe.yaml
--dry-run`` with its defaults <= 1.5 s (issue 16: <= 1 s).  Also reports whether numba,
h5py or matplotlib were imported on those paths (they must not be).

The commands import this checkout (``PYTHONPATH``), from bytecode compiled once into a
temporary cache, as an installed expctl would (with ``PYTHONDONTWRITEBYTECODE`` set and
no cache, every start would compile every module anew).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("numba", "h5py", "matplotlib")
_PROBE = ("import sys\nfrom expctl.cli import main\n"
          "try:\n    main({argv!r})\n"
          "except SystemExit:\n    pass\n"
          "print('HEAVY=' + ','.join(m for m in {heavy!r} if m in sys.modules), file=sys.stderr)")

CASES = {
    "expctl --help": ["expctl", "--help"],
    "expctl validate pumpprobe": ["expctl", "validate", "sequences/pumpprobe.yaml"],
    "expctl run pumpprobe --dry-run": ["expctl", "run", "sequences/pumpprobe.yaml", "--dry-run"],
}


def _time(argv: list[str], env: dict[str, str]) -> float:
    """Wall time of one command; a command that fails is not a timing (a broken
    install would otherwise look fast)."""
    t0 = time.perf_counter()
    done = subprocess.run([shutil.which("expctl") or "expctl", *argv[1:]], cwd=ROOT, env=env,
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                          check=False)
    if done.returncode != 0:
        sys.exit(f"{' '.join(argv)} failed (exit {done.returncode}):\n{done.stderr[-2000:]}")
    return time.perf_counter() - t0


def _heavy(argv: list[str], env: dict[str, str]) -> list[str]:
    code = _PROBE.format(argv=argv[1:], heavy=HEAVY)
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, text=True,
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, check=False)
    line = [ln for ln in out.stderr.splitlines() if ln.startswith("HEAVY=")]
    return [m for m in line[-1][6:].split(",") if m] if line else ["?"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp, tempfile.TemporaryDirectory() as pycache:
        env = {**os.environ, "EXPCTL_DATA_DIR": tmp, "PYTHONPATH": str(ROOT),
               "PYTHONPYCACHEPREFIX": pycache}
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        results = {}
        for name, argv in CASES.items():
            _time(argv, env)  # warm caches (pyc, numba cache of other runs)
            times = [_time(argv, env) for _ in range(args.repeat)]
            results[name] = {"median_s": round(statistics.median(times), 3),
                             "min_s": round(min(times), 3), "heavy_imports": _heavy(argv, env)}
    if args.json:
        print(json.dumps(results, indent=2))
        return
    for name, r in results.items():
        heavy = ", ".join(r["heavy_imports"]) or "none"
        print(f"{name:34s} median {r['median_s']:.3f} s  min {r['min_s']:.3f} s  "
              f"heavy imports: {heavy}")


if __name__ == "__main__":
    main()
