"""Samples as first-class state: spots are never shared between campaigns, damage stays with
the sample, and dry-run/validate say when the mounted sample has too few fresh spots."""

from __future__ import annotations

import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from expctl.beamtime.samples import SampleRegistry
from expctl.errors import LimitError, UserError
from expctl.runlog.catalog import Catalog
from expctl.session import Session

ROOT = Path(__file__).resolve().parents[2]
SMALL = ROOT / "sequences" / "small.yaml"
PUMPPROBE = ROOT / "sequences" / "pumpprobe.yaml"


def _spots_of_runs(data: Path) -> list[tuple[str, int]]:
    with Catalog(data, readonly=True) as cat:
        return [(r["sample_spot"]["sample"], r["sample_spot"]["index"]) for r in cat.rows()
                if r["label"] == "pumped"]


@pytest.mark.slow
def test_sequential_campaigns_never_share_an_exposed_spot(tmp_path) -> None:
    data = tmp_path / "data"
    for _ in range(3):  # three separate sessions, as three `expctl run`s would be
        with Session.open("bl3", data) as session:
            assert session.run(SMALL).outcome == "completed"
    with Session.open("bl3", data) as session:
        summary = session.run(PUMPPROBE, ["delays=[0 ps, 1 ps]", "spots_per_delay=2",
                                          "reference_shots=10"])
        notes = list(session.notes)
    assert summary.outcome == "completed" and notes == []  # the sample was registered once
    spots = _spots_of_runs(data)
    assert [i for _, i in spots] == list(range(7))  # 3 + 4 spots, each once, in grid order
    with SampleRegistry(data, readonly=True) as reg:
        (info,) = reg.samples()
        assert info.name == "sample-1" and info.mounted_on == (3,)
        records = reg.records(info.name)
    assert [r.spot for r in records] == list(range(7))
    assert all(r.state == "destroyed" for r in records)  # every spot got a pumped shot
    assert [[lab for _, lab, _ in r.runs] for r in records[:1]] == [["reference", "pumped"]]
    assert len({r.campaign for r in records}) == 4


@pytest.mark.slow
def test_damage_stays_with_the_sample_and_a_new_sample_starts_fresh(tmp_path) -> None:
    data = tmp_path / "data"
    with Session.open("bl3", data) as session:
        session.mount("xtal-A", new=True, comment="first crystal")
        session.run(SMALL)
        plate = session.beamline.world.plate
        cell = plate.cell_of_index(0)
        assert cell in plate.damaged_at
    with Session.open("bl3", data) as session:  # a new process: the crystal is still damaged
        plate = session.beamline.world.plate
        assert plate.damaged(cell, np.array([0.0])) is True
        assert session.mounted_sample("sample") == "xtal-A"
        session.mount("xtal-B", new=True)
        assert plate.damaged(cell, np.array([0.0])) is False  # another crystal
        session.run(SMALL)
        session.mount("xtal-A")  # put the first one back: its damage is back too
        assert plate.damaged(cell, np.array([0.0])) is True
    assert _spots_of_runs(data) == [("xtal-A", 0), ("xtal-B", 0)]
    assert (data / "facility" / "samples" / "xtal-A.jsonl").is_file()


@pytest.mark.slow
def test_only_unmark_hands_a_used_spot_out_again(tmp_path) -> None:
    data = tmp_path / "data"
    with Session.open("bl3", data) as session:
        session.mount("xtal-C", new=True)
        session.samples.mark("xtal-C", [0, 1, 2], note="scratched")
        session.run(SMALL)
        session.samples.unmark("xtal-C", [1])
        session.run(SMALL)
    assert [i for _, i in _spots_of_runs(data)] == [3, 1]


@pytest.mark.slow
def test_dry_run_and_validate_find_spot_grid_exhaustion(tmp_path) -> None:
    data = tmp_path / "data"
    with Session.open("bl3", data) as session:
        size = len(session.beamline.spot_grids["sample"])
        session.mount("xtal-D", new=True)
        session.samples.mark("xtal-D", range(size - 3))  # 3 fresh spots left
        dry = session.dry_run(PUMPPROBE, ["delays=[0 ps, 1 ps]", "spots_per_delay=2"])
        assert not dry.ok
        (problem,) = [v for v in dry.violations if isinstance(v, LimitError)]
        assert problem.paragraph() == (
            f"{PUMPPROBE}:34:13: the sequence needs 4 never-exposed spots on grid 'sample' "
            "and sample 'xtal-D' has 3 left (allowed: at most 3 spots). Mount a fresh sample "
            "(`expctl sample new NAME`) or take fewer spots (e.g. --set spots_per_delay=...).")
        assert session.dry_run(PUMPPROBE, ["delays=[0 ps]", "spots_per_delay=3"]).ok
        loaded = session.validate(PUMPPROBE)  # 125 spots needed
        assert [e.message for e in loaded.errors] == [
            "the sequence needs 125 never-exposed spots on grid 'sample' and sample 'xtal-D' "
            "has 3 left"]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    cli = "import sys; from expctl.cli import main; sys.exit(main())"
    for args in (["validate", str(PUMPPROBE)], ["run", str(PUMPPROBE), "--dry-run"]):
        done = subprocess.run([sys.executable, "-c", cli, *args, "--data-dir", str(data)],
                              capture_output=True, text=True, env=env, timeout=120)
        assert done.returncode == 2, done.stderr
        assert "needs 125 never-exposed spots on grid 'sample' and sample 'xtal-D' has 3" in (
            done.stdout + done.stderr)


def test_a_sample_without_a_fresh_spot_stops_the_run_before_the_stage_moves(tmp_path) -> None:
    data = tmp_path / "data"
    with Session.open("bl3", data) as session:
        size = len(session.beamline.spot_grids["sample"])
        session.mount("xtal-E", new=True)
        session.samples.mark("xtal-E", range(size))
        with pytest.raises(LimitError, match="no never-exposed spot left on sample 'xtal-E'"):
            session.run(SMALL)


@pytest.mark.parametrize(("name", "message"), [
    ("", "is not usable"), ("../etc", "is not usable"), ("-x", "is not usable"),
    ("a" * 65, "is not usable")])
def test_bad_sample_names_are_user_errors(tmp_path, name, message) -> None:
    with SampleRegistry(tmp_path) as reg, pytest.raises(UserError, match=message):
        reg.new(name, "sample", 10)


def test_registry_reads_nothing_from_an_empty_directory_and_refuses_duplicates(tmp_path):
    with SampleRegistry(tmp_path / "none", readonly=True) as reg:
        assert reg.samples() == [] and reg.mounted(3, "sample") is None
    with SampleRegistry(tmp_path) as reg:
        reg.new("x1", "sample", 4)
        with pytest.raises(UserError, match="there is already a sample called 'x1'"):
            reg.new("x1", "sample", 4)
        assert reg.claim("x1", 2, campaign="c") and not reg.claim("x1", 2)
        with pytest.raises(UserError, match=r"has no spot 4 \(allowed: 0 .. 3\)"):
            reg.mark("x1", [4])
        info = reg.get("x1")
        assert (info.used, info.fresh) == (1, 3)
        assert math.isclose(info.records[0].time, info.records[0].time)
