"""Run-log writing figures: the short runs of a campaign, 0-D logging throughput and one
10 000-shot run end to end.

Prints figures (``--json`` for machines); never fails on speed.  Targets from
issue 6: ≥ 1 000 000 shots/s for 0-D per-shot data on one core; writing the
reductions of a 10 000-shot run (file + catalog row + checksum) ≤ 0.2 s.  Issue 16:
a short run's file (start, blocks, stop; in memory, written whole) ≤ 3 ms.  The short
runs are the real ones of the issue's campaign (``expctl run sequences/pumpprobe.yaml
--set spots_per_delay=1 --set reference_shots=30`` on the simulator, run once in this
process to record the events the run writer receives), replayed through a bare
:class:`RunFileWriter` and through the whole run log (catalog, leases) in a fresh data
directory each time; the figure is the best of ``--repeats`` (CPU time, so other load
on a shared machine disturbs it less; the wall time is printed beside it).

    python benchmarks/runlog_write.py [--quick] [--repeats N] [--json]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np

from expctl.engine.events import EventBus, RunStarted, ShotBlockTaken
from expctl.runlog import attach
from expctl.runlog.writer import RunFileWriter
from expctl.testing.synthetic_events import synthetic_run

ROOT = Path(__file__).resolve().parents[1]
#: the campaign of issue 16 (50 short runs: 30 reference shots, 1 pumped shot)
CAMPAIGN = ["run", "sequences/pumpprobe.yaml", "--set", "spots_per_delay=1",
            "--set", "reference_shots=30", "--seed", "7", "--no-plots", "--json"]


def _events(shots: int, block: int, run: int, seed: int = 0) -> list:
    return synthetic_run(run, shots=shots, label="reference", laser=False, delay=1.0,
                         start_tag=1000, start_time=1.768e9, rng=np.random.default_rng(seed),
                         block_size=block)


def throughput(data_dir: Path, shots: int, block: int, repeats: int,
               first_run: int) -> dict[str, float]:
    """Best of ``repeats``: shots/s through the writer+catalog for a long run of 0-D data."""
    best = float("inf")
    for k in range(repeats):
        events = _events(shots, block, run=first_run + k)
        bus = EventBus()
        handle = attach(bus, data_dir)
        t = time.perf_counter()
        for event in events:
            bus.publish(event)
        dt = time.perf_counter() - t
        handle.close()
        best = min(best, dt)
    columns = len(next(e for e in events if isinstance(e, ShotBlockTaken)).block.data) + 1
    return {"shots": shots, "block": block, "columns": columns, "seconds": best,
            "shots_per_s": shots / best}


def run_10k(data_dir: Path, repeats: int) -> dict[str, float]:
    """Best of ``repeats``: a 10 000-shot run as the DAQ delivers it (30 blocks of ~333)."""
    best = float("inf")
    for k in range(repeats):
        events = _events(10_000, 334, run=200 + k)
        bus = EventBus()
        handle = attach(bus, data_dir)
        t = time.perf_counter()
        for event in events:
            bus.publish(event)
        best = min(best, time.perf_counter() - t)
        handle.close()
    return {"shots": 10_000, "blocks": 30, "seconds": best}


def campaign_events() -> list:
    """The events the run writer receives in the issue's campaign (run here, once)."""
    import contextlib
    import io
    import os

    from expctl.cli import main as cli

    events: list = []
    real = RunFileWriter.__call__

    def recording(self: RunFileWriter, event: object) -> None:
        events.append(event)
        real(self, event)

    RunFileWriter.__call__ = recording  # type: ignore[method-assign]
    cwd = os.getcwd()
    try:
        os.chdir(ROOT)
        with tempfile.TemporaryDirectory() as tmp, contextlib.redirect_stdout(io.StringIO()), \
                contextlib.redirect_stderr(io.StringIO()):
            code = cli([*CAMPAIGN, "--data-dir", str(Path(tmp) / "data")])
    finally:
        RunFileWriter.__call__ = real  # type: ignore[method-assign]
        os.chdir(cwd)
    if code != 0:
        raise SystemExit(f"the campaign failed (exit {code})")
    return events


def short_runs(events: list, repeats: int, *, catalog: bool) -> dict[str, float]:
    """Best of ``repeats``: ms per run file (CPU and wall) replaying ``events`` through a
    bare writer, or through the whole run log when ``catalog``."""
    runs = sum(isinstance(e, RunStarted) for e in events)
    best_cpu = best_wall = float("inf")
    for _ in range(repeats):
        with tempfile.TemporaryDirectory() as tmp:
            if catalog:
                bus = EventBus()
                handle = attach(bus, Path(tmp))
                deliver = bus.publish
            else:
                writer = RunFileWriter(Path(tmp))
                deliver = writer
            cpu, wall = time.process_time(), time.perf_counter()
            for event in events:
                deliver(event)
            cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
            (handle.close if catalog else writer.close)()
        best_cpu, best_wall = min(best_cpu, cpu), min(best_wall, wall)
    return {"runs": runs, "ms_per_run_cpu": best_cpu / runs * 1e3,
            "ms_per_run_wall": best_wall / runs * 1e3}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--shots", type=int, default=2_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--quick", action="store_true",
                        help="only the campaign's short runs (no throughput, no 10 000-shot run)")
    args = parser.parse_args()
    events = campaign_events()
    figures: dict[str, dict[str, float]] = {
        "short_run_file": short_runs(events, max(args.repeats, 5), catalog=False),
        "short_run_logged": short_runs(events, args.repeats, catalog=True),
    }
    if not args.quick:
        with tempfile.TemporaryDirectory() as tmp:
            data_dir = Path(tmp)
            figures |= {
                "logging_0d_100k_blocks": throughput(data_dir, args.shots, 100_000,
                                                     args.repeats, 100),
                "logging_0d_10k_blocks": throughput(data_dir, args.shots // 4, 10_000,
                                                    args.repeats, 150),
                "run_10k_shots": run_10k(data_dir, args.repeats),
            }
    if args.json:
        print(json.dumps(figures))
        return
    f = figures["short_run_file"]
    print(f"short_run_file: {f['ms_per_run_cpu']:.2f} ms CPU ({f['ms_per_run_wall']:.2f} ms wall) "
          f"per run file, start + blocks + stop written whole, {f['runs']} runs of the issue-16 "
          "campaign (target <= 3 ms)")
    f = figures["short_run_logged"]
    print(f"short_run_logged: {f['ms_per_run_cpu']:.2f} ms CPU ({f['ms_per_run_wall']:.2f} ms "
          "wall) per run with catalog row, lease and scan records")
    if args.quick:
        return
    for name in ("logging_0d_100k_blocks", "logging_0d_10k_blocks"):
        f = figures[name]
        print(f"{name}: {f['shots_per_s'] / 1e6:.2f} M shots/s ({f['shots']} shots, "
              f"{f['columns']} columns, blocks of {f['block']}; target >= 1 M/s)")
    f = figures["run_10k_shots"]
    print(f"run_10k_shots: {f['seconds'] * 1e3:.1f} ms for a 10 000-shot run in 30 blocks "
          f"incl. catalog + checksum (target <= 200 ms)")


if __name__ == "__main__":
    main()
