"""A step scan's points in one message (StepScan) do what its actions yielded one by one do.

``one_by_one(plan)`` yields a StepScan's actions one at a time, as plans did before
StepScan: every test runs a scan both ways and compares what came out (time,
readings bitwise, events, faults, journal transcripts, violations).
"""

from __future__ import annotations

import threading

import pytest

from expctl.clock import VirtualClock, WallClock
from expctl.devices import BackendRegistry
from expctl.devices.deferred import plain_reading
from expctl.engine import Engine, EventBus, Journal, estimate
from expctl.engine.events import FaultRaised, ScanPointTaken, StepFinished
from expctl.plans import (
    Checkpoint,
    FaultPolicy,
    Move,
    Read,
    RecordPoint,
    StepScan,
    Trigger,
    grid_scan,
    line_scan,
    one_by_one,
    scan,
    step,
)
from expctl.testing import make_fake_beamline, record_plan

DETECTORS = ("mpccd", "pd_i0")
POINTS = [11.39 + 0.002 * k for k in range(11)]

PLANS = {
    "scan": lambda: scan("theta", POINTS, read=DETECTORS),
    "line_scan": lambda: line_scan({"theta": (11.39, 11.41)}, 11, read=DETECTORS,
                                   signal="mpccd.roi0", i0="pd_i0"),
    "grid_scan": lambda: grid_scan([("sample_x", -0.2, 0.2, 3), ("theta", 11.39, 11.41, 4)],
                                   read=DETECTORS, snake=True),
    "no detectors": lambda: scan("theta", POINTS),
}


def _sim():
    registry = BackendRegistry()
    return registry.connect(registry.find_profile("bl3"), VirtualClock(), data_dir=None, seed=1)


def _run(bl, plan, **options):
    bus = EventBus()
    events: list = []
    bus.subscribe(events.append)
    engine = Engine(bl, bus=bus, **options)
    if "pause_hook" not in options:
        engine.pause_hook = lambda e: e.resume()
    return engine, engine.run(plan), events


def _readings(summary):
    return repr([plain_reading(r) for r in summary.value.readings])  # (repr: NaN == NaN)


def _shape(events):
    return [(type(e).__name__, getattr(e, "time", None)) for e in events]


@pytest.mark.parametrize("name", list(PLANS))
def test_a_step_scan_on_the_simulator_does_what_its_actions_one_by_one_do(name) -> None:
    make = PLANS[name]
    fused, separate = _sim(), _sim()
    _, a, events_a = _run(fused, make())
    _, b, events_b = _run(separate, one_by_one(make()))
    assert fused.clock.now() == b.finished == a.finished
    assert _readings(a) == _readings(b)
    assert a.value.positions == b.value.positions
    assert _shape(events_a) == _shape(events_b)
    assert fused.world.timeline.tag_at(fused.clock.now()) == \
        separate.world.timeline.tag_at(separate.clock.now())
    fused.close()
    separate.close()


def test_a_step_scan_is_its_actions_to_a_reader_of_plans() -> None:
    recording = record_plan(line_scan({"theta": (11.39, 11.41)}, 3, read=DETECTORS))
    point = [type(a) for a in recording.actions][2:7]
    assert point == [Checkpoint, Move, Trigger, Read, RecordPoint]
    assert not recording.of_type(StepScan)
    assert [m.targets for m in recording.of_type(Move)] == [
        {"theta": 11.39}, {"theta": 11.4}, {"theta": 11.41}]
    assert len(recording.value.readings) == 3


@pytest.mark.parametrize("at", [1, 4, 9])
@pytest.mark.parametrize("immediate", [False, True], ids=["deferred", "immediate"])
def test_a_pause_in_a_scan_resumes_to_the_same_scan(at, immediate) -> None:
    _, reference, _ = _run(make_fake_beamline(velocity=1.0), PLANS["line_scan"]())
    bl = make_fake_beamline(velocity=1.0)
    paused: list[float] = []

    def hook(engine):
        paused.append(engine.clock.now())
        engine.resume()

    bus = EventBus()
    engine = Engine(bl, bus=bus, pause_hook=hook)
    bus.subscribe(lambda ev: engine.pause(immediate) if isinstance(ev, ScanPointTaken)
                  and ev.index == at else None)
    summary = engine.run(PLANS["line_scan"]())
    assert len(paused) == 1
    assert summary.outcome == "completed"
    assert _readings(summary) == _readings(reference)
    assert bl.devices["xray_shutter"].value == "closed"


def test_stop_in_a_scan_ends_it_after_the_action_going_on() -> None:
    bl = make_fake_beamline(velocity=1.0)
    bus = EventBus()
    points: list = []
    engine = Engine(bl, bus=bus)
    bus.subscribe(lambda ev: (points.append(ev), engine.stop() if ev.index == 3 else None)
                  if isinstance(ev, ScanPointTaken) else None)
    summary = engine.run(PLANS["line_scan"]())
    assert summary.outcome == "stopped"
    assert [p.index for p in points] == [0, 1, 2, 3]
    assert bl.devices["theta"].position == pytest.approx(11.396)  # no move after the stop


@pytest.mark.parametrize("policy, moved", [(FaultPolicy("retry", 1), True),
                                           (FaultPolicy("skip"), False)])
def test_a_stalled_move_in_a_scan_gets_its_step_s_fault_policy(policy, moved) -> None:
    def run(make_plan):
        bl = make_fake_beamline(velocity=1.0)
        stall = bl.faults.inject
        bus = EventBus()
        bus.subscribe(lambda ev: stall("stall", "theta") if isinstance(ev, ScanPointTaken)
                      and ev.index == 2 else None)
        summary = Engine(bl, bus=bus).run(step("s", "", make_plan(), on_fault=policy))
        return bl, summary

    fused, a = run(PLANS["line_scan"])
    _, b = run(lambda: one_by_one(PLANS["line_scan"]()))
    assert [(f.action, f.policy, f.attempt, f.step_path) for f in a.faults] == \
        [(f.action, f.policy, f.attempt, f.step_path) for f in b.faults] == \
        [("Move", policy.action, 1, "s")]
    assert _readings(a) == _readings(b)
    assert a.outcome == "completed"
    assert (a.value.readings[3]["theta"] == pytest.approx(11.396)) is moved


def test_a_step_scan_in_a_journaled_step_is_transcribed_and_replayed_as_before(tmp_path) -> None:
    def transcripts(plan, where):
        journal = Journal.create(tmp_path / where)
        bus = EventBus()
        done: list = []
        bus.subscribe(lambda ev: done.append(ev) if isinstance(ev, StepFinished) else None)
        Engine(_sim(), bus=bus, journal=journal).run(plan)
        journal.finish("failed")  # reopenable
        journal.close()
        return [(kind, repr(plain_reading(value))) for ev in done for kind, value in ev.results]

    make = PLANS["scan"]
    fused = transcripts(step("s", "", make()), "a")
    assert fused == transcripts(step("s", "", one_by_one(make())), "b")
    assert [kind for kind, _ in fused] == ["Read"] * len(POINTS)

    journal = Journal.resume(tmp_path / "a")
    bl = _sim()
    summary = Engine(bl, journal=journal).run(step("s", "", make()))
    journal.close()
    assert summary.steps_skipped == 1 and bl.clock.now() == 0.0  # nothing moved
    assert [repr(plain_reading(r)) for r in summary.value.readings] == [v for _, v in fused]


def test_a_rehearsal_of_a_scan_past_a_limit_reports_it_and_goes_on() -> None:
    points = [44.0, 44.5, 45.5, 46.0, 44.0]  # theta's limit on the fakes: 45 deg
    bl = make_fake_beamline()
    fused = estimate(lambda: scan("theta", points, read=DETECTORS), bl)
    separate = estimate(lambda: one_by_one(scan("theta", points, read=DETECTORS)), bl)
    assert [e.message for e in fused.violations] == [e.message for e in separate.violations]
    assert len(fused.violations) == 2 and fused.error is None
    assert fused.total_s == separate.total_s


def test_a_scan_on_a_wall_clock_takes_its_points_action_by_action() -> None:
    bl = make_fake_beamline(WallClock(speed=10.0), velocity=50.0)
    faults: list = []
    bus = EventBus()
    bus.subscribe(lambda ev: faults.append(ev) if isinstance(ev, FaultRaised) else None)
    engine = Engine(bl, bus=bus)
    paused = threading.Event()

    def hook(e):
        paused.set()
        e.resume()

    engine.pause_hook = hook
    timer = threading.Timer(0.03, lambda: engine.pause(immediate=True))
    timer.start()
    try:
        summary = engine.run(scan("theta", [11.0 + 0.1 * k for k in range(30)], read=DETECTORS))
    finally:
        timer.cancel()
    assert summary.outcome == "completed" and paused.is_set() and not faults
    assert len(summary.value.readings) == 30
    assert bl.devices["theta"].position == pytest.approx(13.9)
