"""Suspenders by default: a rehearsed beam loss suspends, waits, retakes; nothing else changes.

The same campaign is run without and with a ``--fault`` schedule on the simulated
beamline; the runs it keeps must be the same (step, label, shots), and every run a
beam loss cut must be in the catalog, marked ``beamloss``, and retaken in its step.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from expctl.clock import WallClock
from expctl.engine.events import RunStarted, StateChanged, StepStarted
from expctl.errors import BeamLossError, UserError
from expctl.runlog.catalog import Catalog
from expctl.session import Session

ROOT = Path(__file__).resolve().parents[2]
PUMPPROBE = ROOT / "sequences" / "pumpprobe.yaml"
SMALL = ROOT / "sequences" / "small.yaml"
OVERRIDES = ["delays=[0 ps, 2 ps]", "spots_per_delay=2", "reference_shots=40"]


def _campaign(data: Path, faults=(), **open_kw):
    events: list = []
    with Session.open("bl3", data, faults=faults, **open_kw) as session:
        session.bus.subscribe(events.append)
        summary = session.run(PUMPPROBE, OVERRIDES)
    with Catalog(data, readonly=True) as cat:
        rows = [r.as_dict() for r in cat.rows()]
    return summary, events, rows


def _kept(rows):
    return [(r["step_path"], r["label"], r["shots"]) for r in rows if r["outcome"] == "completed"]


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    return _campaign(tmp_path_factory.mktemp("plain") / "data")


def test_a_beam_loss_schedule_keeps_the_same_runs_plus_marked_cut_runs(uninterrupted, tmp_path):
    _, events, rows = uninterrupted
    starts = [e for e in events if isinstance(e, RunStarted)]
    reference = next(e for e in starts if e.record.label == "reference")
    rocking = [e for e in events if isinstance(e, StepStarted) and "rocking" in e.label]
    # one loss in the middle of a reference run, one during a later rocking curve
    faults = [f"beam_loss@{reference.time + 0.5:.3f}s+25s",
              f"beam_loss@{rocking[2].time + 25 + 0.5:.3f}s+15s"]
    summary, lost_events, lost_rows = _campaign(tmp_path / "data", faults)
    assert summary.outcome == "completed"
    assert _kept(lost_rows) == _kept(rows)
    cut = [r for r in lost_rows if r["outcome"] != "completed"]
    assert [(r["label"], r["outcome"]) for r in cut] == [("reference", "beamloss")]
    assert 0 < cut[0]["shots"] < 40
    retake = next(r for r in lost_rows if r["run"] > cut[0]["run"])
    assert (retake["step_path"], retake["label"], retake["outcome"]) == (
        cut[0]["step_path"], "reference", "completed")
    suspensions = [e for e in lost_events if isinstance(e, StateChanged) and e.new == "suspended"]
    assert len(suspensions) == 2
    assert suspensions[0].reason == "no beam"
    numbers = [r["run"] for r in lost_rows]
    assert numbers == sorted(set(numbers))


def test_without_suspenders_a_beam_loss_fails_the_campaign(tmp_path) -> None:
    with Session.open("bl3", tmp_path / "data", faults=["beam_loss@6.5s+30s"],
                      suspenders=False) as session:
        with pytest.raises(BeamLossError):
            session.run(SMALL)
        assert session.current_engine.last_safe_state.reason == "failure"


def test_suspension_on_a_wall_clock_resumes_and_keeps_the_same_runs(tmp_path) -> None:
    events: list = []
    with Session.open("bl3", tmp_path / "data", speed=100.0,
                      faults=["beam_loss@2s+15s"]) as session:  # inside the rocking curve
        assert isinstance(session.clock, WallClock)
        session.bus.subscribe(events.append)
        summary = session.run(SMALL)
    assert summary.outcome == "completed"
    assert [(r.label, r.shots) for r in summary.runs] == [("reference", 20), ("pumped", 1)]
    assert all(r.label for r in summary.cut_runs)  # (a run is cut only if the loss hit one)
    down = [e for e in events if isinstance(e, StateChanged) and e.new == "suspended"]
    back = [e for e in events if isinstance(e, StateChanged) and e.old == "suspended"]
    assert len(down) == 1 and [e.new for e in back] == ["running"]
    assert back[0].time >= 2 + 15 + 10  # the loss, then 10 s of beam (settle) before going on


def test_profile_suspenders_are_typed_and_checked(tmp_path) -> None:
    with Session.open("bl3", tmp_path / "data") as session:
        specs = {s.name: s for s in session.profile.suspenders}
        assert (specs["beam"].kind, specs["beam"].settle) == ("beam", 10.0)
        band = specs["pulse_energy"]
        assert (band.signal, band.low, band.units, band.settle) == (
            "beam.pulse_energy", 100.0, "uJ", 2.0)
        assert len(session.suspenders) == 2
    with Session.open("bl3", tmp_path / "data", suspenders=False) as session:
        assert session.suspenders == []


@pytest.mark.parametrize(("text", "message"), [
    ("beam_loss", "not a fault schedule"),
    ("flood@1s", "unknown fault kind 'flood'"),
    ("stall@1s", "stall needs a device"),
    ("beam_loss@1s:theta", "beam_loss takes no device"),
    ("stall@1s+2s:theta", "+DURATION is for beam_loss only"),
    ("stall@-1s:theta", "TIME must not be negative"),
    ("stall@1 ps:theta,fraction=2", "fraction must be in 0 .. 1"),
    ("timeout@3 deg:mpccd", "TIME '3 deg'"),
    ("refuse@0:pump,color=red", "refuse has no option 'color=red'"),
])
def test_bad_fault_schedules_are_user_errors(text, message) -> None:
    with pytest.raises(UserError) as info:
        Session.open("bl3", faults=[text])
    assert message in info.value.paragraph()
    assert info.value.exit_code == 2


def test_a_fault_the_backend_cannot_inject_is_refused_before_anything_moves(tmp_path) -> None:
    with Session.open("bl3", tmp_path / "data", faults=["stall@1s:pump"]) as session:
        with pytest.raises(UserError, match="fault 'stall' cannot target 'pump'"):
            session.beamline  # noqa: B018 (connecting checks the schedule)
