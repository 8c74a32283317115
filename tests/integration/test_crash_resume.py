"""kill -9 a real campaign process at random points, resume, and compare with an uninterrupted one.

The driver runs the pump–probe procedure on the fake beamline with a sped-up
wall clock (so kills land mid-action, mid-run and mid-journal-write) and a run
counter persisted in the data directory, like a facility's run table.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from expctl.engine import Journal, find_unfinished, list_campaigns

DRIVER = '''
import sys
from pathlib import Path
from expctl.clock import WallClock
from expctl.engine import Engine, Journal, find_unfinished
from expctl.plans import PumpProbeSettings, pump_probe
from expctl.testing import make_fake_beamline

data = Path(sys.argv[1])
journal = Journal.resume(data) if find_unfinished(data) else Journal.create(data, sequence="crash")
beamline = make_fake_beamline(WallClock(speed=float(sys.argv[2])), data_dir=data, velocity=2.0)
settings = PumpProbeSettings(rock_points=9, rock_span=0.006)
Engine(beamline, journal=journal).run(pump_probe([0.0, 1.0, 2.0], 2, 30, settings))
journal.close()
print("campaign complete")
'''

EXPECTED = [(f"delay[{i}]/spot[{j}]", label) for i in range(3) for j in range(2)
            for label in ("reference", "pumped")]


def _start(script: Path, data: Path, speed: float) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[2])}
    return subprocess.Popen([sys.executable, str(script), str(data), str(speed)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _records(data: Path) -> list[dict]:
    (path,) = (data / "journal").glob("*.jsonl")
    out = []
    for line in path.read_text().splitlines():
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError:
            pass
    return out


@pytest.mark.parametrize("trial", [0, pytest.param(1, marks=pytest.mark.slow),
                                   pytest.param(2, marks=pytest.mark.slow)])
@pytest.mark.slow
def test_kill_9_at_random_points_then_resume(tmp_path, rng, trial) -> None:
    script = tmp_path / "driver.py"
    script.write_text(DRIVER)
    data = tmp_path / "data"
    kills = 0
    for _ in range(3):
        if (data / "journal").exists() and find_unfinished(data) is None:
            break  # finished before the next kill
        proc = _start(script, data, speed=60.0)
        time.sleep(float(rng.uniform(0.4, 1.4)))
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            kills += 1
        proc.communicate(timeout=60)
    while find_unfinished(data) is not None:
        proc = _start(script, data, speed=1000.0)
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
    assert kills >= 1, "no kill landed mid-campaign; make the campaign slower"

    (campaign,) = list_campaigns(data)
    assert campaign.finished
    journal = Journal.resume(data, campaign.id)
    journal.close()
    kept = journal.campaign_runs()
    assert [(r.step, r.label) for r in kept] == EXPECTED
    numbers = [r.run for r in journal.runs()]
    assert len(numbers) == len(set(numbers)), "a run number was used twice"
    assert all(r.shots == (30 if r.label == "reference" else 1) for r in kept)
    recs = _records(data)
    spots = [r["index"] for r in recs if r["t"] == "spot"]
    assert len(spots) == len(set(spots)), "a sample spot was exposed twice"
    # every completed step was completed exactly once (never redone after a resume)
    done = [r["path"] for r in recs if r["t"] == "step"]
    assert len(done) == len(set(done))
    # runs finished inside an interrupted step are reported, not silently kept
    superseded = {r.run for r in journal.superseded_runs()}
    assert superseded.isdisjoint({r.run for r in kept})
