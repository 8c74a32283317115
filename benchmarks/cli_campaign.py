"""The path users take: ``expctl run`` as a subprocess on the simulator, with run logging.

Runs a pump–probe campaign through the CLI (``expctl run SEQ --set … --json``, plots on
unless ``--no-plots``) in a fresh data directory, and prints the simulated beamtime, the
wall time and their ratio (target, issue 16: ≥ 500×), plus the peak memory of the child.
With ``--profile`` it runs the campaign once more under cProfile and prints where the
wall time goes, by part of the program (own time of the functions in each part).
``--scale K`` also runs a campaign K× larger (K× the delays) and prints how much the
child's peak memory grew (target: < 20 % for K = 10).  Prints figures; never fails on speed.

    python benchmarks/cli_campaign.py [--set K=V …] [--no-plots] [--profile] [--scale 10] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import pstats
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SEQUENCE = "sequences/pumpprobe.yaml"
#: the issue's campaign: 295 s of beamtime before the physics merge, 50 runs
OVERRIDES = ("spots_per_delay=1", "reference_shots=30")
#: the CLI, printing its own peak RSS (kB) as the last line of stderr when it exits
RUNNER = """\
import atexit, resource, sys
atexit.register(lambda: print(f"PEAK_RSS_KB={resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}",
                              file=sys.stderr))
from expctl.cli import main
sys.exit(main(sys.argv[1:]))
"""
#: parts of the program, by where a function lives (first match wins)
PARTS = (
    ("simulator (sim/)", ("/sim/",)),
    ("HDF5 (h5py)", ("h5py",)),
    ("SQLite (catalog, samples, spots)", ("sqlite3",)),
    ("run logging (expctl/runlog)", ("/expctl/runlog/",)),
    ("engine (expctl/engine)", ("/expctl/engine/",)),
    ("numba (loading compiled fits)", ("numba", "llvmlite")),
    ("analysis (expctl/analysis)", ("/expctl/analysis/",)),
    ("sequence check/compile (expctl/sequence)", ("/expctl/sequence/",)),
    ("plans (expctl/plans)", ("/expctl/plans/",)),
    ("beamtime: samples, spots, campaign", ("/expctl/beamtime/",)),
    ("numpy", ("numpy",)),
    ("imports (importlib, marshal)", ("<frozen importlib", "marshal", "_imp")),
    ("rest of expctl", ("/expctl/",)),
)


def _campaign(data_dir: Path, overrides: list[str], plots: bool,
              profile_to: Path | None = None) -> dict[str, Any]:
    """One CLI campaign in a subprocess: its JSON answer, wall seconds and peak RSS."""
    runner = data_dir.parent / "expctl_cli.py"
    runner.write_text(RUNNER)
    cmd = [sys.executable]
    if profile_to is not None:
        cmd += ["-m", "cProfile", "-o", str(profile_to)]
    cmd += [str(runner), "run", SEQUENCE, "--data-dir", str(data_dir), "--json",
            *(a for o in overrides for a in ("--set", o))]
    if not plots:
        cmd.append("--no-plots")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    t0 = time.perf_counter()
    out = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - t0
    peak = [ln for ln in out.stderr.splitlines() if ln.startswith("PEAK_RSS_KB=")]
    if out.returncode != 0:
        raise SystemExit(f"expctl run exited {out.returncode}:\n{out.stderr[-2000:]}")
    answer = json.loads(out.stdout)
    return {"simulated_s": answer["duration_s"], "wall_s": wall,
            "speedup": answer["duration_s"] / wall, "runs": len(answer["runs"]),
            "peak_rss_mb": int(peak[-1].split("=")[1]) / 1024 if peak else float("nan")}


def _part(filename: str, name: str) -> str:
    where = f"{filename} {name}"
    return next((label for label, keys in PARTS if any(k in where for k in keys)),
                "other (interpreter, stdlib)")


def _where(profile: Path) -> list[tuple[str, float]]:
    """Own time per part of the program, largest first.  A built-in function (a C method
    of sqlite3, h5py, numpy) counts for the part that called it."""
    stats = pstats.Stats(str(profile)).stats  # type: ignore[attr-defined]
    totals: dict[str, float] = {}
    for (filename, _line, name), (_cc, _nc, tottime, _ct, callers) in stats.items():
        own = _part(filename, name)
        if filename == "~" and own.startswith("other") and callers:
            for (c_file, _c_line, c_name), caller in callers.items():
                part = _part(c_file, c_name)
                totals[part] = totals.get(part, 0.0) + caller[2]
        else:
            totals[own] = totals.get(own, 0.0) + tottime
    return sorted(totals.items(), key=lambda kv: -kv[1])


def _scaled(overrides: list[str], scale: int) -> list[str]:
    """The campaign with ``scale`` times as many delays (same runs per delay)."""
    return [*overrides, f"delays={{linspace: [-2 ps, 10 ps, {25 * scale}]}}"]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--set", dest="overrides", action="append", default=None,
                    metavar="K=V", help=f"override a parameter (default: {' '.join(OVERRIDES)})")
    ap.add_argument("--no-plots", dest="plots", action="store_false")
    ap.add_argument("--profile", action="store_true", help="print where the time goes")
    ap.add_argument("--scale", type=int, default=0,
                    help="also run a campaign SCALE x larger and compare peak memory")
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    args = ap.parse_args(argv)
    overrides = list(args.overrides or OVERRIDES)

    fig: dict[str, Any] = {"sequence": SEQUENCE, "overrides": overrides, "plots": args.plots}
    with tempfile.TemporaryDirectory() as tmp:
        fig["campaign"] = _campaign(Path(tmp) / "data", overrides, args.plots)
    if args.scale:
        with tempfile.TemporaryDirectory() as tmp:
            fig["scaled"] = _campaign(Path(tmp) / "data", _scaled(overrides, args.scale),
                                      args.plots)
        fig["scaled"]["memory_growth"] = (fig["scaled"]["peak_rss_mb"]
                                          / fig["campaign"]["peak_rss_mb"] - 1)
    if args.profile:
        with tempfile.TemporaryDirectory() as tmp:
            prof = Path(tmp) / "campaign.prof"
            _campaign(Path(tmp) / "data", overrides, args.plots, profile_to=prof)
            fig["where"] = dict(_where(prof))

    if args.json:
        print(json.dumps(fig, indent=2))
        return 0
    c = fig["campaign"]
    print(f"expctl run {SEQUENCE} {' '.join('--set ' + o for o in overrides)}"
          f"{'' if args.plots else ' --no-plots'}")
    print(f"  {c['simulated_s']:8.1f} s simulated in {c['wall_s']:6.2f} s wall → "
          f"{c['speedup']:6.1f}× (target ≥ 500), {c['runs']} runs, "
          f"peak RSS {c['peak_rss_mb']:.0f} MB")
    if "scaled" in fig:
        s = fig["scaled"]
        print(f"  {args.scale}× larger: {s['simulated_s']:8.1f} s simulated in "
              f"{s['wall_s']:6.2f} s wall → {s['speedup']:6.1f}×, {s['runs']} runs, peak RSS "
              f"grew {100 * s['memory_growth']:+.1f} % (target < 20 %)")
    if "where" in fig:
        total = sum(fig["where"].values())
        print(f"  where the time goes (cProfile, own time; {total:.2f} s in all, the plot "
              "worker process not included):")
        for part, seconds in fig["where"].items():
            print(f"    {part:44s} {seconds:6.2f} s  {100 * seconds / total:5.1f} %")
    return 0


if __name__ == "__main__":
    sys.exit(main())
