"""Ctrl-C → abort → `expctl resume` on the simulator restores what completed steps set.

The walkthrough of issue 2: aborting drives the safe state (shutter closed,
pump off); the completed steps that opened the shutter (or turned the pump on)
are replayed from the journal on resume, not redone, so the engine must drive
those devices back before the first live action.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from expctl.engine import StateRestored
from expctl.engine.events import RunStarted, RunSuperseded, ShotBlockTaken, StepStarted
from expctl.session import Session

SMALL = Path(__file__).resolve().parents[2] / "sequences" / "small.yaml"


def _reference_runs(data: Path) -> list[tuple[str, str]]:
    with Session.open("bl3", data, seed=1) as s:
        summary = s.run(s.load(SMALL))
        assert summary.outcome == "completed"
        return [(r.label, str(r.shots)) for r in summary.runs]


def _abort_hook(pauses: int):
    """Answer the pause question: resume and Ctrl-C again ``pauses - 1`` times, then abort."""
    answers: list[str] = []

    def hook(engine):
        answers.append(engine.beamline.devices["xray_shutter"].read()["xray_shutter"])
        if len(answers) < pauses:
            engine.resume()
            engine.pause()
        else:
            engine.abort()

    return hook, answers


def _resume(data: Path, *, same: Session | None = None) -> tuple[object, list]:
    events: list = []
    if same is not None:
        if same.journal is not None:  # Session.run replaces it without closing it
            same.journal.close()
        off = same.bus.subscribe(events.append)
        summary = same.resume()
        off()
        return summary, events
    with Session.open("bl3", data) as s:  # a new process: devices at their defaults
        s.bus.subscribe(events.append)
        summary = s.resume()
        assert s.profile.seed == 1  # the campaign's seed, not the profile's
    return summary, events


@pytest.mark.parametrize("fresh", [False, True], ids=["same-session", "new-session"])
@pytest.mark.slow
def test_ctrl_c_in_the_rocking_curve_abort_then_resume_completes(tmp_path, fresh) -> None:
    expected = _reference_runs(tmp_path / "ref")
    data = tmp_path / "data"
    with Session.open("bl3", data, seed=1) as s:
        hook, answers = _abort_hook(pauses=6)
        off = s.bus.subscribe(lambda e: isinstance(e, StepStarted) and e.path == "4"
                              and s.current_engine.pause())
        summary = s.run(s.load(SMALL), pause_hook=hook)
        off()
        assert summary.outcome == "aborted" and summary.runs == ()
        assert answers == ["closed"] * 6  # every pause closed the shutter
        assert s.beamline.devices["xray_shutter"].read()["xray_shutter"] == "closed"
        if fresh:
            s.close()
            resumed, events = _resume(data)
        else:
            resumed, events = _resume(data, same=s)
    assert resumed.outcome == "completed", resumed.error
    assert resumed.steps_skipped == 3  # open, next_spot, set
    (restored,) = [e for e in events if isinstance(e, StateRestored)]
    assert restored.step_path == "4"
    assert dict(restored.targets)["xray_shutter"] == "open"
    if fresh:  # the new simulator starts at its defaults: the spot too (the PD gain and the
        # attenuator the sequence set are those defaults, so they need no restoring)
        assert {"sample_x", "sample_y"} <= set(dict(restored.targets))
    assert restored.text.startswith("restoring ") and "xray_shutter → open" in restored.text
    assert [(r.label, str(r.shots)) for r in resumed.runs] == expected


def test_abort_during_the_pumped_run_then_resume_restores_shutter_and_pump(tmp_path) -> None:
    data = tmp_path / "data"
    with Session.open("bl3", data, seed=1) as s:
        def abort_in_pumped(e):
            if isinstance(e, ShotBlockTaken) and e.context.label == "pumped":
                s.current_engine.abort()
        off = s.bus.subscribe(abort_in_pumped)
        first = s.run(s.load(SMALL))
        off()
        assert first.outcome == "aborted"
        assert [r.label for r in first.runs] == ["reference"]
        devices = s.beamline.devices
        assert (devices["xray_shutter"].read()["xray_shutter"], devices["pump"].read()["pump"]) \
            == ("closed", "off")
        resumed, events = _resume(data, same=s)
        assert resumed.outcome == "completed"
        # the aborted pumped shot destroyed the spot: everything from next_spot on is done
        # again on a fresh spot, after putting back what the replayed step 1 had set
        (restored,) = [e for e in events if isinstance(e, StateRestored)]
        assert restored.targets == (("xray_shutter", "open"),)
        assert restored.text == "restoring xray_shutter → open"
        assert [r.label for r in resumed.runs] == ["reference", "pumped"]
        started = [e for e in events if isinstance(e, RunStarted)]
        assert [(e.record.label, e.snapshot["pump"], e.snapshot["xray_shutter"],
                 e.snapshot["attenuator"]) for e in started] == [
            ("reference", "off", "open", 1800.0), ("pumped", "on", "open", 1600.0)]
        assert [e.context.sample_spot["index"] for e in started] == [1, 1]  # not spot 0
        superseded = [e.run for e in events if isinstance(e, RunSuperseded)]
        assert superseded == [first.runs[0].run]  # its reference run no longer counts
        journal = s.journal
        assert journal is not None
        kept = [(r.step, r.label) for r in journal.campaign_runs()]
    assert kept == [("6", "reference"), ("9", "pumped")]  # the same set as an uninterrupted run


def test_resume_inside_nested_loops_restores_once_just_before_going_live(tmp_path) -> None:
    """Live loop iterations whose first children are replayed must not restore on the way."""
    data = tmp_path / "data"
    overrides = ["delays=[0 ps, 1 ps]", "spots_per_delay=1", "reference_shots=5"]
    with Session.open("bl3", data, seed=1) as s:
        def abort_at_second_delay(e):
            if isinstance(e, ShotBlockTaken) and e.context.label == "reference" \
                    and e.context.scan.get("delay") == 1.0:
                s.current_engine.abort()
        off = s.bus.subscribe(abort_at_second_delay)
        first = s.run(s.load(SMALL.parent / "pumpprobe.yaml", overrides))
        off()
        assert first.outcome == "aborted"
        resumed, events = _resume(data, same=s)
    assert resumed.outcome == "completed"
    (restored,) = [e for e in events if isinstance(e, StateRestored)]
    # same session: only what the abort's safe state changed differs (pump is off anyway)
    assert restored.targets == (("xray_shutter", "open"),)
    assert [r.label for r in resumed.runs] == ["reference", "pumped"]
