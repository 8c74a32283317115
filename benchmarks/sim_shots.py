"""Simulator speed: a 10 000-shot run, single frames, octal frame sets, device calls.

Prints figures (``--json`` for machines); never fails on speed.  Targets from
issue 2 and the sim follow-up: 10 000-shot run with I0 and ROI sums <= 0.2 s; one
1024 x 512 frame <= 2 ms; an octal set <= 15 ms; trigger(1) + read <= ~30 us;
sync DB values of 10 000 tags <= 50 ms; finding the profile without loading the
simulator (2-core machine).  Issue 16 adds what a CLI campaign repeats: a 30-shot
run on disk (start, collect, stop: the facility's files) and the beam monitor's
pulse energy read while an axis moves (a suspender's check at every checkpoint).
Per-call figures are the best of several passes, since the machine is shared.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from _timing import best_and_median

from expctl.clock import VirtualClock
from expctl.devices import load_profile, wait_all
from sim.backend import PROFILE_DIR, SimBackend


def _per_call(fn, n: int, repeat: int) -> float:
    """Best-of-``repeat`` wall microseconds per call of ``fn`` over ``n`` calls."""
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        for _ in range(n):
            fn()
        best = min(best, (time.perf_counter() - t) / n * 1e6)
    return best


def _trigger_read(det, clock) -> None:
    clock.sleep_until(det.trigger(1).deadline)
    det.read()


_flip = [0]


def _move_trigger_read(theta, det, clock) -> None:
    _flip[0] ^= 1
    clock.sleep_until(theta.set(11.40 + 1e-4 * _flip[0]).deadline)
    _trigger_read(det, clock)


def _beam_read_moving(theta, beam, clock) -> None:
    if clock.now() >= theta.command.end:  # (a long move, restarted when it ends)
        _flip[0] ^= 1
        theta.set(11.40 + 0.5 * _flip[0])
    clock.sleep(1 / 30)
    beam.read()["beam.pulse_energy"]


def _sync_figures(data: Path, figures: dict[str, float]) -> None:
    """Sync DB reads of 10 000 tags (runs and the gaps between them) from another reader."""
    from sim.backend import open_archive

    arch = open_archive(data)
    newest = arch.newest_run(3)
    first = arch.run_record(3, 1).start_tag
    last = arch.run_record(3, newest).end_tag
    tags = np.linspace(first, last, 10_000).astype(np.int64)
    tags -= tags % 2
    for name, equip in (("pd", "xfel_bl_3_tc_bm_2_pd/charge"),
                        ("theta", "xfel_bl_3_st_2_motor_1/position")):
        arch.sync_values(equip, 202601, tags)  # warm (profile, rows)
        best, _ = best_and_median(lambda e=equip: arch.sync_values(e, 202601, tags), 5)
        figures[f"sync_values_10000_tags_{name}_s"] = best
    cold = open_archive(data)
    t = time.perf_counter()
    cold.sync_values("xfel_bl_3_tc_bm_2_pd/charge", 202601, tags)
    figures["sync_values_10000_tags_cold_reader_s"] = time.perf_counter() - t


def _find_profile_s() -> float:
    """Fresh-process cost of ``BackendRegistry().find_profile("bl3")`` (imports included)."""
    code = ("import time; t = time.perf_counter(); from expctl.devices import BackendRegistry;"
            " BackendRegistry().find_profile('bl3'); print(time.perf_counter() - t)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    return float(out.stdout)


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

        best, med = best_and_median(run10k, 5)
        figures["run_10000_shots_s"] = best
        figures["run_10000_shots_median_s"] = med

        world = bl.world
        tags = world.timeline.beam_tags_after(clock.now(), 10_000)
        times = world.timeline.time_of(tags)
        best, _ = best_and_median(lambda: world.shots(times, tags, acquired=True), 5)
        figures["shot_model_10000_s"] = best

        data = world.shots(times[:1], tags[:1], acquired=True)
        single = world.detector_models[0]
        octal = world.detector_models[1]
        seed = profile.seed
        out = np.empty((1024, 512), dtype=np.float32)
        rec1 = {k: v[0] for k, v in data.items() if k.startswith("_recipe/mpccd/")}
        rec8 = {k: v[0] for k, v in data.items() if k.startswith("_recipe/mpccd_octal/")}
        t = time.perf_counter()
        single.render(seed, int(tags[0]), 0, rec1, out=out)
        figures["first_frame_incl_numba_load_s"] = time.perf_counter() - t
        best, _ = best_and_median(lambda: single.render(seed, int(tags[0]), 0, rec1, out=out), 50)
        figures["frame_1024x512_s"] = best
        stack = np.empty((8, 1024, 512), dtype=np.float32)
        octal.render_all(seed, int(tags[0]), rec8, out=stack)
        best, _ = best_and_median(lambda: octal.render_all(seed, int(tags[0]), rec8, out=stack), 10)
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
        for shutter in ("closed", "open"):
            wait_all([dev["xray_shutter"].set(shutter)], clock)
            figures[f"trigger1_read_{shutter}_us"] = _per_call(
                lambda: _trigger_read(det, clock), 500, 7)
            figures[f"move_trigger1_read_{shutter}_us"] = _per_call(
                lambda: _move_trigger_read(theta, det, clock), 500, 7)
        figures["beam_pulse_energy_read_moving_us"] = _per_call(
            lambda: _beam_read_moving(theta, dev["beam"], clock), 300, 7)

        def run30() -> None:
            rec, st = bl.daq.start_run(30)
            wait_all([st], clock)
            bl.daq.collect()
            bl.daq.stop_run()

        figures["run_30_shots_on_disk_us"] = _per_call(run30, 30, 5)
        rec, st = bl.daq.start_run(None)
        clock.sleep(0.2)
        figures["daq_collect_6_shots_us"] = _per_call(
            lambda: (clock.sleep(0.2), bl.daq.collect()), 300, 5)
        bl.daq.stop_run()
        bl.close()
        _sync_figures(Path(tmp), figures)
    figures["find_profile_s"] = _find_profile_s()
    if args.json:
        print(json.dumps(figures))
        return
    for key, val in figures.items():
        shown = f"{val * 1e3:9.3f} ms" if key.endswith("_s") else f"{val:9.1f} us"
        print(f"{key:40s} {shown}")


if __name__ == "__main__":
    main()
