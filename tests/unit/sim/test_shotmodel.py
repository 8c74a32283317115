"""The shot model's fast paths give the same numbers as the general ones."""

from __future__ import annotations

import copy

import numpy as np
import pytest

from expctl.devices import wait_all
from sim.physics.rand import poisson_from, uniforms
from sim.shotstate import ShotState


def test_noise_bank_rows_equal_direct_draws_however_cut(beamline):
    bank = beamline.world.model.noise
    span = 2 * bank.BLOCK
    tags = np.arange(5 * span - 40, 5 * span + 40, 2, dtype=np.int64)  # across a block edge
    direct = bank.draw(tags)
    assert np.array_equal(bank.rows(tags), direct)
    for lo in range(0, len(tags), 7):
        assert np.array_equal(bank.rows(tags[lo:lo + 7]), direct[lo:lo + 7])
    odd = tags[[3, 1, 30]]  # any tags in any order
    assert np.array_equal(bank.rows(odd), direct[[3, 1, 30]])
    for k in (0, 19, 20, 39):  # one shot as numbers: the same bits, on either side of the edge
        assert bank.one(int(tags[k])) == direct[k].tolist()
    assert bank.one(int(tags[5]) + 1) == bank.draw(tags[5:6] + 1)[0].tolist()  # not a beam tag


@pytest.mark.parametrize("lam", [0.0, 0.3, 5.0, 40.0, 63.99, 64.0, 900.0])
def test_poisson_paths_agree_entry_by_entry(lam):
    tags = np.arange(6000)
    u1 = uniforms(4, tags[:, None], np.arange(3))
    u2 = uniforms(4, tags[:, None], np.arange(3) + 10)
    means = np.full((6000, 3), lam) * np.array([1.0, 0.5, 0.01])
    whole = poisson_from(u1, u2, means)  # masked path (18 000 entries)
    dense = np.concatenate([poisson_from(u1[i:i + 400], u2[i:i + 400], means[i:i + 400])
                            for i in range(0, 6000, 400)])  # one dense table per chunk
    few = np.concatenate([poisson_from(u1[i:i + 1], u2[i:i + 1], means[i:i + 1])
                          for i in range(0, 600)])  # plain loop per shot
    assert np.array_equal(whole, dense) and np.array_equal(whole[:600], few)
    if lam:
        assert whole[:, 0].mean() == pytest.approx(lam, rel=0.05)


def test_one_shot_reads_equal_the_run_data_of_the_same_tags(beamline, settle):
    """A trigger's shot is the run's shot of the same tag (same seed, tag and state)."""
    settle(beamline, xray_shutter="open", attenuator=100, pd_gain="high")
    det, pd = beamline.devices["mpccd"], beamline.devices["pd_i0"]
    clock = beamline.clock
    t0 = clock.now()
    reads = []
    for _ in range(5):
        wait_all([det.trigger(1), pd.trigger(1)], clock)
        reads.append((det.read()["mpccd.roi0"], pd.read()["pd_i0"]))
    world = beamline.world
    tags = world.timeline.beam_tags_after(t0, 5)
    shots = world.shots(world.timeline.time_of(tags), tags, acquired=False)
    assert [r[1] for r in reads] == shots["pd_i0"].tolist()
    again = world.shots(world.timeline.time_of(tags), tags, acquired=True)
    assert [r[0] for r in reads] == again["mpccd/ROI_0_sum"].tolist()


def test_reads_follow_state_changes(beamline, settle):
    settle(beamline, xray_shutter="open", attenuator=1200, pd_gain="low")
    pd = beamline.devices["pd_i0"]
    wait_all([pd.trigger(30)], beamline.clock)
    bright = pd.read()["pd_i0"] - 0.5  # the low range's offset
    settle(beamline, attenuator=1400)
    wait_all([pd.trigger(30)], beamline.clock)
    dim = pd.read()["pd_i0"] - 0.5
    # exp(-200/127.2) = 0.208; different shots, so SASE/mono noise of 30-shot means (~11 %)
    assert dim / bright == pytest.approx(np.exp(-200 / 127.2), rel=0.35)
    assert bright == pytest.approx(11.5 * np.exp(-1200 / 127.2) * 38984, rel=0.3)


@pytest.mark.parametrize("case", ["bright", "pumped", "dark", "off_peak"])
def test_one_shot_path_gives_the_bits_of_the_array_path(beamline, case):
    """Shots one by one (plain floats) equal the same shots in one block, every column,
    including damage done by earlier pumped shots and the pump response."""
    world = beamline.world
    model, tl = world.model, world.timeline
    theta = model.bragg(10.0)[0] + (0.004 if case == "off_peak" else 0.0)
    state = ShotState(beam_on=True, shutter_open=case != "dark", pump_on=case == "pumped",
                      energy_kev=10.0, thickness_um=1600.0, gain=1.0,
                      theta_deg=theta, x_mm=1.0, y_mm=2.0, delay_ps=0.6)
    tags = tl.beam_tags_after(3.0, 40)
    times = tl.time_of(tags)
    block = model.shots(tags, times, state, acquired=True,
                        plate=copy.deepcopy(world.plate)).materialise()
    plate = copy.deepcopy(world.plate)
    singles = [model.shots(tags[i:i + 1], times[i:i + 1], state, acquired=True, plate=plate)
               for i in range(len(tags))]
    means = [s.mean("mpccd/ROI_0_sum") for s in singles]
    assert means == block["mpccd/ROI_0_sum"].tolist()
    if case == "pumped":
        assert block["_damaged"][0] == 0 and block["_damaged"][1:].all()
    for key, col in block.items():
        one = np.concatenate([s.materialise()[key] for s in singles])
        assert one.dtype == col.dtype, key
        assert np.array_equal(one, col), key
