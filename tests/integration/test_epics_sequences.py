"""Same sequences, same results: the shipped sequences over Channel Access and in process.

With the same seed, a run against the simulated IOC takes the same runs (numbers,
labels, shots), on the same sample spots, and leaves the axes at the same
positions as the in-process simulator.  Only the shots' noise differs (the IOC's
shots fall on other tags: it runs on a wall clock), so the fitted rocking-curve
centre — and theta, moved there — agree within the fit's uncertainty.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from expctl.engine.events import RunStarted, RunStopped, ShotBlockTaken, SpotConsumed
from expctl.session import Session
from tests.integration.epics_ioc import (
    CLI,
    IOC,
    ROOT,
    SPEED,
    ca_environment,
    free_port,
    ioc_environment,
    needs_entry_point,
    registry,
)

SEQUENCES = ROOT / "sequences"
SHORT_PUMPPROBE = ["delays=[-1 ps, 2 ps]", "spots_per_delay=1", "reference_shots=10"]


@pytest.fixture(scope="module")
def port():
    return free_port()


@pytest.fixture(scope="module")
def ioc(tmp_path_factory, port):
    ioc = IOC(tmp_path_factory.mktemp("ioc"), port).start()
    with ioc_environment(port):
        yield ioc
    ioc.stop()


def _campaign(profile: str, data_dir: Path, sequence: str, overrides: list[str],
              speed: float | None) -> dict:
    """Run a sequence; what it produced, as comparable plain values."""
    with Session.open(profile, data_dir, speed=speed, registry=registry()) as session:
        events: list = []
        session.bus.subscribe(events.append)
        summary = session.run(SEQUENCES / sequence, overrides)
        positions = {n: session.beamline.devices[n].read()[n]
                     for n in ("sample_x", "sample_y", "theta", "xray_shutter", "pump",
                               "attenuator", "pd_gain")}
    return {
        "outcome": summary.outcome,
        "runs": [(r.run - summary.runs[0].run, r.label, r.shots, r.status)
                 for r in summary.runs],  # numbered from the campaign's first
        "cut": list(summary.cut_runs),
        "spots": [(e.grid, e.index, e.position) for e in events if isinstance(e, SpotConsumed)],
        "started": [(e.record.label, e.context.sample_spot, sorted(e.snapshot))
                    for e in events if isinstance(e, RunStarted)],
        "outcomes": [e.outcome for e in events if isinstance(e, RunStopped)],
        "columns": {k: v.dtype.name for e in events if isinstance(e, ShotBlockTaken)
                    for k, v in e.block.data.items()},  # what run files get per shot
        "positions": positions,
        "rock": session.results["rock"],
    }


def _same(over_ca: dict, in_process: dict) -> None:
    for key in ("outcome", "runs", "cut", "spots", "started", "outcomes", "columns"):
        assert over_ca[key] == in_process[key], key
    theta = {k: v for k, v in in_process["positions"].items() if k != "theta"}
    assert {k: v for k, v in over_ca["positions"].items() if k != "theta"} == theta
    a, b = over_ca["rock"], in_process["rock"]
    allowed = 4 * (a.center_err ** 2 + b.center_err ** 2) ** 0.5
    assert abs(a.center - b.center) < allowed
    assert over_ca["positions"]["theta"] == pytest.approx(a.center, abs=1e-6)


@pytest.mark.slow
def test_small_over_ca_equals_in_process(ioc, tmp_path):
    over_ca = _campaign("bl3-epics", tmp_path / "ca", "small.yaml", [], SPEED)
    in_process = _campaign("bl3", tmp_path / "sim", "small.yaml", [], None)
    _same(over_ca, in_process)
    assert [r[1] for r in over_ca["runs"]] == ["reference", "pumped"]


@pytest.mark.slow
def test_short_pumpprobe_over_ca_equals_in_process(ioc, tmp_path):
    over_ca = _campaign("bl3-epics", tmp_path / "ca", "pumpprobe.yaml", SHORT_PUMPPROBE, SPEED)
    in_process = _campaign("bl3", tmp_path / "sim", "pumpprobe.yaml", SHORT_PUMPPROBE, None)
    _same(over_ca, in_process)
    assert len(over_ca["spots"]) == 2 and len(over_ca["runs"]) == 4


def test_dry_run_rehearses_on_the_in_process_twin(ioc, tmp_path):
    with Session.open("bl3-epics", tmp_path, speed=SPEED, registry=registry()) as session:
        before = session.beamline.devices["theta"].position
        dry = session.dry_run(SEQUENCES / "small.yaml")
        assert dry.ok and dry.runs == 2 and dry.shots == 21
        assert session.beamline.devices["theta"].position == before  # nothing real moved
        assert dry.results["rock"].center == pytest.approx(11.4, abs=0.01)


@needs_entry_point
def test_cli_devices_shows_live_values_through_the_entry_point(ioc, port, tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT), **ca_environment(port)}
    done = subprocess.run([*CLI, "devices", "--profile", "bl3-epics", "--json"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    rows = json.loads(done.stdout)["devices"]
    assert rows["beam"]["value"] == 1.0 and rows["xray_shutter"]["value"] in ("open", "closed")
    assert 10.0 <= rows["theta"]["value"] <= 13.0 and rows["theta"]["units"] == "deg"


@needs_entry_point
@pytest.mark.slow
def test_cli_with_the_ioc_gone_exits_1_naming_the_addresses(tmp_path):
    silent = free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT), **ca_environment(silent)}
    done = subprocess.run([*CLI, "devices", "--profile", "bl3-epics"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 1
    assert f"Searched 127.0.0.1:{silent}" in done.stderr and "Traceback" not in done.stderr
