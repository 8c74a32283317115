"""A crash at every write boundary of a pumped (destructive) step, then resume.

The process dies (``os._exit``, no clean-up, like ``kill -9``) right after the
pumped shot, after its run file was closed, after its catalog row, after its
journal record, or after its step record.  Resuming must never put the beam on
that spot again, must keep exactly one ``completed`` row per run of the
campaign, and must mark the run of a redone step ``superseded``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from expctl.beamtime.samples import SampleRegistry
from expctl.engine.journal import find_unfinished
from expctl.runlog.catalog import Catalog
from expctl.session import Session

ROOT = Path(__file__).resolve().parents[2]
OVERRIDES = ["delays=[0 ps, 1 ps]", "spots_per_delay=1", "reference_shots=10"]

DRIVER = '''
import os, sys
from pathlib import Path
from expctl.engine.events import RunStopped, ShotBlockTaken, StepFinished
from expctl.engine.journal import Journal
from expctl.runlog.catalog import Catalog
from expctl.session import Session

data, boundary = Path(sys.argv[1]), sys.argv[2]
pumped = set()

def die():
    os._exit(9)

def crash_after_shot(event):
    if isinstance(event, ShotBlockTaken) and event.context.label == "pumped":
        die()

original_row = Catalog.run_stopped
def row(self, event):
    if event.record.label == "pumped" and boundary == "file":
        die()  # the writer has closed the file; the catalog row is not updated
    original_row(self, event)
    if event.record.label == "pumped" and boundary == "catalog":
        die()
Catalog.run_stopped = row

original_handle = Journal.handle
def handle(self, event):
    original_handle(self, event)
    if boundary == "journal" and isinstance(event, RunStopped) and event.record.label == "pumped":
        die()
    if boundary == "step" and isinstance(event, StepFinished) and event.path.endswith("]") \\
            and any(r.label == "pumped" for r in self.runs()):
        die()
Journal.handle = handle

with Session.open("bl3", data) as session:
    if boundary == "shot":
        session.bus.subscribe(crash_after_shot)
    session.run(Path(sys.argv[3]), sys.argv[4:])
print("finished without crashing")
'''


def _expected(tmp_path_factory) -> list[tuple[str, str]]:
    with Session.open("bl3", tmp_path_factory.mktemp("ref") / "data") as s:
        summary = s.run(ROOT / "sequences" / "pumpprobe.yaml", OVERRIDES)
    return [(r.label, r.shots) for r in summary.runs]


@pytest.fixture(scope="module")
def expected(tmp_path_factory):
    return _expected(tmp_path_factory)


@pytest.mark.parametrize("boundary", ["shot", "file", "catalog", "journal", "step"])
@pytest.mark.slow
def test_crash_at_a_write_boundary_of_a_pumped_step_then_resume(tmp_path, boundary,
                                                                expected) -> None:
    data = tmp_path / "data"
    script = tmp_path / "driver.py"
    script.write_text(DRIVER)
    proc = subprocess.run([sys.executable, str(script), str(data), boundary,
                           str(ROOT / "sequences" / "pumpprobe.yaml"), *OVERRIDES],
                          env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 9, proc.stdout + proc.stderr
    with SampleRegistry(data, readonly=True) as reg:
        (sample,) = reg.samples()
        crashed_spots = {r.spot for r in reg.records(sample.name)}
    assert crashed_spots  # the spot of the pumped shot was claimed before the stage moved
    assert find_unfinished(data) is not None

    with Session.open("bl3", data) as session:
        summary = session.resume()
    assert summary.outcome == "completed"

    with Catalog(data, readonly=True) as cat:
        rows = [r.as_dict() for r in cat.rows()]
    completed = [r for r in rows if r["outcome"] == "completed"]
    assert [(r["label"], r["shots"]) for r in completed] == expected
    by_step = [(r["step_path"], r["label"]) for r in completed]
    assert len(by_step) == len(set(by_step)), "a run of the campaign was kept twice"
    # the beam never went back to a spot it had been on
    spots = [r["sample_spot"]["index"] for r in rows if r["label"] == "pumped"]
    assert len(spots) == len(set(spots)), f"a spot was pumped twice: {spots}"
    retaken = {r["sample_spot"]["index"] for r in completed}
    redone = boundary != "step"  # the step record made it: nothing is redone
    first_pumped = min(r["run"] for r in rows if r["label"] == "pumped")
    crashed_row = next(r for r in rows if r["run"] == first_pumped)
    if redone:
        assert crashed_row["outcome"] in ("superseded",), crashed_row["outcome"]
        assert crashed_row["sample_spot"]["index"] not in retaken
    else:
        assert crashed_row["outcome"] == "completed"
    with SampleRegistry(data, readonly=True) as reg:
        records = {r.spot: r for r in reg.records(sample.name)}
    assert set(records) >= crashed_spots  # nothing was forgotten
    assert all(records[s].state == "destroyed" for s in retaken if s in records
               and any(lab == "pumped" for _, lab, _ in records[s].runs))


@pytest.mark.slow
def test_reduce_leaves_superseded_runs_out(tmp_path, capsys) -> None:
    from expctl.cli import main

    data = tmp_path / "data"
    script = tmp_path / "driver.py"
    script.write_text(DRIVER)
    proc = subprocess.run([sys.executable, str(script), str(data), "catalog",
                           str(ROOT / "sequences" / "pumpprobe.yaml"), *OVERRIDES],
                          env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 9, proc.stderr
    with Session.open("bl3", data) as session:
        assert session.resume().outcome == "completed"
    with Catalog(data, readonly=True) as cat:
        superseded = [r.run for r in cat.rows() if r["outcome"] == "superseded"]
        completed = {r.run for r in cat.rows() if r["outcome"] == "completed"}
    assert len(superseded) == 2 and len(completed) == 4  # the cut step's reference + pumped
    args = ["reduce", "--data-dir", str(data), "--where", "sequence == 'pumpprobe'", "--json",
            "--allow-partial"]  # two delays: too few to fit, enough to bin
    assert main(args) == 0
    import json

    cube = json.loads(capsys.readouterr().out)
    assert set(cube["runs"]) == completed
    assert main(["reduce", str(superseded[0]), "--data-dir", str(data)]) == 2
    assert f"run {superseded[0]} is superseded" in capsys.readouterr().err
