"""Resume drives devices back to what the completed (replayed) steps had set up."""

from __future__ import annotations

import pytest

from expctl.devices.access import AccessLevel
from expctl.engine import Engine, EventBus, Journal, StateRestored
from expctl.engine.events import RunStarted, StepStarted
from expctl.errors import AccessError
from expctl.plans import mv, mvr, next_spot, put, request, step, take_run
from expctl.testing import make_fake_beamline


def _plan():
    yield from step("1", "open", put("xray_shutter", "open"))
    yield from step("2", "spot", next_spot("sample"))
    yield from step("3", "tune", _tune())
    yield from step("4", "pump on", request("pump", "on"))
    yield from step("5", "shoot", take_run(10, "pumped"))
    yield from step("6", "finish", _finish())


def _tune():
    yield from put("attenuator", 200.0)
    yield from put("attenuator", 0.0)  # the last target counts
    yield from mv({"theta": 11.3})
    yield from mvr({"theta": 0.1})  # followed from the absolute move: 11.4


def _finish():
    yield from request("pump", "off")
    yield from put("xray_shutter", "closed")


def _abort_at(path):
    def on_event(engine, ev):
        if isinstance(ev, StepStarted) and ev.path == path:
            engine.abort()
    return on_event


def _run(bl, journal, on_event=None, access=AccessLevel.USER):
    bus = EventBus()
    events: list = []
    bus.subscribe(events.append)
    engine = Engine(bl, bus=bus, journal=journal, access=access)
    if on_event is not None:
        bus.subscribe(lambda ev: on_event(engine, ev))
    return engine.run(_plan()), events


def test_abort_then_resume_restores_what_completed_steps_set(tmp_path) -> None:
    bl = make_fake_beamline(data_dir=tmp_path)
    first = Journal.create(tmp_path, sequence="restore")
    summary, _ = _run(bl, first, _abort_at("5"))
    first.close()
    assert summary.outcome == "aborted"
    assert (bl.devices["xray_shutter"].value, bl.devices["pump"].value) == ("closed", "off")
    spot = bl.devices["sample_x"].position, bl.devices["sample_y"].position
    bl.devices["theta"].set(11.0)  # someone at the hutch moved theta meanwhile

    journal = Journal.resume(tmp_path)
    summary, events = _run(bl, journal)
    journal.close()
    assert summary.outcome == "completed" and summary.steps_skipped == 4
    (restored,) = [e for e in events if isinstance(e, StateRestored)]
    # axes first (in parallel), then the rest in the order the plan set them;
    # sample stage and attenuator already read their targets: not driven
    assert restored.targets == (("theta", pytest.approx(11.4)), ("xray_shutter", "open"),
                                ("pump", "on"))
    assert restored.text == "restoring theta → 11.4, xray_shutter → open, pump → on"
    assert restored.step_path == "5"
    # published before the interrupted step's first live action, then the run is retaken
    kinds = [type(e).__name__ for e in events]
    assert kinds.index("StateRestored") < kinds.index("RunStarted")
    (started,) = [e for e in events if isinstance(e, RunStarted)]
    assert started.snapshot["pump"] == "on" and started.snapshot["xray_shutter"] == "open"
    assert started.snapshot["theta"] == pytest.approx(11.4)
    assert (bl.devices["sample_x"].position, bl.devices["sample_y"].position) == spot
    assert [(r.step, r.label) for r in journal.campaign_runs()] == [("5", "pumped")]


def test_nothing_differs_nothing_restored(tmp_path) -> None:
    bl = make_fake_beamline(data_dir=tmp_path)
    first = Journal.create(tmp_path)
    _run(bl, first, _abort_at("3"))
    first.close()
    for name, value in (("xray_shutter", "open"),):
        bl.devices[name].set(value)  # put back by hand before resuming
    journal = Journal.resume(tmp_path)
    summary, events = _run(bl, journal)
    journal.close()
    assert summary.outcome == "completed"
    assert [e for e in events if isinstance(e, StateRestored)] == []


def test_a_fresh_beamline_gets_the_spot_and_shutter_back(tmp_path) -> None:
    """kill -9: the new process's devices start from their defaults."""
    first = Journal.create(tmp_path)
    _run(make_fake_beamline(data_dir=tmp_path), first, _abort_at("4"))
    first.close()
    journal = Journal.resume(tmp_path)
    spot = dict(journal.completed_step("2"))["NextSpot"]
    bl = make_fake_beamline(data_dir=tmp_path)
    _, events = _run(bl, journal)
    journal.close()
    (restored,) = [e for e in events if isinstance(e, StateRestored)]
    got = dict(restored.targets)
    assert (got["sample_x"], got["sample_y"]) == (spot[1], spot[2])
    assert got["xray_shutter"] == "open"
    assert "pump" not in got  # step 4 (pump on) was not completed: it runs live
    assert "attenuator" not in got and "theta" not in got  # defaults equal the targets


def test_a_relative_move_with_unknown_start_is_left_alone(tmp_path) -> None:
    def plan():
        yield from step("1", "nudge", mvr({"theta": 0.1}))
        yield from step("2", "shoot", take_run(5))

    bl = make_fake_beamline(data_dir=tmp_path)
    first = Journal.create(tmp_path)
    engine = Engine(bl, journal=first)
    engine.bus.subscribe(lambda ev: isinstance(ev, StepStarted) and ev.path == "2"
                         and engine.abort())
    engine.run(plan())
    first.close()
    bl.devices["theta"].set(11.0)
    journal = Journal.resume(tmp_path)
    bus = EventBus()
    events: list = []
    bus.subscribe(events.append)
    assert Engine(bl, bus=bus, journal=journal).run(plan()).outcome == "completed"
    journal.close()
    assert not any(isinstance(e, StateRestored) for e in events)
    assert bl.devices["theta"].position == 11.0


def test_restoring_respects_access_like_any_action(tmp_path) -> None:
    def staff_plan():
        yield from step("1", "energy", mv({"mono_energy": 12.0}))
        yield from step("2", "shoot", take_run(5))

    bl = make_fake_beamline(data_dir=tmp_path)
    first = Journal.create(tmp_path)
    engine = Engine(bl, journal=first, access=AccessLevel.STAFF)
    engine.bus.subscribe(lambda ev: isinstance(ev, StepStarted) and ev.path == "2"
                         and engine.abort())
    engine.run(staff_plan())
    first.close()
    bl.devices["mono_energy"].set(10.0)
    journal = Journal.resume(tmp_path)
    with pytest.raises(AccessError, match="mono_energy"):
        Engine(bl, journal=journal).run(staff_plan())
    journal.close()
