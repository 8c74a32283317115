"""Recorded scans, limits checked ahead, clean-up on early exit, quantities (fake beamline)."""

from __future__ import annotations

import pytest

from expctl.engine.events import ScanClosed, ScanOpened, ScanPointTaken
from expctl.errors import AggregateError, LimitError, SequenceError, UnitError
from expctl.plans import (
    CheckLimits,
    CloseScan,
    Finally,
    FinallyDone,
    Move,
    OpenScan,
    RecordPoint,
    Units,
    grid_scan,
    line_scan,
    list_scan,
    mv,
    mvr,
    rel_scan,
)
from expctl.units import Quantity

from .conftest import recording_engine


def _plan(*actions):
    """A plan yielding ``actions``; returns the last one's result."""
    result = None
    for action in actions:
        result = yield action
    return result


def _scan_events(events):
    return [e for e in events if isinstance(e, ScanOpened | ScanPointTaken | ScanClosed)]


def test_a_recorded_scan_is_numbered_and_every_point_is_an_event(bl) -> None:
    numbers = iter([41, 42])
    engine, events = recording_engine(bl, scan_numbers=lambda: next(numbers))
    data = engine.run(line_scan({"sample_x": (0.0, 2.0)}, 3, ("pd_i0",), signal="pd_i0",
                                kind="ascan", command="ascan sample_x 0 2 2")).value
    opened, *points, closed = _scan_events(events)
    assert (opened.number, opened.kind, opened.axes, opened.points) == (41, "ascan",
                                                                          ("sample_x",), 3)
    assert opened.command == "ascan sample_x 0 2 2" and opened.units["sample_x"] == "mm"
    assert [p.index for p in points] == [0, 1, 2]
    assert [p.values["sample_x"] for p in points] == pytest.approx([0.0, 1.0, 2.0])
    assert (closed.number, closed.outcome, closed.points) == (41, "completed", 3)
    assert data.number == 41 and data.axes == ("sample_x",)
    engine.run(list_scan({"sample_x": [1.0]}, ("pd_i0",)))
    assert _scan_events(events)[-1].number == 42


def test_an_engine_without_numbering_counts_from_one(bl) -> None:
    engine, events = recording_engine(bl)
    for _ in range(2):
        engine.run(list_scan({"sample_x": [0.5]}))
    assert [e.number for e in _scan_events(events) if isinstance(e, ScanOpened)] == [1, 2]


@pytest.mark.parametrize(("command", "outcome"), [("stop", "stopped"), ("abort", "aborted")])
def test_a_scan_cut_short_is_closed_with_its_points_and_outcome(bl, command, outcome) -> None:
    engine, events = recording_engine(bl)

    def cut(event):
        if isinstance(event, ScanPointTaken) and event.index == 1:
            getattr(engine, command)()
    engine.bus.subscribe(cut)
    summary = engine.run(line_scan({"sample_x": (0.0, 4.0)}, 5))
    assert summary.outcome == outcome
    closed = _scan_events(events)[-1]
    assert (closed.outcome, closed.points) == (outcome, 2)


def test_a_failing_plan_closes_its_scan_as_failed(bl) -> None:
    engine, events = recording_engine(bl)

    def plan():
        yield OpenScan("probe", ("sample_x",), 3)
        yield RecordPoint({"sample_x": 0.0})
        yield Move({"no_such_axis": 1.0})

    with pytest.raises(SequenceError):
        engine.run(plan())
    assert (_scan_events(events)[-1].outcome, _scan_events(events)[-1].points) == ("failed", 1)


def test_scans_do_not_nest_and_points_need_an_open_scan(bl) -> None:
    engine, _ = recording_engine(bl)

    def nested():
        yield OpenScan("a", ("sample_x",), 1)
        yield OpenScan("b", ("sample_x",), 1)

    with pytest.raises(SequenceError, match="scan 1 \\(a\\) is still open"):
        engine.run(nested())
    engine.reset()
    with pytest.raises(SequenceError, match="no scan open"):
        engine.run(_plan(RecordPoint({})))


def test_every_point_is_checked_before_the_first_move(bl) -> None:
    engine, _ = recording_engine(bl)
    with pytest.raises(LimitError) as err:
        engine.run(line_scan({"sample_x": (0.0, 20.0)}, 11))
    assert err.value.paragraph() == (
        "point 7 of 11: sample_x target 12 mm is outside its limits (5 of 11 points "
        "are outside) (allowed: -10 .. 10 mm)")
    assert bl.devices["sample_x"].position == 0.0           # nothing moved
    engine.reset()
    with pytest.raises(AggregateError) as many:
        engine.run(_plan(CheckLimits({"sample_x": (16.0,), "sample_y": (-19.0, 0.0)})))
    assert [e.device for e in many.value.errors] == ["sample_x", "sample_y"]


def test_the_rehearsal_reports_an_axis_once_not_once_per_point(bl) -> None:
    from expctl.engine.estimate import estimate

    found = estimate(lambda: line_scan({"sample_x": (0.0, 20.0)}, 11), bl)
    assert len(found.violations) == 1 and "(5 of 11 points" in found.violations[0].message


def test_finally_runs_when_a_plan_ends_early_and_not_after_finally_done(bl) -> None:
    engine, _ = recording_engine(bl)
    engine.run(mv({"sample_x": 1.0}))

    def wander(done: bool):
        yield Finally((Move({"sample_x": 1.0}),))
        yield Move({"sample_x": 3.0})
        if done:
            yield FinallyDone()
            return
        yield Move({"no_such_axis": 0.0})

    with pytest.raises(SequenceError):
        engine.run(wander(done=False))
    assert bl.devices["sample_x"].position == 1.0           # back where it was
    engine.reset()
    engine.run(wander(done=True))
    assert bl.devices["sample_x"].position == 3.0           # the plan's own business


def test_rel_scan_returns_to_the_start_also_when_stopped(bl) -> None:
    engine, _ = recording_engine(bl)
    engine.run(mv({"sample_y": 0.5}))

    def stop(event):
        if isinstance(event, ScanPointTaken) and event.index == 2:
            engine.stop()
    engine.bus.subscribe(stop)
    summary = engine.run(rel_scan({"sample_y": (-1.0, 1.0)}, 9))
    assert summary.outcome == "stopped" and bl.devices["sample_y"].position == 0.5


def test_quantities_are_converted_to_each_device_s_units(bl) -> None:
    engine, _ = recording_engine(bl)
    engine.run(mv({"sample_x": "1500 um"}))
    assert bl.devices["sample_x"].position == pytest.approx(1.5)
    engine.run(mvr({"sample_x": Quantity(-0.5, "mm")}))
    assert bl.devices["sample_x"].position == pytest.approx(1.0)
    assert engine.run(_plan(Units(("sample_x", "theta")))).value == {"sample_x": "mm",
                                                                     "theta": "deg"}
    data = engine.run(line_scan({"sample_x": ("0 um", "2 mm")}, 3)).value
    assert data.positions == pytest.approx((0.0, 1.0, 2.0))
    with pytest.raises(UnitError):
        engine.run(mv({"sample_x": "3 deg"}))


def test_grid_scan_snakes_and_records_its_shape(bl) -> None:
    engine, events = recording_engine(bl)
    engine.run(grid_scan([("sample_y", 0.0, 1.0, 2), ("sample_x", 0.0, 2.0, 3)], snake=True))
    points = [(e.values["sample_y"], e.values["sample_x"]) for e in _scan_events(events)
              if isinstance(e, ScanPointTaken)]
    assert points == pytest.approx([(0, 0), (0, 1), (0, 2), (1, 2), (1, 1), (1, 0)])
    assert _scan_events(events)[0].shape == (2, 3)


def test_close_scan_closes_as_completed(bl) -> None:
    engine, events = recording_engine(bl)
    engine.run(_plan(OpenScan("x", ("sample_x",), 0), CloseScan()))
    assert _scan_events(events)[-1].outcome == "completed"
