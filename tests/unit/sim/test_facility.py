"""Facility services: tags, run table, sync DB, persistence across sessions and processes."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from expctl.clock import VirtualClock
from expctl.devices import wait_all
from sim.backend import SimBackend, open_archive


def test_beam_is_every_second_tag_of_the_60hz_counter(beamline):
    rec, st = beamline.daq.start_run(100)
    assert st.deadline - beamline.clock.now() == pytest.approx(100 / 30.0, abs=1 / 30)
    wait_all([st], beamline.clock)
    block = beamline.daq.collect()
    final = beamline.daq.stop_run()
    tags = block.data["tag"]
    assert np.all(np.diff(tags) == 2) and np.all(tags % 2 == 0)
    assert np.allclose(np.diff(block.data["event_time"]), 1 / 30.0)
    assert (final.start_tag, final.end_tag, final.shots) == (tags[0], tags[-1], 100)
    assert final.status == 0 and final.hightag == 202601 and final.station == 2


def test_run_in_progress_is_visible_to_a_reader_with_status_2(beamline, tmp_path):
    reader = open_archive(tmp_path / "data")
    rec, st = beamline.daq.start_run(300, label="reference", comment="spot 0")
    assert reader.newest_run(3) == rec.run
    assert reader.run_record(3, rec.run).status == 2
    beamline.clock.sleep(2.0)
    beamline.daq.collect()
    half = reader.tags(3, rec.run)
    assert 55 <= len(half) <= 61 and reader.run_record(3, rec.run).shots == len(half)
    wait_all([st], beamline.clock)
    beamline.daq.collect()
    beamline.daq.stop_run()
    done = reader.run_record(3, rec.run)
    assert (done.status, done.shots, done.label, done.comment) == (0, 300, "reference", "spot 0")
    tags = reader.tags(3, rec.run)
    q = reader.sync_values("xfel_bl_3_tc_bm_2_pd/charge", 202601, tags[:10])
    theta = reader.sync_values("xfel_bl_3_st_2_motor_1/position", 202601, tags[:3])
    assert q.shape == (10,) and np.all(q >= 0)
    assert theta.tolist() == [11.4] * 3
    assert reader.photon_energy_kev(3, rec.run) == 10.0


def test_unknown_runs_tags_and_equipment_raise_keyerror(beamline):
    arch = beamline.archive
    with pytest.raises(KeyError, match="run 5 does not exist on beamline 3"):
        arch.run_record(3, 5)
    rec, st = beamline.daq.start_run(3)
    wait_all([st], beamline.clock)
    beamline.daq.stop_run()
    tags = arch.tags(3, rec.run)
    with pytest.raises(KeyError, match="unknown equipment"):
        arch.sync_values("xfel_bl_3_nothing/x", 202601, tags)
    with pytest.raises(KeyError, match="unknown high tag 201001"):
        arch.sync_values("xfel_bl_3_tc_bm_2_pd/charge", 201001, tags)
    with pytest.raises(KeyError, match="never recorded"):
        arch.sync_values("xfel_bl_3_tc_bm_2_pd/charge", 202601, tags + 1)
    assert arch.newest_run(1) == 0


def test_tags_and_run_numbers_increase_across_sessions(profile, tmp_path):
    data = tmp_path / "data"
    last_tag, last_run = 0, 0
    for _ in range(3):
        clock = VirtualClock()  # every session's clock restarts at 0
        bl = SimBackend().connect(profile, clock, data_dir=data)
        rec, st = bl.daq.start_run(5)
        wait_all([st], clock)
        bl.daq.collect()
        rec = bl.daq.stop_run()
        bl.close()
        assert rec.run == last_run + 1 and rec.start_tag > last_tag
        last_tag, last_run = rec.end_tag, rec.run
    state = json.loads((data / "facility" / "facility.json").read_text())
    assert state["next_run"] == {"3": 4}


def test_another_process_reads_the_runs(beamline, tmp_path, settle):
    settle(beamline, xray_shutter="open")
    rec, st = beamline.daq.start_run(10)
    wait_all([st], beamline.clock)
    block = beamline.daq.collect()
    beamline.daq.stop_run()
    code = (
        "import sys, json; from pathlib import Path; from sim.backend import open_archive\n"
        "a = open_archive(Path(sys.argv[1])); r = a.newest_run(3); t = a.tags(3, r)\n"
        "q = a.sync_values('xfel_bl_3_tc_bm_2_pd/charge', 202601, t)\n"
        "img = a.frames('MPCCD-1N0-3-001-1', 3, r, t[:1])\n"
        "print(json.dumps([r, a.run_record(3, r).status, t.tolist(), q.tolist(),"
        " float(img.sum())]))\n")
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path / "data")],
                         capture_output=True, text=True, check=True, timeout=120)
    run, status, tags, q, img_sum = json.loads(out.stdout)
    assert (run, status) == (rec.run, 0)
    assert tags == block.data["tag"].tolist()
    assert q == pytest.approx(block.data["pd_i0"].tolist())
    here = beamline.archive.frames("MPCCD-1N0-3-001-1", 3, rec.run, np.asarray(tags[:1]))
    assert img_sum == pytest.approx(float(here.sum()))


def test_reader_of_an_empty_data_dir_sees_no_runs(tmp_path):
    arch = open_archive(tmp_path / "nothing")
    assert arch.newest_run(3) == 0 and arch.equipment() == {}
    assert not (tmp_path / "nothing").exists()


def test_memory_facility_when_no_data_dir(profile, clock):
    bl = SimBackend().connect(profile, clock, data_dir=None)
    rec, st = bl.daq.start_run(2)
    wait_all([st], clock)
    bl.daq.stop_run()
    assert bl.archive.newest_run(3) == 1 and len(bl.archive.tags(3, 1)) == 2


def test_sync_db_records_shutter_open_as_1_and_attenuator_in_um(beamline, settle):
    settle(beamline, xray_shutter="open", attenuator=400)
    rec, st = beamline.daq.start_run(2)
    wait_all([st], beamline.clock)
    beamline.daq.stop_run()
    settle(beamline, xray_shutter="closed")
    rec2, st = beamline.daq.start_run(2)
    wait_all([st], beamline.clock)
    beamline.daq.stop_run()
    arch = beamline.archive
    shutter = "xfel_bl_3_shutter_1_open_valid/status"
    assert arch.sync_values(shutter, 202601, arch.tags(3, rec.run)).tolist() == [1.0, 1.0]
    assert arch.sync_values(shutter, 202601, arch.tags(3, rec2.run)).tolist() == [0.0, 0.0]
    att = arch.sync_values("xfel_bl_3_st_2_att_1/thickness", 202601, arch.tags(3, rec.run))
    assert att.tolist() == [400.0, 400.0]
    assert arch.equipment()["xfel_bl_3_st_2_att_1/thickness"].units == "um"


def test_daq_refuses_bad_commands_with_clear_messages(beamline):
    from expctl.errors import IllegalCommand, LimitError

    with pytest.raises(IllegalCommand) as err:
        beamline.daq.stop_run()
    assert err.value.paragraph() == (
        "cannot stop a run while the engine is idle (allowed: start_run)")
    with pytest.raises(LimitError, match="a run needs at least one shot, got 0"):
        beamline.daq.start_run(0)
    rec, _ = beamline.daq.start_run(None)
    with pytest.raises(IllegalCommand, match=f"while the engine is running run {rec.run}"):
        beamline.daq.start_run(5)
    with pytest.raises(LimitError, match="mpccd cannot integrate 0 shots"):
        beamline.devices["mpccd"].trigger(0)
    beamline.clock.sleep(1.0)
    final = beamline.daq.stop_run()
    assert final.shots == 30 and beamline.daq.collect() is not None
    assert beamline.daq.collect() is None
