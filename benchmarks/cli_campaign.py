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
#: the CLI, printing its peak RSS (kB) and a timeline (wall-clock stamps of what it was
#: doing, instrumented from outside) on stderr when it exits
RUNNER = """\
import json, resource, sys, time
marks = [("runner started", time.time())]
def mark(what):
    marks.append((what, time.time()))
def wrap(cls, name):
    real = getattr(cls, name)
    def timed(*args, **kwargs):
        mark(name + " >")
        try:
            return real(*args, **kwargs)
        finally:
            mark(name + " <")
    setattr(cls, name, timed)
def bye():
    mark("exit")
    print(f"PEAK_RSS_KB={resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}", file=sys.stderr)
    print("TIMELINE=" + json.dumps(marks), file=sys.stderr)
import expctl.cli
real_main = expctl.cli.main
def main(argv=None):
    try:
        return real_main(argv)
    finally:
        bye()  # (the console script's exit skips atexit)
expctl.cli.main = main
mark("cli imported")
from expctl.engine.events import EventBus, RunStarted, RunStopped
from expctl.session import Session
for name in ("dry_run", "run", "close"):
    wrap(Session, name)
try:  # the run log's desk (Session.log) since 2026-12-04; Session itself before
    from expctl.beamtime.runlogdesk import RunLogDesk
    wrap(RunLogDesk, "finish_plots")
except ImportError:
    wrap(Session, "finish_plots")
publish = EventBus.publish
def published(self, event, *args, **kwargs):
    kind = type(event)
    if kind is RunStarted or kind is RunStopped:
        mark(kind.__name__)
    return publish(self, event, *args, **kwargs)
EventBus.publish = published
sys.argv[0] = "expctl"
if hasattr(expctl.cli, "entry"):
    expctl.cli.entry()  # as the console script exits
sys.exit(expctl.cli.main())  # (an older checkout, compared with this one)
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


def _environment(bytecode_cache: Path | None) -> dict[str, str]:
    """The child's environment: this checkout first, its bytecode compiled in a cache."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    if bytecode_cache is not None:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = str(bytecode_cache)
        subprocess.run([sys.executable, "-m", "compileall", "-q", "expctl", "sim"], cwd=ROOT,
                       env=env, check=True, capture_output=True)
    return env


def _campaign(data_dir: Path, overrides: list[str], plots: bool, env: dict[str, str],
              profile_to: Path | None = None) -> dict[str, Any]:
    """One CLI campaign in a subprocess: its JSON answer, wall seconds, peak RSS and
    timeline."""
    runner = data_dir.parent / "expctl_cli.py"
    runner.write_text(RUNNER)
    cmd = [sys.executable]
    if profile_to is not None:
        cmd += ["-m", "cProfile", "-o", str(profile_to)]
    cmd += [str(runner), "run", SEQUENCE, "--data-dir", str(data_dir), "--json",
            *(a for o in overrides for a in ("--set", o))]
    if not plots:
        cmd.append("--no-plots")
    started = time.time()
    t0 = time.perf_counter()
    out = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - t0
    if out.returncode != 0:
        raise SystemExit(f"expctl run exited {out.returncode}:\n{out.stderr[-2000:]}")
    said = dict(ln.split("=", 1) for ln in out.stderr.splitlines()
                if ln.startswith(("PEAK_RSS_KB=", "TIMELINE=")))
    answer = json.loads(out.stdout)
    return {"simulated_s": answer["duration_s"], "wall_s": wall,
            "speedup": answer["duration_s"] / wall, "runs": len(answer["runs"]),
            "peak_rss_mb": int(said["PEAK_RSS_KB"]) / 1024 if said else float("nan"),
            "timeline": _timeline(json.loads(said.get("TIMELINE", "[]")), started, wall)}


def _timeline(marks: list[tuple[str, float]], started: float, wall: float
              ) -> dict[str, float]:
    """Where the child's wall time went, in order: the spans between its marks."""
    if not marks:
        return {}
    first = {name: t for name, t in reversed(marks)}
    last = dict(marks)
    inside = (first.get("run >", 0.0), last.get("run <", 0.0))  # (not the rehearsal's)
    real = [t for name, t in marks if name.startswith("Run") and inside[0] <= t <= inside[1]]
    runs = [t for name, t in marks if name == "RunStarted" and inside[0] <= t <= inside[1]]
    spans = {
        "interpreter start-up": first["runner started"] - started,
        "imports (expctl.cli)": first["cli imported"] - first["runner started"],
        "session open, sequence load": first.get("dry_run >", 0) - first["cli imported"],
        "rehearsal (sampled dry-run)": last.get("dry_run <", 0) - first.get("dry_run >", 0),
        "pre-run (pre-flight, campaign, engine)": (real[0] if real else 0)
        - last.get("dry_run <", 0),
        "the runs (first start to last stop)": (real[-1] - real[0]) if real else 0,
        "after the last run (engine end)": last.get("run <", 0) - (real[-1] if real else 0),
        "plots still drawing at the end": last.get("finish_plots <", 0)
        - first.get("finish_plots >", 0),
        "close": last.get("close <", 0) - first.get("close >", 0),
        "exit": started + wall - last["exit"],
    }
    spans["(rest)"] = wall - sum(spans.values())
    if len(runs) > 1:
        spans["per run (mean)"] = spans["the runs (first start to last stop)"] / len(runs)
    return spans


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
    ap.add_argument("--no-bytecode", dest="bytecode", action="store_false",
                    help="let the child compile expctl's modules from source (as with "
                         "PYTHONDONTWRITEBYTECODE and no cache)")
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    args = ap.parse_args(argv)
    overrides = list(args.overrides or OVERRIDES)

    fig: dict[str, Any] = {"sequence": SEQUENCE, "overrides": overrides, "plots": args.plots,
                           "bytecode": args.bytecode}
    with tempfile.TemporaryDirectory() as cache:
        env = _environment(Path(cache) if args.bytecode else None)
        # once untimed: numba keeps its compiled kernels beside the bytecode, so the first
        # campaign in a fresh cache compiles them (seconds) — an installed expctl has them
        with tempfile.TemporaryDirectory() as tmp:
            _campaign(Path(tmp) / "data", overrides, args.plots, env)
        with tempfile.TemporaryDirectory() as tmp:
            fig["campaign"] = _campaign(Path(tmp) / "data", overrides, args.plots, env)
        if args.scale:
            with tempfile.TemporaryDirectory() as tmp:
                fig["scaled"] = _campaign(Path(tmp) / "data", _scaled(overrides, args.scale),
                                          args.plots, env)
            fig["scaled"]["memory_growth"] = (fig["scaled"]["peak_rss_mb"]
                                              / fig["campaign"]["peak_rss_mb"] - 1)
        if args.profile:
            with tempfile.TemporaryDirectory() as tmp:
                prof = Path(tmp) / "campaign.prof"
                _campaign(Path(tmp) / "data", overrides, args.plots, env, profile_to=prof)
                fig["where"] = dict(_where(prof))

    if args.json:
        print(json.dumps(fig, indent=2))
        return 0
    c = fig["campaign"]
    print(f"expctl run {SEQUENCE} {' '.join('--set ' + o for o in overrides)}"
          f"{'' if args.plots else ' --no-plots'}")
    print(f"  {c['simulated_s']:8.1f} s simulated in {c['wall_s']:6.2f} s wall → "
          f"{c['speedup']:6.1f}× (target ≥ 500), {c['runs']} runs, "
          f"peak RSS {c['peak_rss_mb']:.0f} MB"
          f"{'' if args.bytecode else ' (modules compiled from source)'}")
    if c["timeline"]:
        print("  wall-clock timeline of the child:")
        for part, seconds in c["timeline"].items():
            print(f"    {part:44s} {seconds:6.3f} s  {100 * seconds / c['wall_s']:5.1f} %")
    if "scaled" in fig:
        s = fig["scaled"]
        print(f"  {args.scale}× larger: {s['simulated_s']:8.1f} s simulated in "
              f"{s['wall_s']:6.2f} s wall → {s['speedup']:6.1f}×, {s['runs']} runs, peak RSS "
              f"grew {100 * s['memory_growth']:+.1f} % (target < 20 %)")
    if "where" in fig:
        total = sum(fig["where"].values())
        print(f"  where the time goes (cProfile, own time; {total:.2f} s in all, the plot "
              "thread included):")
        for part, seconds in fig["where"].items():
            print(f"    {part:44s} {seconds:6.2f} s  {100 * seconds / total:5.1f} %")
    return 0


if __name__ == "__main__":
    sys.exit(main())
