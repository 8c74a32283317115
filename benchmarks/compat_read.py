"""Facility API read speed over the simulator: frames via stpy, 0-D data via dbpy.

Prints figures (``--json`` for one JSON object); never fails on speed.  Targets
from issue 7: reading 1000 frames of one sensor with ``collect``/``read_det_data``
>= 500 frames/s; ``read_syncdatalist_float`` for 10 000 tags <= 50 ms.  The
frame figure is bounded by the simulator redrawing every image from its recipe
(the archive stores no pixels), so the raw ``archive.frames`` cost per image is
printed beside it (one call per image, and in read-ahead-sized calls: the
floor), and the compat overhead is the difference from that floor.  Sequential reading is the
best of two passes.  A temporary
facility is made with a 1000-shot and a 10 000-shot run on a virtual clock.
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
from expctl.compat import configure, current_archive, dbpy, stpy
from expctl.devices.registry import BackendRegistry
from expctl.devices.status import wait_all

PD = "xfel_bl_3_tc_bm_2_pd/charge"


def _take(bl, shots: int) -> int:
    record, status = bl.daq.start_run(shots, comment=f"benchmark {shots}")
    wait_all([status], bl.clock)
    while (block := bl.daq.collect()) is not None and len(block):
        pass
    bl.daq.stop_run()
    return record.run


def make_facility(data_dir: Path, frames: int, tags: int) -> tuple[int, int]:
    registry = BackendRegistry()
    bl = registry.connect(registry.find_profile("bl3"), VirtualClock(), data_dir=data_dir,
                          seed=3)
    try:
        wait_all([bl.devices["xray_shutter"].set("open")], bl.clock)
        return _take(bl, frames), _take(bl, tags)
    finally:
        bl.close()


def read_frames(run: int, order: str) -> tuple[float, int]:
    """Seconds to read every frame of ``run`` the way scripts do; frames read."""
    det = dbpy.read_detidlist(3, run)[0]
    tags = list(dbpy.read_taglist_byrun(3, run))
    if order == "random":
        np.random.default_rng(0).shuffle(tags)
    reader = stpy.StorageReader(det, 3, (run,))
    buf = stpy.StorageBuffer(reader)
    t = time.perf_counter()
    for tag in tags:
        reader.collect(buf, tag)
        buf.read_det_data(0)
    return time.perf_counter() - t, len(tags)


def archive_seconds(run: int, n: int) -> tuple[float, float]:
    """The archive's own cost per image: one call per image, and in read-ahead-sized calls."""
    archive = current_archive()
    det = dbpy.read_detidlist(3, run)[0]
    tags = np.asarray(dbpy.read_taglist_byrun(3, run)[:n])
    t = time.perf_counter()
    for k in range(n):
        archive.frames(det, 3, run, tags[k:k + 1])
    single = (time.perf_counter() - t) / n
    chunk = stpy.READ_AHEAD_MAX
    t = time.perf_counter()
    for k in range(0, n, chunk):
        archive.frames(det, 3, run, tags[k:k + chunk])
    return single, (time.perf_counter() - t) / n


def sync_seconds(run: int, repeat: int, as_float: bool = True) -> tuple[float, float, int]:
    tags = dbpy.read_taglist_byrun(3, run)
    hightag = dbpy.read_hightagnumber(3, run)
    read = dbpy.read_syncdatalist_float if as_float else dbpy.read_syncdatalist
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        read(PD, hightag, tags)
        times.append(time.perf_counter() - t)
    return min(times), statistics.median(times), len(tags)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    ap.add_argument("--frames", type=int, default=1000)
    ap.add_argument("--tags", type=int, default=10_000)
    ap.add_argument("--repeat", type=int, default=20)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp) / "expctl-data"
        frame_run, tag_run = make_facility(data_dir, args.frames, args.tags)
        configure(data_dir)
        read_frames(frame_run, "sequential")  # numba load, pedestal maps, file cache
        seq_s, n = min(read_frames(frame_run, "sequential") for _ in range(2))
        rnd_s, _ = read_frames(frame_run, "random")
        single_s, batch_s = archive_seconds(frame_run, min(200, n))
        f_best, f_med, ntags = sync_seconds(tag_run, args.repeat)
        s_best, s_med, _ = sync_seconds(tag_run, max(3, args.repeat // 4), as_float=False)
    fig = {
        "frames": n,
        "frames_per_s_sequential": n / seq_s,
        "frames_per_s_random": n / rnd_s,
        "archive_ms_per_frame_single_calls": single_s * 1e3,
        "archive_ms_per_frame_chunked": batch_s * 1e3,
        "compat_overhead_ms_per_frame": seq_s / n * 1e3 - batch_s * 1e3,
        "frames_target_per_s": 500,
        "sync_tags": ntags,
        "syncdatalist_float_ms_best": f_best * 1e3,
        "syncdatalist_float_ms_median": f_med * 1e3,
        "syncdatalist_str_ms_median": s_med * 1e3,
        "sync_target_ms": 50,
    }
    if args.json:
        print(json.dumps(fig))
        return
    print(f"stpy collect/read_det_data, {n} frames of one sensor:")
    print(f"  sequential {fig['frames_per_s_sequential']:7.0f} frames/s   (target >= 500)")
    print(f"  random     {fig['frames_per_s_random']:7.0f} frames/s   (no read-ahead)")
    print(f"  archive alone: {single_s * 1e3:.2f} ms/frame one call each, "
          f"{batch_s * 1e3:.2f} ms/frame {stpy.READ_AHEAD_MAX} per call "
          "(the simulator redraws every image)")
    print(f"  compat overhead over the chunked floor (noisy on a shared machine): "
          f"{fig['compat_overhead_ms_per_frame']:+.2f} ms/frame")
    print(f"dbpy.read_syncdatalist_float, {ntags} tags: best {f_best * 1e3:.1f} ms, "
          f"median {f_med * 1e3:.1f} ms (target <= 50 ms)")
    print(f"dbpy.read_syncdatalist (strings), {ntags} tags: median {s_med * 1e3:.1f} ms")


if __name__ == "__main__":
    main()
