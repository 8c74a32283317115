"""Rehearsed beam losses over Channel Access: ``--fault`` reaches the simulated IOC, the
client sees the beam go through its monitors, suspends, and retakes a cut run.

The fault schedule is checked on the in-process twin and armed through the IOC's
``SIM:FAULT`` (times relative, so the two clocks need not agree); everything after
that — the beam dropping, the suspension, the resume after the profile's settle time —
travels over CA like on a real beamline.
"""

from __future__ import annotations

import os
import subprocess

import numpy as np
import pytest

from expctl.engine.events import RunStarted, RunStopped, ShotBlockTaken, StateChanged
from expctl.runlog.catalog import Catalog
from expctl.session import Session
from tests.integration.epics_ioc import (
    CLI,
    IOC,
    ROOT,
    SPEED,
    Operator,
    ca_environment,
    free_port,
    ioc_environment,
    needs_entry_point,
    registry,
)

SMALL = ROOT / "sequences" / "small.yaml"
SHOTS = 1200  # 40 s of beam at 30 Hz: two seconds of wall time at SPEED


@pytest.fixture(scope="module")
def port():
    return free_port()


@pytest.fixture(scope="module")
def ioc(tmp_path_factory, port):
    ioc = IOC(tmp_path_factory.mktemp("ioc"), port).start()
    with ioc_environment(port):
        yield ioc
    ioc.stop()


def _expctl(port: int, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), **ca_environment(port)}
    return subprocess.run([*CLI, *args], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=300)


@needs_entry_point
@pytest.mark.slow
def test_a_scheduled_beam_loss_over_ca_suspends_and_the_campaign_completes(ioc, port,
                                                                           tmp_path):
    done = _expctl(port, "run", str(SMALL), "--profile", "bl3-epics", "--speed", str(SPEED),
                   "--data-dir", str(tmp_path), "--fault", "beam_loss@2s+15s")
    said = done.stdout + done.stderr
    assert done.returncode == 0, said
    assert "suspended: no beam since" in said and "resumed after" in said
    assert "completed: 2 runs" in said and "Traceback" not in said
    operator = Operator()
    try:
        assert operator.get("BL3:BEAM") == 1.0  # the loss is over on the IOC too
    finally:
        operator.close()


@needs_entry_point
@pytest.mark.slow
def test_a_fault_the_beamline_cannot_take_is_a_user_error_before_anything_moves(
        ioc, port, tmp_path):
    operator = Operator()
    try:
        before = operator.get("BL3:SAMPLE_X.RBV")
        done = _expctl(port, "run", str(SMALL), "--profile", "bl3-epics", "--speed",
                       str(SPEED), "--data-dir", str(tmp_path), "--fault", "stall@1s:pump")
        assert done.returncode == 2, done.stdout + done.stderr
        assert "--fault stall@1s:pump" in done.stderr
        assert "fault 'stall' cannot target 'pump'" in done.stderr
        assert operator.get("BL3:SAMPLE_X.RBV") == before
    finally:
        operator.close()


@pytest.mark.slow
def test_a_beam_loss_inside_a_run_over_ca_cuts_it_and_it_is_retaken(ioc, tmp_path):
    with Session.open("bl3-epics", tmp_path / "data", speed=SPEED,
                      registry=registry()) as session:
        events: list = []
        session.bus.subscribe(events.append)

        def lose_the_beam_in_the_reference_run(event: object) -> None:
            if (isinstance(event, RunStarted) and event.record.label == "reference"
                    and not any(isinstance(e, RunStopped) for e in events)):
                session.beamline.faults.inject(
                    "beam_loss", start=session.clock.now() + 5.0, duration=15.0)

        session.bus.subscribe(lose_the_beam_in_the_reference_run)
        summary = session.run(SMALL, [f"shots={SHOTS}"])
    assert summary.outcome == "completed"

    (cut,) = summary.cut_runs
    assert [(r.label, r.shots) for r in summary.runs] == [("reference", SHOTS), ("pumped", 1)]
    assert cut.label == "reference" and cut.run < summary.runs[0].run
    stops = {e.record.run: e.outcome for e in events if isinstance(e, RunStopped)}
    assert stops[cut.run] == "beamloss"
    assert [stops[r.run] for r in summary.runs] == ["completed", "completed"]
    suspended = [e for e in events if isinstance(e, StateChanged) and e.new == "suspended"]
    # the beam monitor (suspender "no beam") and the DAQ's failed put-completion (a
    # BeamLossError, which suspends too) travel separately: either may come first
    (reason,) = [e.reason for e in suspended]
    assert reason == "no beam" or reason.startswith(f"beam lost during run {cut.run}")

    # nothing duplicated: the retake has its own shots, each once
    by_run: dict[int, list[np.ndarray]] = {}
    for e in events:
        if isinstance(e, ShotBlockTaken):
            by_run.setdefault(e.block.run, []).append(e.block.data["tag"])
    tags = np.concatenate(by_run[summary.runs[0].run])
    assert len(tags) == len(set(tags.tolist())) == SHOTS
    cut_tags = np.concatenate(by_run.get(cut.run, [np.zeros(0, dtype=np.int64)]))
    assert 0 < len(cut_tags) < SHOTS and not set(cut_tags.tolist()) & set(tags.tolist())
    with Catalog(tmp_path / "data", readonly=True) as catalog:
        outcomes = {row.run: row.as_dict()["outcome"] for row in catalog.rows()}
    assert outcomes == {cut.run: "beamloss", summary.runs[0].run: "completed",
                        summary.runs[1].run: "completed"}
