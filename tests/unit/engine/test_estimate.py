"""Estimate: rehearsal on the twin — duration, runs, shots, every violation, nothing moves."""

from __future__ import annotations

import pytest

from expctl.devices.access import AccessLevel
from expctl.engine import Engine, estimate
from expctl.errors import AccessError, AggregateError, ArgumentError, LimitError, Location
from expctl.plans import PumpProbeSettings, mv, pump_probe, put, request, step, take_run
from expctl.session import Session
from expctl.testing import make_fake_beamline

SETTINGS = PumpProbeSettings(rock_points=9, rock_span=0.006)


def _pp():
    return pump_probe([0.0, 1.0, 2.0], spots_per_delay=2, reference_shots=300, settings=SETTINGS)


def test_estimate_matches_the_real_run_and_moves_nothing(clock) -> None:
    bl = make_fake_beamline(clock, velocity=1.0)
    est = estimate(_pp, bl)
    assert clock.now() == 0.0 and bl.devices["theta"].moves == 0 and bl.daq.records == []
    summary = Engine(bl).run(_pp())
    assert est.ok
    assert est.total_s == pytest.approx(summary.duration)
    assert est.runs == len(summary.runs) == 12
    assert est.shots == 6 * 300 + 6
    assert est.data_bytes == est.shots * (8 + 8 + 1)  # tag, event_time, lightStatus/xray
    per = {s.path: s.seconds for s in est.per_step}
    assert per["delay[0]/spot[0]"] > 10.0  # a 300-shot run at 30 Hz
    assert sum(per[f"delay[{i}]"] for i in range(3)) == pytest.approx(
        est.total_s - per["prepare"] - per["finish"])
    assert est.results["rock"].center == pytest.approx(11.4)  # followed through the data


def _bad_plan():
    here = Location("seq.yaml", 12, 5)
    yield from step("a", "", mv({"sample_x": 20.0, "theta": 50.0}), location=here)
    yield from put("pump", "on")
    yield from mv({"mono_energy": 12.0})
    yield from request("pump_delay", 500.0)
    yield from take_run(10)


def test_every_violation_is_reported_with_its_location(clock) -> None:
    bl = make_fake_beamline(clock)
    est = estimate(_bad_plan, bl)
    assert not est.ok and est.error is None and est.runs == 1
    got = [(type(e).__name__, e.paragraph()) for e in est.violations]
    assert got == [
        ("LimitError", "seq.yaml:12:5: sample_x target 20 mm is outside its limits "
                       "(allowed: -10 .. 10 mm)"),
        ("LimitError", "seq.yaml:12:5: theta target 50 deg is outside its limits "
                       "(allowed: 0 .. 45 deg)"),
        ("AccessError", "pump is an accelerator parameter and cannot be set directly. "
                        "Use a request instead, e.g. `request: {pump: VALUE}`."),
        ("AccessError", "moved mono_energy needs staff access; this session has user. "
                        "Ask beamline staff, or start the session with the staff access level."),
        ("LimitError", "pump_delay target 500 ps is outside its limits (allowed: -10 .. 100 ps)"),
    ]
    staff = estimate(_bad_plan, bl, access=AccessLevel.STAFF)
    assert len(staff.violations) == 4


def test_the_session_refuses_a_plan_its_rehearsal_finds_violations_in(clock, tmp_path) -> None:
    bl = make_fake_beamline(clock)
    with Session.open("bl3", tmp_path, beamline=bl, suspenders=False) as session, \
            pytest.raises(AggregateError) as info:
        session.run_plan(_bad_plan)
    assert "5 problems found before any motion" in info.value.paragraph()
    assert {type(e) for e in info.value.errors} == {LimitError, AccessError}
    assert all(d.moves == 0 for n, d in bl.devices.items() if hasattr(d, "moves"))
    assert bl.devices["pump"].requests == [] and clock.now() == 0.0


def test_the_session_runs_a_clean_plan_after_its_rehearsal(clock, tmp_path) -> None:
    bl = make_fake_beamline(clock)
    with Session.open("bl3", tmp_path, beamline=bl, suspenders=False) as session:
        summary = session.run_plan(lambda: take_run(30, "x"))
    assert summary.value.shots == 30 and clock.now() == pytest.approx(1.0)


def test_the_engine_runs_plans_not_factories(clock) -> None:
    with pytest.raises(ArgumentError, match="Engine.run takes a plan .*not function"):
        Engine(make_fake_beamline(clock)).run(_bad_plan)  # type: ignore[arg-type]
