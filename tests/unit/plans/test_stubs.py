"""Plan stubs and procedures, driven by the plan recorder (no engine, no devices)."""

from __future__ import annotations

import math

import pytest

from expctl.analysis import PeakResult
from expctl.errors import Location
from expctl.plans import (
    Analyze,
    Checkpoint,
    FaultPolicy,
    Move,
    NextSpot,
    Read,
    Request,
    Set,
    Sleep,
    StepBegin,
    StepEnd,
    TakeRun,
    Trigger,
    align_to_peak,
    checkpoint,
    close_shutter,
    count,
    decide_alignment,
    delay_scan,
    mv,
    mvr,
    open_shutter,
    pump_probe,
    put,
    request,
    rocking_curve,
    scan,
    step,
    take_run,
    wait,
)
from expctl.testing import record_plan
from expctl.units import Quantity


def test_simple_stubs_yield_one_action_each() -> None:
    def plan():
        yield from mv({"a": 1.0, "b": 2.0})
        yield from mvr({"a": 0.5})
        yield from put("attenuator", 200.0)
        yield from open_shutter()
        yield from close_shutter("s2")
        yield from request("pump", "on")
        yield from wait(2)
        yield from checkpoint()

    rec = record_plan(plan())
    assert rec.actions == [
        Move({"a": 1.0, "b": 2.0}), Move({"a": 0.5}, relative=True), Set("attenuator", 200.0),
        Set("xray_shutter", "open"), Set("s2", "closed"), Request("pump", "on"), Sleep(2.0),
        Checkpoint()]


def test_count_triggers_then_reads() -> None:
    rec = record_plan(count(["mpccd", "pd_i0"], shots=10))
    assert rec.actions == [Trigger(("mpccd", "pd_i0"), 10), Read(("mpccd", "pd_i0"))]
    assert rec.value == {"mpccd": 0.0, "pd_i0": 0.0}


def test_take_run_returns_the_record() -> None:
    rec = record_plan(take_run(300, "reference", "c"))
    assert rec.actions == [TakeRun(300, "reference", "c", False)]
    assert rec.value.run == 1 and rec.value.shots == 300


def test_step_wraps_and_returns_the_body_value() -> None:
    where = Location("s.yaml", 3, 1)
    rec = record_plan(step("a/b", "B", take_run(5), {"delay": 1.0},
                           on_fault=FaultPolicy("retry", 2), location=where))
    assert rec.actions == [StepBegin("a/b", "B", {"delay": 1.0}, FaultPolicy("retry", 2), where),
                           Checkpoint(), TakeRun(5), StepEnd("a/b")]
    assert rec.value.shots == 5


def test_scan_checkpoints_each_point_and_collects_readings() -> None:
    reads = iter(range(100))
    rec = record_plan(scan("theta", [1.0, 2.0], read=("mpccd",), shots_per_point=3),
                      {Read: lambda a: {"mpccd.roi0": float(next(reads)), "theta": 0.0}})
    assert rec.actions == [
        Checkpoint(), Move({"theta": 1.0}), Trigger(("mpccd",), 3), Read(("mpccd", "theta")),
        Checkpoint(), Move({"theta": 2.0}), Trigger(("mpccd",), 3), Read(("mpccd", "theta"))]
    assert rec.value.column("mpccd.roi0") == [0.0, 1.0]
    assert rec.value.column(lambda r: r["mpccd.roi0"] * 2) == [0.0, 2.0]
    with pytest.raises(KeyError, match="signal 'nope' was not read in the scan of theta"):
        rec.value.column("nope")


def _gauss_reader(center: float, fwhm: float):
    s = fwhm / (2 * math.sqrt(2 * math.log(2)))
    pos = {"theta": 11.0}

    def on_move(a):
        pos.update(a.targets)

    def on_read(a):
        x = pos["theta"]
        return {"theta": x, "mpccd.roi0": 5 + 1000 * math.exp(-0.5 * ((x - center) / s) ** 2),
                "pd_i0": 100.0}

    return {Move: on_move, Read: on_read}


def test_rocking_curve_centres_on_the_axis_and_fits() -> None:
    rec = record_plan(rocking_curve("theta", 0.01, 41, signal="mpccd.roi0", read=("mpccd",),
                                    i0="pd_i0", name="rock"), _gauss_reader(11.0012, 0.002))
    moves = [a.targets["theta"] for a in rec.of_type(Move)]
    assert moves[0] == pytest.approx(10.995) and moves[-1] == pytest.approx(11.005)
    assert len(moves) == 41
    analyze = rec.of_type(Analyze)[0]
    assert analyze.name == "rock" and analyze.inputs["axis"] == "theta"
    assert analyze.inputs["i0"] == (100.0,) * 41
    assert isinstance(rec.value, PeakResult) and rec.value.ok
    assert rec.value.center == pytest.approx(11.0012, abs=2e-5)
    assert rec.value.fwhm == pytest.approx(0.002, rel=0.05)


def test_rocking_curve_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError, match="needs span > 0 and ≥ 3 points, got 0.01, 2"):
        record_plan(rocking_curve("theta", 0.01, 2, signal="x", read=()))


def test_align_moves_to_the_peak_when_the_fit_is_good() -> None:
    rec = record_plan(align_to_peak("theta", 0.01, 41, signal="mpccd.roi0", read=("mpccd",)),
                      _gauss_reader(11.0012, 0.002))
    assert rec.of_type(Move)[-1].targets["theta"] == pytest.approx(11.0012, abs=2e-5)
    decision = [a for a in rec.of_type(Analyze) if a.name == "rock_align"]
    assert len(decision) == 1


def test_align_stays_put_when_the_peak_is_at_the_edge() -> None:
    rec = record_plan(align_to_peak("theta", 0.01, 41, signal="mpccd.roi0", read=("mpccd",)),
                      _gauss_reader(11.0049, 0.002))
    assert not rec.value.ok
    assert rec.of_type(Move)[-1].targets["theta"] == 11.0


def test_decide_alignment_says_why() -> None:
    class Bad:
        ok = False
        center = 1.0
        flags = frozenset({"edge", "fit_failed"})

    d = decide_alignment("theta", Bad(), 2.5)
    assert (d.moved, d.target, d.reason) == (False, 2.5, "stayed at 2.5: edge, fit_failed")


def test_pump_probe_has_the_fourteen_steps_in_order() -> None:
    flat = {"theta": 11.4, "mpccd": 1.0, "mpccd.roi0": 1.0, "pd_i0": 1.0}
    rec = record_plan(pump_probe([-1.0, 2.0], spots_per_delay=2, reference_shots=300),
                      {Read: lambda a: flat})
    kinds = [type(a).__name__ for a in rec.actions]
    assert kinds.count("TakeRun") == 8 and kinds.count("NextSpot") == 4
    steps = [a.path for a in rec.of_type(StepBegin)]
    assert steps == ["prepare", "delay[0]", "delay[0]/spot[0]", "delay[0]/spot[1]", "delay[1]",
                     "delay[1]/spot[0]", "delay[1]/spot[1]", "finish"]
    # one spot, condensed: which device-level actions, in which order
    begin = rec.actions.index(StepBegin("delay[1]/spot[0]", "spot 1",
                                        {"delay": 2.0, "i_delay": 1, "i_spot": 0}))
    body = rec.actions[begin + 1:]
    assert body[0] == Checkpoint()  # every step is a pause point
    body = body[1:]
    assert body[0] == NextSpot("sample")
    assert body[1:4] == [Request("pump", "off"), Set("pd_gain", "high"),
                         Set("attenuator", 200.0)]
    after_rock = body.index(TakeRun(300, "reference", "", False))
    assert body[after_rock - 1].targets.keys() == {"theta"}  # step 6: move to the peak
    assert body[after_rock + 1:after_rock + 5] == [
        Request("pump", "on"), Set("pd_gain", "low"), Set("attenuator", 0.0),
        TakeRun(1, "pumped", "", False)]
    delay_begin = rec.actions.index(StepBegin("delay[1]", "delay 2 ps",
                                              {"delay": 2.0, "i_delay": 1},
                                              scan={"delay": Quantity(2.0, "ps")}, scan_step=1))
    assert rec.actions[delay_begin + 1:delay_begin + 3] == [Checkpoint(),
                                                             Request("pump_delay", 2.0)]
    assert len(rec.value) == 4 and rec.value[3].pumped.label == "pumped"


def test_delay_scan_moves_or_requests() -> None:
    moved = record_plan(delay_scan([0.0, 1.5], 60))
    assert [a for a in moved.actions if isinstance(a, Move | TakeRun)] == [
        Move({"delay": 0.0}), TakeRun(60, "delay_scan"), Move({"delay": 1.5}),
        TakeRun(60, "delay_scan")]
    asked = record_plan(delay_scan([3.0], 10, device="pump_delay", requested=True))
    assert asked.of_type(Request) == [Request("pump_delay", 3.0)]
    assert [(p.delay, p.run.shots) for p in asked.value] == [(3.0, 10)]
