"""Simulator speed: a 10 000-shot run, single frames, octal frame sets, device calls.

Prints figures (``--json`` for machines); never fails on speed.  Targets from
issue 2: 10 000-shot run with I0 and ROI sums <= 0.2 s; one 1024 x 512 frame
<= 2 ms; an octal set <= 15 ms (2-core machine).
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from expctl.clock import VirtualClock
from expctl.devices import load_profile, wait_all
from sim.backend import PROFILE_DIR, SimBackend


def _best(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times), statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    args = ap.parse_args()
    profile = load_profile(PROFILE_DIR / "bl3.yaml")
    figures: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        clock = VirtualClock()
        bl = SimBackend().connect(profile, clock, data_dir=Path(tmp))
        dev = bl.devices
        wait_all([dev["xray_shutter"].set("open"), dev["attenuator"].set(200)], clock)

        def run10k() -> None:
            rec, st = bl.daq.start_run(10_000)
            wait_all([st], clock)
            bl.daq.collect()
            bl.daq.stop_run()

        best, med = _best(run10k, 5)
        figures["run_10000_shots_s"] = best
        figures["run_10000_shots_median_s"] = med

        world = bl.world
        tags = world.timeline.beam_tags_after(clock.now(), 10_000)
        times = world.timeline.time_of(tags)
        best, _ = _best(lambda: world.shots(times, tags, acquired=True), 5)
        figures["shot_model_10000_s"] = best

        data = world.shots(times[:1], tags[:1], acquired=True)
        single = world.detectors[0].model
        octal = world.detectors[1].model
        seed = profile.seed
        out = np.empty((1024, 512), dtype=np.float32)
        rec1 = {k: v[0] for k, v in data.items() if k.startswith("_recipe/mpccd/")}
        rec8 = {k: v[0] for k, v in data.items() if k.startswith("_recipe/mpccd_octal/")}
        t = time.perf_counter()
        single.render(seed, int(tags[0]), 0, rec1, out=out)
        figures["first_frame_incl_numba_load_s"] = time.perf_counter() - t
        best, _ = _best(lambda: single.render(seed, int(tags[0]), 0, rec1, out=out), 50)
        figures["frame_1024x512_s"] = best
        stack = np.empty((8, 1024, 512), dtype=np.float32)

        def octal_set() -> None:
            for s in range(8):
                octal.render(seed, int(tags[0]), s, rec8, out=stack[s])

        best, _ = _best(octal_set, 10)
        figures["octal_set_s"] = best

        n = 20_000
        theta = dev["theta"]
        t = time.perf_counter()
        for _ in range(n):
            theta.read()
        figures["motor_read_us"] = (time.perf_counter() - t) / n * 1e6
        t = time.perf_counter()
        for i in range(2000):
            theta.set(11.40 + 1e-4 * (i % 2))
        figures["motor_set_us"] = (time.perf_counter() - t) / 2000 * 1e6
        det = dev["mpccd"]
        t = time.perf_counter()
        for _ in range(1000):
            det.trigger(10)
            clock.sleep(0.4)
            det.read()
        figures["trigger10_read_us"] = (time.perf_counter() - t) / 1000 * 1e6
        bl.close()
    if args.json:
        print(json.dumps(figures))
        return
    for key, val in figures.items():
        shown = f"{val * 1e3:9.3f} ms" if key.endswith("_s") else f"{val:9.1f} us"
        print(f"{key:34s} {shown}")


if __name__ == "__main__":
    main()
