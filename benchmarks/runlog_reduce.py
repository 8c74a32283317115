"""Reduction figure: 100 runs into a delay cube (read, filter, bin, fit, write cube).

Prints figures (``--json`` for machines); never fails on speed.  Target from
issue 6: ≤ 2 s for 100 runs.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np

from expctl.engine.events import EventBus
from expctl.runlog import Catalog, attach, reduce_runs, write_cube
from expctl.testing.synthetic_events import synthetic_campaign


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    delays = np.r_[np.linspace(-1.0, 1.0, 11), [1.5, 2.0, 3.0, 4.0, 6.0, 8.0, 10.0, 12.0, 15.0]]
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp)
        bus = EventBus()
        handle = attach(bus, data_dir)
        for event in synthetic_campaign(delays, spots_per_delay=5, reference_shots=300,
                                        pumped_shots=1, rng=np.random.default_rng(0)):
            bus.publish(event)
        handle.close()
        with Catalog(data_dir, readonly=True) as catalog:
            paths = [catalog.file_of(r.run) for r in catalog.rows()][:100]
        best, cube = float("inf"), None
        for _ in range(args.repeats):
            t = time.perf_counter()
            cube = reduce_runs(paths)
            write_cube(cube, data_dir / "cube.h5")
            best = min(best, time.perf_counter() - t)
    figures = {"runs": len(paths), "shots": cube.shots_total, "bins": len(cube.centers),
               "seconds": best}
    if args.json:
        print(json.dumps(figures))
    else:
        print(f"reduce_100_runs: {best:.3f} s for {len(paths)} runs, {cube.shots_total} shots, "
              f"{len(cube.centers)} bins, fit + cube file (target <= 2 s)")


if __name__ == "__main__":
    main()
