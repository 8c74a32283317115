"""Pause, resume, stop, abort, suspend and fault policy at many points of a real procedure."""

from __future__ import annotations

import pytest

from expctl.engine import BeamSuspender, Engine, EngineState, EventBus
from expctl.engine.events import (
    FaultRaised,
    RunStarted,
    RunStopped,
    StateChanged,
    StepStarted,
)
from expctl.errors import DisconnectedError, MotorStallError
from expctl.plans import FaultPolicy, PumpProbeSettings, mv, pump_probe, request, step
from expctl.testing import make_fake_beamline

SETTINGS = PumpProbeSettings(rock_points=9, rock_span=0.006)


def _plan():
    return pump_probe([0.0, 1.0], spots_per_delay=2, reference_shots=60, settings=SETTINGS)


def _final_state(bl):
    return {n: bl.devices[n].read()[n] for n in
            ("theta", "xray_shutter", "pump", "pump_delay", "attenuator", "pd_gain",
             "sample_x", "sample_y")}


def _run(bl, *, on_event=None, **kw):
    bus = EventBus()
    events: list = []
    bus.subscribe(events.append)
    engine = Engine(bl, bus=bus, **kw)
    if on_event is not None:
        bus.subscribe(lambda ev: on_event(engine, ev, events))
    summary = engine.run(_plan())
    return engine, summary, events


@pytest.fixture(scope="module")
def reference():
    bl = make_fake_beamline(velocity=1.0)
    _, summary, events = _run(bl)
    return summary, events, _final_state(bl)


def _labels(runs):
    return [(r.label, r.shots) for r in runs]


@pytest.mark.parametrize("at", list(range(2, 58, 3)))
@pytest.mark.parametrize("immediate", [False, True], ids=["deferred", "immediate"])
def test_pause_resume_anywhere_gives_the_same_runs_and_state(reference, at, immediate) -> None:
    ref_summary, ref_events, ref_state = reference
    bl = make_fake_beamline(velocity=1.0)
    seen_in_pause: list[dict] = []

    def hook(engine):
        seen_in_pause.append({"state": engine.state, "shutter": bl.devices["xray_shutter"].value,
                              "pump": bl.devices["pump"].value})
        engine.resume()

    def on_event(engine, ev, events):
        if len(events) == at and engine.state is EngineState.RUNNING:
            engine.pause(immediate=immediate)

    engine, summary, events = _run(bl, on_event=on_event, pause_hook=hook)
    assert summary.outcome == "completed"
    last_step = max(i for i, e in enumerate(ref_events) if isinstance(e, StepStarted))
    if not immediate and at > last_step + 1:  # no step left to start: nowhere to pause
        assert seen_in_pause == []
        return
    assert len(seen_in_pause) == 1
    assert seen_in_pause[0] == {"state": EngineState.PAUSED, "shutter": "closed", "pump": "off"}
    assert _labels(summary.runs) == _labels(ref_summary.runs)
    assert all(s == "interrupted" for s in
               [e.outcome for e in events if isinstance(e, RunStopped)
                and e.outcome != "completed"])
    assert _final_state(bl) == ref_state
    # every run was taken with the device state the procedure set, pause or not
    for ev in events:
        if isinstance(ev, RunStarted):
            want_pump = "on" if ev.record.label == "pumped" else "off"
            assert ev.snapshot["pump"] == want_pump
            assert ev.snapshot["xray_shutter"] == "open"
            assert ev.snapshot["attenuator"] == (0.0 if want_pump == "on" else 200.0)


def test_a_deferred_pause_lands_before_the_next_step_starts(reference) -> None:
    """Whatever the step, a deferred pause lands at the latest at the next step's start."""
    ref_events = reference[1]
    starts = [i for i, e in enumerate(ref_events) if isinstance(e, StepStarted)]
    for at in range(1, starts[-1] + 1):
        bl = make_fake_beamline(velocity=1.0)
        calls = []

        def on_event(engine, ev, events, at=at):
            if len(events) == at and engine.state is EngineState.RUNNING:
                engine.pause()

        def hook(engine, calls=calls, bl=bl):
            calls.append(bl.devices["xray_shutter"].value)
            engine.resume()

        _, summary, events = _run(bl, on_event=on_event, pause_hook=hook)
        assert summary.outcome == "completed" and calls == ["closed"], at
        paused = next(i for i, e in enumerate(events)
                      if isinstance(e, StateChanged) and e.new == "paused")
        between = events[at:paused]
        started = [e for e in between if isinstance(e, StepStarted)]
        assert len(started) <= 1, (at, [e.path for e in started])
        if started:  # it landed at that step's opening checkpoint, before any of its actions
            assert between[-1] is started[0], at


def test_immediate_pause_during_a_run_retakes_it(reference) -> None:
    bl = make_fake_beamline(velocity=1.0)

    def on_event(engine, ev, events):
        from expctl.engine.events import ShotBlockTaken

        if isinstance(ev, ShotBlockTaken) and not getattr(on_event, "done", False):
            on_event.done = True
            engine.pause(immediate=True)

    engine, summary, events = _run(bl, on_event=on_event, pause_hook=lambda e: e.resume())
    stops = [(e.record.run, e.outcome) for e in events if isinstance(e, RunStopped)]
    assert stops[0] == (1, "interrupted")
    assert stops[1] == (2, "completed")
    assert summary.cut_runs[0].run == 1 and summary.runs[0].run == 2
    assert _labels(summary.runs) == _labels(reference[0].runs)


@pytest.mark.parametrize("at", [3, 9, 20, 31, 40, 50])
def test_abort_marks_the_run_and_drives_safe_state(at) -> None:
    bl = make_fake_beamline(velocity=1.0)

    def on_event(engine, ev, events):
        if len(events) >= at and engine.state is EngineState.RUNNING:
            engine.abort()

    engine, summary, events = _run(bl, on_event=on_event)
    assert summary.outcome == "aborted"
    assert engine.state is EngineState.IDLE
    assert bl.devices["xray_shutter"].value == "closed"
    assert bl.devices["pump"].value == "off"
    stops = [e for e in events if isinstance(e, RunStopped)]
    assert all(e.outcome in ("completed", "aborted") for e in stops)
    assert [e.outcome for e in stops].count("aborted") <= 1
    states = [(e.old, e.new) for e in events if isinstance(e, StateChanged)]
    assert states[-2:] == [("running", "aborting"), ("aborting", "idle")]


def test_abort_during_a_run_marks_it_aborted() -> None:
    bl = make_fake_beamline(velocity=1.0)

    def on_event(engine, ev, events):
        from expctl.engine.events import ShotBlockTaken

        if isinstance(ev, ShotBlockTaken) and engine.state is EngineState.RUNNING:
            engine.abort()

    engine, summary, events = _run(bl, on_event=on_event)
    stopped = [e for e in events if isinstance(e, RunStopped)]
    assert [e.outcome for e in stopped] == ["aborted"]
    assert stopped[0].record.shots < 60
    assert summary.runs == () and summary.cut_runs == (stopped[0].record,)


def test_stop_ends_cleanly_without_further_actions() -> None:
    bl = make_fake_beamline(velocity=1.0)

    def on_event(engine, ev, events):
        if isinstance(ev, StepStarted) and ev.path == "delay[0]/spot[1]":
            engine.stop()

    engine, summary, events = _run(bl, on_event=on_event)
    assert summary.outcome == "stopped"
    assert _labels(summary.runs) == [("reference", 60), ("pumped", 1)]
    assert engine.state is EngineState.IDLE
    assert bl.devices["sample_x"].position == -4.5  # the next spot was never visited


def test_beam_loss_mid_run_suspends_and_retakes(reference) -> None:
    ref_events = reference[1]
    first = next(e for e in ref_events if isinstance(e, RunStarted))
    t_loss = first.time + 1.2
    bl = make_fake_beamline(velocity=1.0, outages=[(t_loss, t_loss + 30.0)])
    engine, summary, events = _run(bl, suspenders=[BeamSuspender(settle=5.0)])
    stops = [(e.record.run, e.record.label, e.outcome) for e in events
             if isinstance(e, RunStopped)]
    assert stops[0] == (1, "reference", "beamloss")
    assert stops[1] == (2, "reference", "completed")
    retake = [e for e in events if isinstance(e, RunStarted)][1]
    assert retake.time >= t_loss + 30.0 + 5.0
    states = [(e.old, e.new) for e in events if isinstance(e, StateChanged)]
    assert ("running", "suspended") in states and ("suspended", "running") in states
    assert _labels(summary.runs) == _labels(reference[0].runs)
    assert retake.snapshot["xray_shutter"] == "open"


def test_a_pause_asked_for_before_a_beam_loss_still_pauses_after_it(reference) -> None:
    """Ctrl-C (a deferred pause) just before the beam drops: the suspension must not
    swallow it — once the beam is back the engine pauses at the next checkpoint."""
    first = next(e for e in reference[1] if isinstance(e, RunStarted))
    t_loss = first.time + 1.2
    bl = make_fake_beamline(velocity=1.0, outages=[(t_loss, t_loss + 30.0)])
    asked: list[float] = []

    def on_event(engine, ev, events) -> None:
        if isinstance(ev, RunStarted) and not asked:
            asked.append(ev.time)
            engine.pause()  # deferred: waits for the next checkpoint, after the run

    paused: list[str] = []

    def hook(engine) -> None:
        paused.append(engine.state.value)
        engine.stop()

    _, summary, events = _run(bl, on_event=on_event, suspenders=[BeamSuspender(settle=5.0)],
                              pause_hook=hook)
    states = [(e.old, e.new) for e in events if isinstance(e, StateChanged)]
    assert ("pausing", "suspended") in states  # the beam dropped while the pause waited
    assert paused == ["paused"] and summary.outcome == "stopped"
    after = states[states.index(("suspended", "running")):]
    assert after[:3] == [("suspended", "running"), ("running", "pausing"),
                         ("pausing", "paused")]


class _LinkDown:
    """A backend condition (the control-system link) down in ``window``; runs it cuts are
    marked ``disconnected``."""

    outcome = "disconnected"
    settle = 2.0

    def __init__(self, clock, window) -> None:
        self.clock, self.window = clock, window

    def reason(self, devices):
        return "link lost" if self.window[0] <= self.clock.now() < self.window[1] else None


class _Unreadable(_LinkDown):
    """A profile condition whose device cannot be read while the link is down."""

    def reason(self, devices):
        if super().reason(devices):
            raise DisconnectedError("BL3:BEAM is disconnected")
        return None


@pytest.mark.parametrize("kinds", [(_LinkDown, _Unreadable), (_Unreadable,)],
                         ids=["link first", "unreadable only"])
def test_a_run_cut_by_a_lost_link_is_marked_disconnected_and_retaken(reference, kinds) -> None:
    """The suspension's cause decides the cut run's outcome; a condition that cannot be
    read does not hold (it is not an error that ends the plan)."""
    first = next(e for e in reference[1] if isinstance(e, RunStarted))
    bl = make_fake_beamline(velocity=1.0)
    window = (first.time + 1.2, first.time + 20.0)
    _, summary, events = _run(bl, suspenders=[k(bl.clock, window) for k in kinds])
    stops = [(e.record.label, e.outcome) for e in events if isinstance(e, RunStopped)]
    assert stops[:2] == [("reference", "disconnected"), ("reference", "completed")]
    reason = next(e.reason for e in events if isinstance(e, StateChanged)
                  and e.new == "suspended")
    assert reason == ("link lost" if len(kinds) == 2 else "BL3:BEAM is disconnected")
    assert _labels(summary.runs) == _labels(reference[0].runs)
    assert [r.label for r in summary.cut_runs] == ["reference"]


def test_suspension_gives_up_after_the_timeout(clock) -> None:
    bl = make_fake_beamline(clock, outages=[(0.0, 1e9)])
    engine = Engine(bl, suspenders=[BeamSuspender()], suspend_timeout=60.0)
    from expctl.errors import BeamLossError
    from expctl.plans import take_run

    with pytest.raises(BeamLossError, match=r"suspended for 6\d s \(no beam\); giving up"):
        engine.run(take_run(10))
    assert engine.state is EngineState.IDLE and engine.last_summary.outcome == "failed"


def _fault_plan(policy):
    def body():
        yield from mv({"sample_x": 2.0})
        yield from request("pump", "on")
    return step("s", "", body(), on_fault=policy)


def test_retry_policy_retries_and_records_the_fault(clock) -> None:
    bl = make_fake_beamline(clock)
    bl.faults.inject("stall", "sample_x")
    faults: list = []
    bus = EventBus()
    bus.subscribe(lambda e: faults.append(e) if isinstance(e, FaultRaised) else None)
    Engine(bl, bus=bus).run(_fault_plan(FaultPolicy("retry", 2)))
    assert bl.devices["sample_x"].position == 2.0
    assert [(f.action, f.policy, f.attempt, f.step_path) for f in faults] == [
        ("Move", "retry", 1, "s")]
    assert "sample_x stalled" in faults[0].error.message


def test_skip_policy_goes_on(clock) -> None:
    bl = make_fake_beamline(clock)
    bl.faults.inject("refuse", "pump")
    summary = Engine(bl).run(_fault_plan(FaultPolicy("skip")))
    assert summary.outcome == "completed"
    assert [(f.action, f.policy) for f in summary.faults] == [("Request", "skip")]
    assert bl.devices["pump"].value == "off"


def test_abort_policy_fails_with_the_device_error(clock) -> None:
    bl = make_fake_beamline(clock)
    bl.faults.inject("stall", "sample_x")
    engine = Engine(bl)
    with pytest.raises(MotorStallError, match="sample_x stalled"):
        engine.run(_fault_plan(None))
    assert engine.state is EngineState.IDLE and engine.last_summary.outcome == "failed"
    assert [f.policy for f in engine.last_summary.faults] == ["abort"]


def test_retries_exhausted_then_abort(clock) -> None:
    bl = make_fake_beamline(clock)
    calls = []
    motor = bl.devices["sample_x"]
    original = motor.set

    def always_stall(value):
        calls.append(value)
        motor.stall_next = MotorStallError("sample_x stalled", device="sample_x")
        return original(value)

    motor.set = always_stall
    engine = Engine(bl)
    with pytest.raises(MotorStallError):
        engine.run(_fault_plan(FaultPolicy("retry", 2)))
    assert len(calls) == 3
    assert [(f.policy, f.attempt) for f in engine.last_summary.faults] == [
        ("retry", 1), ("retry", 2), ("abort", 3)]


def test_immediate_pause_on_a_wall_clock_stops_motion_and_resume_finishes_it() -> None:
    import threading

    from expctl.clock import WallClock

    bl = make_fake_beamline(WallClock(speed=20.0), velocity=1.0)  # 10 mm take 0.5 s wall
    seen: list[float] = []

    def hook(engine):
        seen.append(bl.devices["sample_x"].position)
        engine.resume()

    engine = Engine(bl, pause_hook=hook)
    timer = threading.Timer(0.1, lambda: engine.pause(immediate=True))
    timer.start()
    try:
        summary = engine.run(mv({"sample_x": 10.0}))
    finally:
        timer.join()
    assert summary.outcome == "completed"
    assert len(seen) == 1 and 0.0 < seen[0] < 10.0  # stopped short when the pause came
    assert bl.devices["sample_x"].position == 10.0  # the move was redone after resume
