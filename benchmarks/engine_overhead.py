"""Engine overhead figures: per-point scan cost, estimate speed, bluesky ratio, campaign speed-up.

Prints the figures (``--json`` for one JSON object); never fails on speed.
Targets (issue 4): scan ≤ 50 µs/point; estimating 10 000 points ≤ 0.2 s; ≥ 50× faster
than bluesky's RunEngine per point; pump–probe campaign simulated/wall ≥ 500.

    python benchmarks/engine_overhead.py [--json] [--backend fake|sim] [--points N]
"""

from __future__ import annotations

import argparse
import json
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


def bench_scan(backend: str, n: int) -> float:
    """Wall µs per point of an n-point step scan (zero move time) with a detector."""
    bl = _beamline(backend)
    engine = Engine(bl)
    engine.run(scan("theta", _points(50), read=("mpccd",)))  # warm caches
    best = float("inf")
    for _ in range(3):
        t0 = time.perf_counter()
        engine.run(scan("theta", _points(n), read=("mpccd",)))
        best = min(best, time.perf_counter() - t0)
    bl.close()
    return best / n * 1e6


def bench_estimate(backend: str, n: int) -> float:
    """Wall seconds to estimate an n-point scan plan on the beamline's twin."""
    bl = _beamline(backend)
    pts = _points(n)
    t0 = time.perf_counter()
    est = estimate(lambda: scan("theta", pts, read=("mpccd",)), bl)
    wall = time.perf_counter() - t0
    bl.close()
    if not est.ok:
        raise SystemExit(f"estimate found problems: {est.violations or est.error}")
    return wall


def bench_bluesky(n: int) -> float | None:
    """Wall µs per point of the same scan in bluesky's RunEngine with ophyd.sim (if installed)."""
    try:
        from bluesky import RunEngine
        from bluesky.plans import list_scan
        from ophyd.sim import det, motor
    except ImportError:
        return None
    RE = RunEngine({}, context_managers=[])
    RE(list_scan([det], motor, _points(50)))
    t0 = time.perf_counter()
    RE(list_scan([det], motor, _points(n)))
    return (time.perf_counter() - t0) / n * 1e6


def bench_campaign(backend: str, delays: int, spots: int, shots: int,
                   journal: bool) -> dict[str, float]:
    """Simulated beamtime / wall time of a full pump–probe campaign on the virtual clock."""
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp)
        bl = _beamline(backend, data if journal else None)
        jr = Journal.create(data, sequence="pumpprobe") if journal else None
        delay_list = [-2.0 + 12.0 * k / (delays - 1) for k in range(delays)]
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
    ap.add_argument("--backend", choices=("fake", "sim"), default="fake")
    ap.add_argument("--points", type=int, default=1000)
    args = ap.parse_args(argv)

    fig: dict[str, Any] = {"backend": args.backend}
    fig["scan_us_per_point"] = bench_scan(args.backend, args.points)
    fig["estimate_10000_points_s"] = bench_estimate(args.backend, 10_000)
    bluesky = bench_bluesky(args.points)
    fig["bluesky_us_per_point"] = bluesky
    fig["bluesky_ratio"] = None if bluesky is None else bluesky / fig["scan_us_per_point"]
    fig["campaign"] = bench_campaign(args.backend, 25, 5, 300, journal=False)
    fig["campaign_journaled"] = bench_campaign(args.backend, 25, 5, 300, journal=True)

    if args.json:
        print(json.dumps(fig, indent=2))
        return 0
    print(f"backend: {args.backend}")
    print(f"{args.points}-point step scan:    {fig['scan_us_per_point']:8.1f} µs/point "
          "(target ≤ 50)")
    print(f"estimate 10 000 points:  {fig['estimate_10000_points_s']:8.3f} s (target ≤ 0.2)")
    if bluesky is None:
        print("bluesky:                 not installed (pip install expctl[bench])")
    else:
        print(f"bluesky RunEngine:       {bluesky:8.1f} µs/point → expctl is "
              f"{fig['bluesky_ratio']:.0f}× faster (aim ≥ 50×)")
    for key in ("campaign", "campaign_journaled"):
        c = fig[key]
        print(f"{key:<24} {c['simulated_s'] / 3600:6.2f} h simulated in {c['wall_s']:6.2f} s "
              f"wall → {c['speedup']:7.0f}× (target ≥ 500), {c['runs']} runs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
