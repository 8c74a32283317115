"""Run-log writing figures: 0-D logging throughput and one 10 000-shot run end to end.

Prints figures (``--json`` for machines); never fails on speed.  Targets from
issue 6: ≥ 1 000 000 shots/s for 0-D per-shot data on one core; writing the
reductions of a 10 000-shot run (file + catalog row + checksum) ≤ 0.2 s.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np

from expctl.engine.events import EventBus, ShotBlockTaken
from expctl.runlog import attach
from expctl.testing.synthetic_events import synthetic_run


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--shots", type=int, default=2_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp)
        figures = {
            "logging_0d_100k_blocks": throughput(data_dir, args.shots, 100_000, args.repeats, 100),
            "logging_0d_10k_blocks": throughput(data_dir, args.shots // 4, 10_000,
                                                args.repeats, 150),
            "run_10k_shots": run_10k(data_dir, args.repeats),
        }
    if args.json:
        print(json.dumps(figures))
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
