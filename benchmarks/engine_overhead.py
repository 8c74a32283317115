"""Engine overhead figures: per-point scan cost, estimate speed, bluesky ratio, campaign speed-up.

The same step scan (one motor, two detectors read at every point) runs in expctl on the
simulator (or the fakes) and in bluesky's RunEngine on ophyd.sim (the ``bench`` extra),
one after the other in one process, and the ratio per point is printed.  The
simulator computes detector values when something looks at them, so the scan
is also timed with every reading looked at.  Prints the figures and the load
average (the figures are wall time; ``--json`` for one JSON object); never
fails on speed.
Targets (issue 16, on the simulator): scan ≤ 15 µs/point; estimating 10 000 points
≤ 0.2 s; ≥ 150× faster than bluesky per point.  The engine-only campaign figure (no run
logging; issue 4: ≥ 500×) is here too; ``benchmarks/cli_campaign.py`` measures the CLI's.

    python benchmarks/engine_overhead.py [--json] [--backend sim|fake] [--points N] [--no-campaign]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from expctl.clock import VirtualClock
from expctl.engine import Engine, EventBus, Journal, estimate
from expctl.plans import pump_probe, scan


def _beamline(backend: str, data_dir: Path | None = None) -> Any:
    """A fresh beamline on a virtual clock: the fakes, or the simulator via the registry."""
    if backend == "fake":
        from expctl.testing import make_fake_beamline

        return make_fake_beamline(VirtualClock(), data_dir=data_dir, spots=(15, 15))
    from expctl.devices import BackendRegistry

    registry = BackendRegistry()
    profile = registry.find_profile("bl3")
    return registry.connect(profile, VirtualClock(), data_dir=data_dir, seed=1)


def _points(n: int, lo: float = 11.39, hi: float = 11.41) -> list[float]:
    return [lo + (hi - lo) * k / (n - 1) for k in range(n)]


#: the detectors read at every point of the scan (bluesky reads as many: det1, det2)
DETECTORS = ("mpccd", "pd_i0")


def bench_scan(backend: str, n: int, *, look: bool = False) -> float:
    """Wall µs per point of an n-point step scan with two detectors read (best of 3).

    The simulator's detector readings are computed when looked at (``scan`` only
    collects them); ``look`` also looks at every value of every reading, so the
    figure includes the shots' physics (bluesky's ophyd.sim detectors compute
    their values, a Gaussian of the motor position, at every read).
    """
    bl = _beamline(backend)
    engine = Engine(bl)
    engine.run(scan("theta", _points(50), read=DETECTORS))  # warm caches
    best = float("inf")
    for _ in range(3):
        t0 = time.perf_counter()
        data = engine.run(scan("theta", _points(n), read=DETECTORS)).value
        if look:
            for reading in data.readings:
                dict(reading)
        best = min(best, time.perf_counter() - t0)
    bl.close()
    return best / n * 1e6


def bench_estimate(backend: str, n: int, repeat: int = 3) -> float:
    """Wall seconds to estimate an n-point scan plan on the beamline's twin: the best of
    ``repeat`` first estimates, each on a freshly connected beamline (as a user's is)."""
    best = float("inf")
    pts = _points(n)
    for _ in range(repeat):
        bl = _beamline(backend)
        t0 = time.perf_counter()
        est = estimate(lambda: scan("theta", pts, read=DETECTORS), bl)
        best = min(best, time.perf_counter() - t0)
        bl.close()
        if not est.ok:
            raise SystemExit(f"estimate found problems: {est.violations or est.error}")
    return best


def bench_bluesky(n: int) -> float | None:
    """Wall µs per point of the same scan in bluesky's RunEngine with ophyd.sim (best of 3;
    None if bluesky is not installed)."""
    try:
        from bluesky import RunEngine
        from bluesky.plans import list_scan
        from ophyd.sim import det1, det2, motor
    except ImportError:
        return None
    RE = RunEngine({}, context_managers=[])
    RE(list_scan([det1, det2], motor, _points(50)))
    best = float("inf")
    for _ in range(3):
        t0 = time.perf_counter()
        RE(list_scan([det1, det2], motor, _points(n)))
        best = min(best, time.perf_counter() - t0)
    return best / n * 1e6


def bench_campaign(backend: str, delays: int, spots: int, shots: int,
                   journal: bool) -> dict[str, float]:
    """Simulated beamtime / wall time of a full pump–probe campaign on the virtual clock."""
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp)
        bl = _beamline(backend, data if journal else None)
        jr = Journal.create(data, sequence="pumpprobe") if journal else None
        # within the two-colour chicane's range (pump_delay: 0 .. 1 ps on bl3)
        delay_list = [k / (delays - 1) for k in range(delays)]
        engine = Engine(bl, bus=EventBus(), journal=jr)
        t0 = time.perf_counter()
        summary = engine.run(pump_probe(delay_list, spots, shots))
        wall = time.perf_counter() - t0
        if jr is not None:
            jr.close()
        bl.close()
    return {"simulated_s": summary.duration, "wall_s": wall,
            "speedup": summary.duration / wall, "runs": len(summary.runs)}


def main(argv: list[str] | None = None) -> int:
    """Run every figure and print them (or one JSON object)."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    ap.add_argument("--backend", choices=("sim", "fake"), default="sim")
    ap.add_argument("--points", type=int, default=1000)
    ap.add_argument("--no-campaign", dest="campaign", action="store_false",
                    help="leave out the engine-only campaign figures")
    args = ap.parse_args(argv)

    fig: dict[str, Any] = {"backend": args.backend,
                           "load_average": [round(v, 2) for v in os.getloadavg()]}
    fig["scan_us_per_point"] = bench_scan(args.backend, args.points)
    fig["scan_looked_at_us_per_point"] = bench_scan(args.backend, args.points, look=True)
    fig["estimate_10000_points_s"] = bench_estimate(args.backend, 10_000)
    bluesky = bench_bluesky(args.points)
    fig["bluesky_us_per_point"] = bluesky
    fig["bluesky_ratio"] = None if bluesky is None else bluesky / fig["scan_us_per_point"]
    if args.campaign:
        fig["campaign"] = bench_campaign(args.backend, 25, 5, 300, journal=False)
        fig["campaign_journaled"] = bench_campaign(args.backend, 25, 5, 300, journal=True)

    if args.json:
        print(json.dumps(fig, indent=2))
        return 0
    load = ", ".join(f"{v:.2f}" for v in fig["load_average"])
    print(f"backend: {args.backend}  (load average {load} on {os.cpu_count()} CPUs)")
    print(f"{args.points}-point step scan, {len(DETECTORS)} detectors: "
          f"{fig['scan_us_per_point']:8.1f} µs/point (target ≤ 15)")
    print(f"  … every reading looked at:   {fig['scan_looked_at_us_per_point']:8.1f} µs/point "
          "(the shots' physics computed)")
    print(f"estimate 10 000 points:  {fig['estimate_10000_points_s']:8.3f} s, best of 3 fresh "
          "(target ≤ 0.2)")
    if bluesky is None:
        print("bluesky:                 not installed (pip install expctl[bench])")
    else:
        print(f"bluesky RunEngine:       {bluesky:8.1f} µs/point → expctl is "
              f"{fig['bluesky_ratio']:.0f}× faster (target ≥ 150×)")
    for key in ("campaign", "campaign_journaled") if args.campaign else ():
        c = fig[key]
        print(f"{key:<24} {c['simulated_s'] / 3600:6.2f} h simulated in {c['wall_s']:6.2f} s "
              f"wall → {c['speedup']:7.0f}× (target ≥ 500), {c['runs']} runs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
