"""The engine against the simulated beamline: both drivers (real run and estimate) agree."""

from __future__ import annotations

import pytest

from expctl.clock import VirtualClock
from expctl.devices import BackendRegistry
from expctl.engine import BeamSuspender, Engine, EventBus, estimate
from expctl.engine.events import RunStarted, RunStopped, StepStarted
from expctl.errors import AccessError, LimitError
from expctl.plans import PumpProbeSettings, mv, pump_probe, put

pytest.importorskip("sim.backend")
from sim.truth import spot_peak_theta  # noqa: E402

# the simulated perfect crystal reflects ~1e9 photons: both runs heavily attenuated, as in
# sequences/pumpprobe.yaml
SETTINGS = PumpProbeSettings(rock_points=21, attenuator_in=1800.0, attenuator_out=1600.0,
                             strong_gain="mid")


@pytest.fixture
def sim(tmp_path):
    registry = BackendRegistry()
    profile = registry.find_profile("bl3")
    beamline = registry.connect(profile, VirtualClock(), data_dir=tmp_path / "data", seed=3)
    yield beamline
    beamline.close()


def _plan():
    return pump_probe([0.5], spots_per_delay=2, reference_shots=60, settings=SETTINGS)


def _run(beamline, **kw):
    bus = EventBus()
    events: list = []
    bus.subscribe(events.append)
    summary = Engine(beamline, bus=bus, **kw).run(_plan())
    return summary, events


def test_pump_probe_aligns_each_spot_on_its_own_peak(sim) -> None:
    summary, events = _run(sim)
    assert summary.outcome == "completed"
    assert [(r.label, r.shots) for r in summary.runs] == [("reference", 60), ("pumped", 1)] * 2
    for rec in summary.value:
        truth = spot_peak_theta(sim.profile, rec.spot[0])
        assert rec.peak.ok
        assert rec.peak.center == pytest.approx(truth, abs=3e-4)  # ≈ 5 µrad, fwhm 28.6 µrad
    assert sim.archive.newest_run(sim.profile.beamline) == summary.runs[-1].run
    stored = sim.archive.run_record(sim.profile.beamline, summary.runs[0].run)
    assert stored.status == 0 and stored.shots == 60
    pumped = [e for e in events if isinstance(e, RunStarted) and e.record.label == "pumped"]
    assert all(e.snapshot["pump"] == "on" and e.snapshot["xray_shutter"] == "open"
               for e in pumped)
    assert sim.devices["xray_shutter"].read()["xray_shutter"] == "closed"


def test_both_drivers_walk_the_same_steps_and_runs(sim) -> None:
    bus = EventBus()
    steps: list = []
    bus.subscribe(lambda e: steps.append(e.path) if isinstance(e, StepStarted) else None)
    est = estimate(_plan, sim)
    newest = sim.archive.newest_run(sim.profile.beamline)
    assert sim.clock.now() == 0.0 and newest <= 0  # nothing real happened
    summary = Engine(sim, bus=bus).run(_plan())
    assert est.ok and est.runs == len(summary.runs) and est.shots == 2 * 60 + 2
    assert [s.path for s in est.per_step] and {s.path for s in est.per_step} == set(steps)
    assert est.total_s == pytest.approx(summary.duration, rel=0.05)


def test_violations_on_the_sim_are_all_reported(sim) -> None:
    def bad():
        yield from mv({"theta": 14.0, "sample_x": 0.0})
        yield from put("pump", "on")

    est = estimate(bad, sim)
    kinds = [type(v) for v in est.violations]
    assert kinds == [LimitError, AccessError]
    assert "theta target 14 deg is outside its limits" in est.violations[0].paragraph()


def test_beam_loss_on_the_sim_stops_marks_and_retakes(sim) -> None:
    ref, ref_events = _run(sim.estimator_copy())
    first = next(e for e in ref_events if isinstance(e, RunStarted))
    sim.faults.inject("beam_loss", start=first.time + 0.8, duration=20.0)
    summary, events = _run(sim, suspenders=[BeamSuspender(settle=3.0)])
    stops = [(e.record.label, e.outcome) for e in events if isinstance(e, RunStopped)]
    assert stops[:2] == [("reference", "beamloss"), ("reference", "completed")]
    cut = [e.record for e in events if isinstance(e, RunStopped) and e.outcome == "beamloss"][0]
    assert cut.shots < 60 and summary.runs[0].run > cut.run
    assert [(r.label, r.shots) for r in summary.runs] == [("reference", 60), ("pumped", 1)] * 2
    retake = [e for e in events if isinstance(e, RunStarted)][1]
    assert retake.time >= first.time + 0.8 + 20.0 + 3.0 - 1e-6
