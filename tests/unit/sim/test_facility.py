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
from sim.truth import ground_truth


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


PD = "xfel_bl_3_tc_bm_2_pd/charge"
THETA = "xfel_bl_3_st_2_motor_1/position"
SHUTTER = "xfel_bl_3_shutter_1_open_valid/status"
BEAM = "xfel_mon_bpm_bl3_0_3_beamstatus/summary"


def test_sync_db_answers_for_shots_between_runs(beamline, tmp_path, settle):
    """Tags outside any run carry the state of their moment (another process reads them)."""
    rec1, st = beamline.daq.start_run(5)
    wait_all([st], beamline.clock)
    beamline.daq.stop_run()
    beamline.clock.sleep(2.0)  # dark, shutter closed
    settle(beamline, attenuator=1750, pd_gain="high")
    t_open = beamline.clock.now()
    settle(beamline, xray_shutter="open")  # probe on the I0 monitor now
    t_move = beamline.clock.now()
    wait_all([beamline.devices["theta"].set(11.5)], beamline.clock)  # 2 s move, settle 0.02
    beamline.clock.sleep(3.0)
    rec2, st = beamline.daq.start_run(5)
    wait_all([st], beamline.clock)
    beamline.daq.stop_run()
    end1 = beamline.archive.run_record(3, rec1.run).end_tag
    start2 = beamline.archive.run_record(3, rec2.run).start_tag
    between = np.arange(end1 + 2, start2, 2)
    assert len(between) > 100
    reader = open_archive(tmp_path / "data")
    tl = beamline.world.timeline
    times = tl.time_of(between)
    shutter = reader.sync_values(SHUTTER, 202601, between)
    assert np.all(shutter[times < t_open] == 0.0) and np.all(shutter[times > t_open + 0.06] == 1)
    theta = reader.sync_values(THETA, 202601, between)
    assert np.all(theta[times <= t_move] == 11.4)
    assert np.all(theta[times > t_move + 2.1] == pytest.approx(11.5))
    moving = (times > t_move + 0.3) & (times < t_move + 1.7)
    assert np.all((theta[moving] > 11.4) & (theta[moving] < 11.5))
    assert np.all(np.diff(theta[moving]) > 0)
    q = reader.sync_values(PD, 202601, between)
    # behind 1750 um of Si ~0.47 pC with the shutter open (11.5 uJ mean probe, 39 nC/uJ on
    # the diode, high range 1.6 % low); its offset alone before
    truth = ground_truth(beamline.profile)
    want = (truth.probe_pulse_energy_uj * np.exp(-1750 / 127.2) * truth.i0_pc_per_uj
            * truth.i0_gain_error["high"] + truth.i0_offset_pc["high"])
    assert abs(np.mean(q[times < t_open])) < 0.01  # offsets of mid (0.008), then high
    assert np.mean(q[times > t_open + 0.2]) == pytest.approx(want, rel=0.25)
    assert reader.sync_values(BEAM, 202601, between).tolist() == [1.0] * len(between)


def test_sync_db_values_inside_runs_match_the_shot_blocks(beamline, settle):
    settle(beamline, xray_shutter="open", attenuator=100, pd_gain="high")
    rec, st = beamline.daq.start_run(200)
    beamline.clock.sleep(2.0)
    first = beamline.daq.collect()
    beamline.devices["theta"].set(11.41)  # a change mid-run starts a new state interval
    wait_all([st], beamline.clock)
    rest = beamline.daq.collect()
    beamline.daq.stop_run()
    tags = np.concatenate([first.data["tag"], rest.data["tag"]])
    q = np.concatenate([first.data["pd_i0"], rest.data["pd_i0"]])
    got = beamline.archive.sync_values(PD, 202601, tags[::-1])
    assert np.array_equal(got[::-1], q)


def test_sync_db_refuses_tags_never_reached_and_odd_tags(beamline):
    rec, st = beamline.daq.start_run(3)
    wait_all([st], beamline.clock)
    beamline.daq.stop_run()
    last = beamline.archive.run_record(3, rec.run).end_tag
    with pytest.raises(KeyError, match="never recorded"):
        beamline.archive.sync_values(PD, 202601, np.array([last + 10_000]))
    with pytest.raises(KeyError, match=rf"\[{last - 1}\]"):
        beamline.archive.sync_values(PD, 202601, np.array([last - 1]))


def test_sync_db_of_an_earlier_session(profile, tmp_path):
    data = tmp_path / "data"
    clock = VirtualClock()
    bl = SimBackend().connect(profile, clock, data_dir=data)
    clock.sleep(1.0)
    wait_all([bl.devices["sample_x"].set(1.0)], clock)
    clock.sleep(10.0)
    bl.close()
    clock2 = VirtualClock()
    bl2 = SimBackend().connect(profile, clock2, data_dir=data)
    rec, st = bl2.daq.start_run(2)
    wait_all([st], clock2)
    bl2.daq.stop_run()
    first = int(bl.world.timeline.tag_at(0.0)) + 2
    first -= first % 2
    x = open_archive(data).sync_values("xfel_bl_3_st_2_motor_2/position", 202601,
                                       np.array([first, first + 500, rec.start_tag]))
    assert x[0] == 0.0 and x[1] == 1.0 and x[2] == 0.0  # the new session starts afresh
    bl2.close()


def test_finding_the_profile_does_not_load_the_simulator():
    code = ("import sys; from expctl.devices import BackendRegistry;"
            " BackendRegistry().find_profile('bl3');"
            " print(sorted(m for m in ('sim.world', 'sim.beamline', 'numpy', 'numba')"
            " if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=60)
    assert out.stdout.strip() == "[]"


def test_sync_db_replays_each_point_of_a_step_scan_across_buffer_flushes(beamline, monkeypatch):
    """The state recorder keeps closed intervals as numbers and changed commands, and makes
    the time line's rows when it flushes (also when its buffer fills mid-scan): every
    point's shot carries that point's motor position and attenuator."""
    from sim.facility import states

    monkeypatch.setattr(states, "_BUFFERED", 7)  # several buffer-full flushes in the scan
    clock, theta = beamline.clock, beamline.devices["theta"]
    attenuator = beamline.devices["attenuator"]
    tags, want = [], []
    for k in range(40):
        wait_all([theta.set(11.40 + 0.001 * k)], clock)
        if k % 3 == 0:
            wait_all([attenuator.set(25.0 * (k % 4))], clock)
        wait_all([beamline.devices["pd_i0"].trigger(1)], clock)
        tags.append(beamline.world.timeline.tag_at(clock.now()))
        want.append((theta.position, attenuator.read()["attenuator"]))
    beamline.close()  # flushes the last rows
    tags = np.asarray(tags)
    got_theta = beamline.archive.sync_values(THETA, 202601, tags)
    got_att = beamline.archive.sync_values("xfel_bl_3_st_2_att_1/thickness", 202601, tags)
    assert got_theta.tolist() == [w[0] for w in want]
    assert got_att.tolist() == [float(w[1]) for w in want]
