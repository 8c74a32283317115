"""What a campaign journal keeps for resume: written only once live, run starts, redo,
cut spots, and a read-only view; plus the engine redoing a spot whose shot was cut."""

from __future__ import annotations

import pytest

from expctl.devices.protocols import RunRecord
from expctl.engine import Engine, EventBus, Journal, find_unfinished, list_campaigns
from expctl.engine.events import (
    GoingLive,
    RunContext,
    RunStarted,
    RunStopped,
    RunSuperseded,
    ShotBlockTaken,
    StepFinished,
    StepStarted,
)
from expctl.errors import DataError
from expctl.plans import PumpProbeSettings, pump_probe
from expctl.testing import make_fake_beamline


def _record(run: int, label: str) -> RunRecord:
    return RunRecord(run, 3, 202601, 10, 20, 0.0, 1.0, 0, 10, label)


def _ctx(step: str, spot: int | None = None) -> RunContext:
    return RunContext(step_path=step, sample_spot=None if spot is None else {
        "grid": "sample", "index": spot, "x": 0.0, "y": 0.0})


def test_a_deferred_journal_writes_nothing_until_the_plan_goes_live(tmp_path) -> None:
    journal = Journal.create(tmp_path, sequence="small", deferred=True,
                             sources={"/a/small.yaml": "steps: []\n"}, overrides=("n=1",),
                             samples={"sample": "xtal-1"})
    journal.handle(StepStarted("1", "open", 0.0))
    assert not journal.live and not journal.path.exists()
    journal.finish("aborted")  # stopped before anything moved: there is no campaign
    assert not journal.path.exists() and list_campaigns(tmp_path) == []

    journal = Journal.create(tmp_path, sequence="small", deferred=True,
                             sources={"/a/small.yaml": "steps: []\n"}, overrides=("n=1",),
                             samples={"sample": "xtal-1"})
    journal.handle(StepStarted("1", "open", 0.0, {"delay": 2.5}))
    journal.handle(GoingLive(0.1))
    assert journal.live and journal.path.exists()
    journal.finish("failed")
    journal.close()
    (info,) = list_campaigns(tmp_path)
    assert (info.sources, info.overrides, info.samples) == (
        {"/a/small.yaml": "steps: []\n"}, ("n=1",), {"sample": "xtal-1"})
    view = Journal.read(tmp_path)
    assert view.step_context("1") == {"__map__": {"delay": 2.5}}  # the begin record kept it
    with pytest.raises(DataError, match="is closed"):
        view.handle(StepStarted("2", "", 0.0))


def test_started_runs_that_never_ended_are_superseded_and_redo_forgets_steps(tmp_path) -> None:
    journal = Journal.create(tmp_path)
    journal.handle(StepStarted("s", "", 0.0))
    journal.handle(StepStarted("s/1", "", 0.0))
    journal.handle(StepFinished("s/1", 0.1, results=(("NextSpot", (4, 0.0, 0.0)),)))
    journal.handle(StepStarted("s/2", "", 0.2))
    journal.handle(RunStarted(_record(7, "reference"), _ctx("s/2", 4), 0.2))
    journal.handle(RunStopped(_record(7, "reference"), "completed", 0.3, _ctx("s/2", 4)))
    journal.handle(StepFinished("s/2", 0.3))
    journal.handle(StepStarted("s/3", "", 0.4))
    journal.handle(RunStarted(_record(8, "pumped"), _ctx("s/3", 4), 0.4))  # then: kill -9
    journal.close()
    again = Journal.read(tmp_path)
    assert [r.run for r in again.campaign_runs()] == [7]
    assert [(r.run, r.step, r.outcome) for r in again.superseded_runs()] == [(8, "s/3", "unknown")]
    assert again.spot_cut("s/1", 4)        # run 8 at spot 4 never completed its step
    assert not again.spot_cut("s/3", 4)    # (not counted inside its own step)
    assert not again.spot_cut("s/1", 5)
    resumed = Journal.resume(tmp_path)
    assert resumed.redo("s/2") == [7]      # its kept run no longer counts
    assert resumed.completed_step("s/2") is None and resumed.completed_step("s/1") is not None
    resumed.close()
    assert Journal.read(tmp_path).completed_step("s/2") is None  # the redo is journaled


def test_resume_redoes_the_spot_of_a_cut_pumped_run_on_a_fresh_spot(tmp_path) -> None:
    """Fake beamline, no registry: any cut run on the spot counts as destructive."""
    settings = PumpProbeSettings(rock_points=5, rock_span=0.006)

    def plan():
        return pump_probe([0.0], spots_per_delay=2, reference_shots=10, settings=settings)

    journal = Journal.create(tmp_path)
    bus = EventBus()
    bl = make_fake_beamline(data_dir=tmp_path)
    engine = Engine(bl, bus=bus, journal=journal)

    def abort_in_the_second_pumped_shot(event: object) -> None:
        if isinstance(event, ShotBlockTaken) and event.context.label == "pumped" \
                and event.context.sample_spot["index"] == 1:
            engine.abort()

    bus.subscribe(abort_in_the_second_pumped_shot)
    assert engine.run(plan()).outcome == "aborted"
    journal.close()
    assert find_unfinished(tmp_path) is not None
    events: list = []
    bus = EventBus()
    bus.subscribe(events.append)
    resumed = Journal.resume(tmp_path)
    summary = Engine(make_fake_beamline(data_dir=tmp_path), bus=bus, journal=resumed).run(plan())
    resumed.close()
    assert summary.outcome == "completed"
    spots = [e.context.sample_spot["index"] for e in events if isinstance(e, RunStarted)]
    # pump_probe puts the whole spot (next_spot, runs) in one step: the cut step is redone
    # from its start on spot 2; the completed spot[0] step is replayed, not redone
    assert spots == [2, 2]
    assert [e for e in events if isinstance(e, RunSuperseded)] == []
    assert [(r.step, r.label) for r in resumed.campaign_runs()] == [
        ("delay[0]/spot[0]", "reference"), ("delay[0]/spot[0]", "pumped"),
        ("delay[0]/spot[1]", "reference"), ("delay[0]/spot[1]", "pumped")]
