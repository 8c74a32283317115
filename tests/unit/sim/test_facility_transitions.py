"""The facility store's run transitions: one durable write each, and a controller killed
(``kill -9``) at any point leaves a run table the next session completes correctly."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

import sim.facility.statelog as statelog
import sim.facility.store as store_module
from expctl.clock import VirtualClock
from expctl.devices import wait_all
from expctl.devices.protocols import RunRecord
from sim.backend import SimBackend, open_archive
from sim.facility.samples import DamageStore
from sim.facility.store import FacilityStore

ROOT = Path(__file__).resolve().parents[3]

#: a controller that takes one long run (100 s of beamtime in about a second of wall
#: time) and dies without any clean-up, while the run runs or just after its stop
CONTROLLER = """
import os, sys
from pathlib import Path
from expctl.clock import VirtualClock
from expctl.devices import load_profile, wait_all
from sim.backend import PROFILE_DIR, SimBackend
bl = SimBackend().connect(load_profile(PROFILE_DIR / "bl3.yaml"), VirtualClock(),
                          data_dir=Path(sys.argv[1]))
rec, st = bl.daq.start_run(3000)
wait_all([st], bl.clock)
bl.daq.collect()
if sys.argv[2] == "stopped":
    rec = bl.daq.stop_run()
print(rec.run, flush=True)
os._exit(9)
"""


def _killed_controller(data: Path, when: str) -> int:
    out = subprocess.run([sys.executable, "-c", CONTROLLER, str(data), when], cwd=ROOT,
                         env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 9, out.stderr
    return int(out.stdout)


def test_a_run_start_appends_one_line_and_its_stop_one_file_and_one_line(
        beamline, tmp_path, monkeypatch):
    rewrites: list[str] = []
    real = statelog.atomic_write

    def counted(path, data):
        rewrites.append(path.name)
        real(path, data)

    monkeypatch.setattr(statelog, "atomic_write", counted)
    monkeypatch.setattr(store_module, "atomic_write", counted)
    log = tmp_path / "data" / "facility" / "facility.log"
    lines = log.read_bytes().count(b"\n") if log.exists() else 0
    rec, st = beamline.daq.start_run(30)
    assert rewrites == [] and log.read_bytes().count(b"\n") == lines + 1
    wait_all([st], beamline.clock)
    beamline.daq.collect()
    beamline.daq.stop_run()
    assert rewrites == [f"{rec.run:06d}.json"] and log.read_bytes().count(b"\n") == lines + 2
    beamline.close()  # folds the log into the checkpoint
    assert rewrites[-1] == "facility.json" and not log.exists()
    state = json.loads((tmp_path / "data" / "facility" / "facility.json").read_text())
    assert state["next_run"] == {"3": rec.run + 1} and state["open_runs"] == {}


def test_a_line_cut_short_by_a_kill_is_skipped_and_the_next_change_starts_afresh(tmp_path):
    root = tmp_path / "facility"
    writer = FacilityStore(root)
    writer.open_session(0.0, 60.0)
    with open(root / "facility.log", "ab") as fh:
        fh.write(b'{"open": "3/1", "tick": 5')  # a controller killed inside its write
    reader = FacilityStore(root, create=False)
    assert reader.equipment() == {}
    writer.register_equipment({"xfel_bl_3_x/position": "mm"})
    assert reader.equipment() == {"xfel_bl_3_x/position": "mm"}
    assert reader.runs(3) == []


@pytest.mark.parametrize("when", ["running", "stopped"])
def test_a_killed_controllers_run_is_complete_and_its_number_never_reused(
        profile, tmp_path, when):
    data = tmp_path / "data"
    run = _killed_controller(data, when)
    reader = open_archive(data)
    assert reader.run_record(3, run).status == (2 if when == "running" else 0)

    bl = SimBackend().connect(profile, VirtualClock(), data_dir=data)  # the next session
    try:
        record = reader.run_record(3, run)
        assert (record.status, record.shots) == (0, 3000)
        assert record.end_tag == int(reader.tags(3, run)[-1])
        assert ("its controller stopped" in record.comment) == (when == "running")
        state = json.loads((data / "facility" / "facility.json").read_text())
        assert state["open_runs"] == {}
        nxt, st = bl.daq.start_run(1)
        wait_all([st], bl.clock)
        bl.daq.collect()
        bl.daq.stop_run()
    finally:
        bl.close()
    assert nxt.run == run + 1
    if when == "stopped":  # facility time reached at the stop was kept
        assert nxt.start_tag > record.end_tag


def test_sync_columns_in_one_file_per_run_and_in_the_older_layout(tmp_path):
    store = FacilityStore(tmp_path / "facility")
    store.append_sync(3, 7, {"tag": np.array([10, 12]), "_recipe/x": np.array([0.5, 1.5])})
    store.append_sync(3, 7, {"tag": np.array([14]), "_recipe/x": np.array([2.5])})
    assert [p.name for p in (tmp_path / "facility" / "bl3" / "sync").iterdir()] == ["000007.f64"]
    with pytest.raises(ValueError, match="sync columns"):
        store.append_sync(3, 7, {"tag": np.array([16])})
    reader = FacilityStore(tmp_path / "facility", create=False)
    cols = reader.sync_columns(3, 7)
    assert cols["tag"].tolist() == [10, 12, 14] and cols["tag"].dtype == np.int64
    assert cols["_recipe/x"].tolist() == [0.5, 1.5, 2.5]
    old = tmp_path / "facility" / "bl3" / "sync" / "000006"  # written before 2026-12-04
    old.mkdir()
    (old / "columns.json").write_text('["tag", "_recipe/x"]')
    (old / "rows.f64").write_bytes(np.array([[8.0, 0.25]], dtype="<f8").tobytes())
    assert reader.sync_columns(3, 6)["tag"].tolist() == [8]
    assert reader.sync_columns(3, 5) == {}


def test_sample_damage_is_appended_and_survives_a_cut_line(tmp_path):
    store = DamageStore(tmp_path / "facility")
    store.save("xtal", [3, 1])
    store.save("xtal", [1, 3, 7])  # only 7 is new
    path = tmp_path / "facility" / "samples" / "xtal.jsonl"
    assert path.read_bytes().split(b"\n") == [b"", b"[1, 3]", b"", b"[7]", b""]
    with open(path, "ab") as fh:
        fh.write(b"\n[9, 1")  # a kill inside the write: that damage is lost, no other
    assert DamageStore(tmp_path / "facility").load("xtal") == {1, 3, 7}
    again = DamageStore(tmp_path / "facility")
    again.save("xtal", [1, 3, 7, 11])
    (path.with_suffix(".json")).write_text('{"sample": "xtal", "damaged": [2]}')  # older
    assert DamageStore(tmp_path / "facility").load("xtal") == {1, 2, 3, 7, 11}


def test_two_controllers_on_one_facility_never_share_a_run_number(tmp_path):
    blank = RunRecord(run=0, beamline=3, hightag=202601, start_tag=0, end_tag=None,
                      start_time=0.0, stop_time=None, status=2, shots=0)
    a, b = FacilityStore(tmp_path / "facility"), FacilityStore(tmp_path / "facility")
    a.open_session(0.0, 60.0)
    numbers = []
    for store in (a, b, b, a, b):
        numbers.append(store.open_run(blank, {"seed": 1}, tick=len(numbers)).run)
    assert numbers == [1, 2, 3, 4, 5]
    a.save_run(replace(a.run_record(3, 4), status=0), {"seed": 1}, tick=9)
    b.touch(10)  # folds the log into the checkpoint
    assert a.runs(3) == b.runs(3) == [1, 2, 3, 4, 5]
    assert (b.run_record(3, 4).status, a.run_record(3, 5).status) == (0, 2)
    assert a.open_run(blank, {}, tick=11).run == 6
