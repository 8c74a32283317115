"""EPICS overhead: Channel Access round trips and the engine's per-step cost over CA.

Starts the simulated IOC (loopback only, a free port) and measures

* caget and caput-with-completion round trips of caproto's threading client;
* a device move to where the axis already is (put, completion, readback verified) and a
  one-shot acquisition through the shared gate (the per-point building blocks);
* a step scan of theta with two detectors read at every point, over CA, against the
  same scan on the in-process simulator on a wall clock at the same speed: the
  per-point difference is what Channel Access costs a step;
* how long a refused and an ignored put take to become errors (an ignored put of the
  value the setpoint already holds too: only its timestamp can show it was taken).

Prints the figures (``--json``: one JSON object); never fails on speed.

    python benchmarks/epics_overhead.py [--json] [--points N] [--speed X]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from expctl.clock import WallClock  # noqa: E402
from expctl.devices import wait_all  # noqa: E402
from expctl.engine import Engine  # noqa: E402
from expctl.errors import DeviceError  # noqa: E402
from expctl.plans import scan  # noqa: E402
from tests.integration.epics_ioc import (  # noqa: E402
    IOC,
    Operator,
    connect,
    free_port,
    ioc_environment,
    registry,
)


def _median_ms(fn: Any, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times) * 1e3


def round_trips(repeat: int) -> dict[str, float]:
    """Raw caproto: caget, caput with completion (ms, median)."""
    from caproto.threading.client import Context

    context = Context(timeout=5.0)
    try:
        pv, = context.get_pvs("BL3:THETA.RBV")
        setting, = context.get_pvs("BL3:DAQ:NSHOTS")
        pv.wait_for_connection()
        setting.wait_for_connection()
        return {"caget_ms": _median_ms(lambda: pv.read(), repeat),
                "caput_completion_ms": _median_ms(
                    lambda: setting.write([0], wait=True), repeat)}
    finally:
        context.disconnect(wait=False)


def device_steps(bl: Any, repeat: int) -> dict[str, float]:
    """Device level: a verified put that needs no motion, a one-shot acquisition (ms)."""
    theta = bl.devices["theta"]
    here = theta.position
    gain = bl.devices["pd_gain"]
    state = gain.state
    i0, det = bl.devices["pd_i0"], bl.devices["mpccd"]
    return {
        "motor_put_verified_ms": _median_ms(lambda: wait_all([theta.set(here)], bl.clock),
                                            repeat),
        "switch_put_verified_ms": _median_ms(lambda: wait_all([gain.set(state)], bl.clock),
                                             repeat),
        "acquire_1_shot_two_detectors_ms": _median_ms(
            lambda: wait_all([i0.trigger(1), det.trigger(1)], bl.clock), repeat),
    }


def _scan_wall(bl: Any, points: int) -> float:
    engine = Engine(bl)
    pts = [11.395 + 0.01 * k / (points - 1) for k in range(points)]
    engine.run(scan("theta", pts[:3], read=("pd_i0", "mpccd")))  # warm up
    t0 = time.perf_counter()
    engine.run(scan("theta", pts, read=("pd_i0", "mpccd")))
    return time.perf_counter() - t0


def step_overhead(bl: Any, points: int, speed: float) -> dict[str, float]:
    """Per-point wall ms of a theta step scan with pd_i0 and mpccd, over CA and in process
    (the simulator on a wall clock at the same speed), and their difference."""
    over_ca = _scan_wall(bl, points) / points * 1e3
    reg = registry()
    sim = reg.connect(reg.find_profile("bl3"), WallClock(speed), data_dir=None)
    try:
        in_process = _scan_wall(sim, points) / points * 1e3
    finally:
        sim.close()
    return {"scan_point_over_ca_ms": over_ca, "scan_point_in_process_ms": in_process,
            "ca_cost_per_point_ms": over_ca - in_process}


def failure_latency(bl: Any) -> dict[str, float]:
    """Wall ms from a put to its error: refused (DISP = 1), ignored (no answer at all)."""
    operator = Operator()
    theta = bl.devices["theta"]
    out = {}
    try:
        operator.put("BL3:THETA.DISP", 1)
        t0 = time.perf_counter()
        try:
            wait_all([theta.set(theta.position + 0.001)], bl.clock)
        except DeviceError:
            out["refused_put_error_ms"] = (time.perf_counter() - t0) * 1e3
        operator.put("BL3:THETA.DISP", 0)
        bl.faults.inject("ignore", "pd_gain")
        gain = bl.devices["pd_gain"]
        other = "low" if gain.state != "low" else "high"
        t0 = time.perf_counter()
        try:
            wait_all([gain.set(other)], bl.clock)
        except DeviceError:
            out["ignored_put_error_ms"] = (time.perf_counter() - t0) * 1e3
        t0 = time.perf_counter()
        try:
            wait_all([gain.set(gain.state)], bl.clock)
        except DeviceError:
            out["ignored_unchanged_put_error_ms"] = (time.perf_counter() - t0) * 1e3
        bl.faults.clear()
    finally:
        operator.close()
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--json", action="store_true")
    p.add_argument("--points", type=int, default=41)
    p.add_argument("--speed", type=float, default=20.0)
    p.add_argument("--repeat", type=int, default=50)
    args = p.parse_args(argv)
    port = free_port()
    with tempfile.TemporaryDirectory() as tmp:
        ioc = IOC(Path(tmp), port, speed=args.speed).start()
        try:
            with ioc_environment(port):
                t0 = time.perf_counter()
                bl = connect(registry(), speed=args.speed)
                figures: dict[str, Any] = {"connect_s": time.perf_counter() - t0}
                try:
                    figures |= round_trips(args.repeat)
                    figures |= device_steps(bl, args.repeat)
                    figures |= step_overhead(bl, args.points, args.speed)
                    figures |= failure_latency(bl)
                finally:
                    bl.close()
        finally:
            ioc.stop()
    figures |= {"points": args.points, "speed": args.speed}
    if args.json:
        print(json.dumps(figures, indent=2))
    else:
        for key, value in figures.items():
            print(f"{key:36s} {value:10.3f}" if isinstance(value, float) else
                  f"{key:36s} {value:>10}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
