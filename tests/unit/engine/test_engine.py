"""Engine behaviour on the fake beamline: moves, reads, runs, errors, events."""

from __future__ import annotations

import pytest

from expctl.devices.access import AccessLevel
from expctl.engine import EngineState, RunContext
from expctl.engine.events import RunStarted, RunStopped, ShotBlockTaken, StateChanged, StepStarted
from expctl.errors import AccessError, AggregateError, LimitError, SequenceError
from expctl.plans import (
    Move,
    Request,
    Set,
    count,
    mv,
    mvr,
    next_spot,
    put,
    request,
    scan,
    step,
    take_run,
    wait,
)
from expctl.testing import make_fake_beamline

from .conftest import recording_engine


def test_parallel_move_waits_for_the_slowest_axis(bl, clock) -> None:
    engine, _ = recording_engine(bl)
    engine.run(mv({"sample_x": 2.0, "sample_y": -3.0}))
    assert clock.now() == pytest.approx(3.0)  # 3 mm at 1 mm/s, both in parallel
    assert bl.devices["sample_x"].position == 2.0
    assert bl.devices["sample_y"].position == -3.0


def test_relative_move_adds_to_the_position(bl) -> None:
    engine, _ = recording_engine(bl)
    engine.run(mv({"sample_x": 1.0}))
    engine.run(mvr({"sample_x": 0.5}))
    assert bl.devices["sample_x"].position == pytest.approx(1.5)


def test_scan_reads_every_point_and_returns_scan_data(bl) -> None:
    engine, _ = recording_engine(bl)
    det = bl.devices["mpccd"]
    summary = engine.run(scan("theta", [11.399, 11.4, 11.401], read=("mpccd", "pd_i0")))
    data = summary.value
    assert data.positions == (11.399, 11.4, 11.401)
    assert data.column("mpccd.roi0") == pytest.approx([det.signal(x) for x in data.positions])
    assert data.column("pd_i0") == [100.0] * 3
    assert [r["theta"] for r in data.readings] == pytest.approx(list(data.positions))
    assert det.triggers == 3


def test_count_integrates_shots_at_the_detector_rate(bl, clock) -> None:
    engine, _ = recording_engine(bl)
    reading = engine.run(count(("mpccd", "pd_i0"), shots=60)).value
    assert clock.now() == pytest.approx(2.0)  # 60 shots at 30 Hz
    assert reading["pd_i0"] == 100.0 and "mpccd.roi0" in reading


def test_take_run_publishes_start_blocks_stop_with_context(bl, clock) -> None:
    engine, events = recording_engine(bl)
    plan = step("delay[0]", "d", take_run(90, "reference"), {"delay": 1.5, "i_delay": 0},
                scan={"delay": 1.5}, scan_step=0)
    summary = engine.run(plan, RunContext(sequence="pp"))
    rec = summary.value
    assert (rec.run, rec.shots, rec.label, rec.status) == (1, 90, "reference", 0)
    started = [e for e in events if isinstance(e, RunStarted)]
    blocks = [e for e in events if isinstance(e, ShotBlockTaken)]
    stopped = [e for e in events if isinstance(e, RunStopped)]
    assert len(started) == 1 and len(stopped) == 1
    assert sum(len(b.block) for b in blocks) == 90
    assert len(blocks) == 3  # one block per second of beamline time
    ctx = stopped[0].context
    assert (ctx.sequence, ctx.step_path, ctx.label) == ("pp", "delay[0]", "reference")
    assert ctx.scan == {"delay": 1.5} and ctx.loop == {"delay": 1.5, "i_delay": 0}
    assert stopped[0].outcome == "completed"
    assert started[0].snapshot["theta"] == pytest.approx(11.4)
    assert summary.runs == (rec,)


def test_next_spot_never_repeats_and_tags_runs(bl) -> None:
    engine, events = recording_engine(bl)

    def plan():
        spots = []
        for _ in range(3):
            spots.append((yield from next_spot()))
            yield from take_run(1, "pumped")
        return spots

    spots = engine.run(plan()).value
    assert [s[0] for s in spots] == [0, 1, 2]
    assert spots[1][1:] == (-3.5, -4.5)
    assert bl.devices["sample_x"].position == -2.5
    last = [e for e in events if isinstance(e, RunStopped)][-1]
    assert last.context.sample_spot == {"grid": "sample", "index": 2, "x": -2.5, "y": -4.5}


def test_spot_grid_exhaustion_is_a_limit_error(clock) -> None:
    engine, _ = recording_engine(make_fake_beamline(clock, spots=(1, 2)))

    def plan():
        for _ in range(3):
            yield from next_spot()

    with pytest.raises(LimitError, match=r"no never-exposed spot left on sample \(all 2 used\)"):
        engine.run(plan())
    assert engine.state is EngineState.IDLE  # back to idle by itself, the failure kept
    assert engine.last_summary.outcome == "failed"
    assert isinstance(engine.last_summary.error, LimitError)
    engine.reset()  # still accepted (compatibility), changes nothing
    assert engine.state is EngineState.IDLE
    engine.run(next_spot())  # and the engine takes the next plan without a reset


def test_limit_error_names_device_and_range_and_moves_nothing(bl) -> None:
    engine, _ = recording_engine(bl)
    with pytest.raises(AggregateError) as info:
        engine.run(mv({"sample_x": 12.0, "sample_y": -11.0, "theta": 12.0}))
    text = info.value.paragraph()
    assert "sample_x target 12 mm is outside its limits (allowed: -10 .. 10 mm)" in text
    assert "sample_y target -11 mm is outside its limits" in text
    assert bl.devices["theta"].moves == 0  # the valid target did not move either


def test_setting_an_accelerator_parameter_tells_to_request(bl) -> None:
    engine, _ = recording_engine(bl)
    with pytest.raises(AccessError) as info:
        engine.run(put("pump", "on"))
    assert info.value.paragraph() == (
        "pump is an accelerator parameter and cannot be set directly. "
        "Use a request instead, e.g. `request: {pump: VALUE}`.")


def test_staff_device_needs_staff_access(bl) -> None:
    engine, _ = recording_engine(bl)
    with pytest.raises(AccessError, match="moved mono_energy needs staff access"):
        engine.run(mv({"mono_energy": 12.0}))
    staff, _ = recording_engine(bl, access=AccessLevel.STAFF)
    staff.run(mv({"mono_energy": 12.0}))
    assert bl.devices["mono_energy"].position == 12.0


def test_request_waits_for_the_accelerator_latency(bl, clock) -> None:
    engine, _ = recording_engine(bl)
    engine.run(request("pump", "on"))
    assert clock.now() == pytest.approx(2.0)
    assert bl.devices["pump"].value == "on"
    with pytest.raises(SequenceError, match="theta is not an accelerator parameter"):
        engine.run(request("theta", 1.0))


def test_unknown_device_suggests_close_names(bl) -> None:
    engine, _ = recording_engine(bl)
    with pytest.raises(SequenceError) as info:
        engine.run(mv({"thetta": 1.0}))
    assert info.value.paragraph() == (
        "no device called 'thetta' on fake. Did you mean theta?")


def test_failure_drives_the_safe_state(bl) -> None:
    engine, events = recording_engine(bl)

    def plan():
        yield Set("xray_shutter", "open")
        yield Request("pump", "on")
        yield Move({"theta": 99.0})

    with pytest.raises(LimitError):
        engine.run(plan())
    assert bl.devices["xray_shutter"].value == "closed"
    assert bl.devices["pump"].value == "off"
    changes = [(e.old, e.new) for e in events if isinstance(e, StateChanged)]
    assert changes == [("idle", "running"), ("running", "failed"), ("failed", "idle")]
    assert engine.last_summary.outcome == "failed"
    safe = engine.last_safe_state
    assert safe.reason == "failure"
    assert safe.describe() == "xray_shutter open → closed, pump on → off"


def test_plain_exception_in_plan_code_fails_the_engine(bl) -> None:
    engine, _ = recording_engine(bl)

    def plan():
        yield from wait(1.0)
        raise RuntimeError("bug in a user plan")

    with pytest.raises(RuntimeError, match="bug in a user plan"):
        engine.run(plan())
    assert engine.state is EngineState.IDLE
    assert engine.last_summary.outcome == "failed"


def test_run_while_running_is_refused(bl) -> None:
    engine, events = recording_engine(bl)
    seen = []

    def nested(event):
        if isinstance(event, StepStarted):
            try:
                engine.run(wait(1.0))
            except Exception as exc:  # noqa: BLE001 - the test inspects it
                seen.append(exc)

    engine.bus.subscribe(nested)
    engine.run(step("s", "", wait(1.0)))
    assert seen and seen[0].paragraph() == (
        "cannot start while the engine is running (allowed: abort, pause, pause_now, stop)")


def test_step_end_mismatch_is_reported(bl) -> None:
    from expctl.plans import StepBegin, StepEnd

    def plan():
        yield StepBegin("a")
        yield StepEnd("b")

    engine, _ = recording_engine(bl)
    with pytest.raises(SequenceError, match="step end 'b' does not match the open step 'a'"):
        engine.run(plan())
