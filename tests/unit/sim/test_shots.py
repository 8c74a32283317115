"""Shot data: reproducibility from the seed, damage, and the pump response it carries."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from expctl.clock import VirtualClock
from expctl.devices import wait_all
from sim.backend import SimBackend
from sim.truth import ground_truth, spot_peak_theta


def _session(profile, tmp_path, name, seed=None):
    clock = VirtualClock()
    bl = SimBackend().connect(profile, clock, data_dir=tmp_path / name, seed=seed)
    wait_all([bl.devices["xray_shutter"].set("open"), bl.devices["attenuator"].set(1750),
              bl.devices["pd_gain"].set("high"), bl.devices["theta"].set(11.4044)], clock)
    rec, st = bl.daq.start_run(50)
    clock.sleep(0.7)
    first = bl.daq.collect()  # block boundaries must not matter
    wait_all([st], clock)
    rest = bl.daq.collect()
    bl.daq.stop_run()
    return {k: np.concatenate([first.data[k], rest.data[k]]) for k in first.data}


def test_same_seed_same_data_different_seed_different(profile, tmp_path):
    a = _session(profile, tmp_path, "a")
    b = _session(profile, tmp_path, "b")
    c = _session(profile, tmp_path, "c", seed=7)
    for key in a:
        assert np.array_equal(a[key], b[key]), key
    assert np.array_equal(a["tag"], c["tag"])
    assert not np.allclose(a["pd_i0"], c["pd_i0"])
    assert not np.allclose(a["mpccd/ROI_0_sum"], c["mpccd/ROI_0_sum"])


def _ratio(bl, shots):
    det, pd = bl.devices["mpccd"], bl.devices["pd_i0"]
    wait_all([det.trigger(shots), pd.trigger(shots)], bl.clock)
    return det.read()["mpccd.roi0"] / pd.read()["pd_i0"]


def _pumped_shot(bl):
    """One pumped shot as the canonical procedure takes it: 5x the reference flux, I0 on the
    mid range; returned with the I0 calibrated back to the high range's scale."""
    wait_all([bl.devices["pump"].request("on"), bl.devices["attenuator"].set(1550),
              bl.devices["pd_gain"].set("mid")], bl.clock)
    rec, st = bl.daq.start_run(1, label="pumped")
    wait_all([st], bl.clock)
    block = bl.daq.collect()
    bl.daq.stop_run()
    wait_all([bl.devices["pump"].request("off"), bl.devices["attenuator"].set(1750),
              bl.devices["pd_gain"].set("high")], bl.clock)
    truth = ground_truth(bl.profile)
    g, o = truth.i0_gain_error, truth.i0_offset_pc
    block.data["pd_i0"] = (block.data["pd_i0"] - o["mid"]) / g["mid"] * g["high"] + o["high"]
    return block


def _go_to_spot(bl, profile, index):
    x, y = bl.spot_grids["sample"].position(index)
    wait_all([bl.devices["sample_x"].set(x), bl.devices["sample_y"].set(y),
              bl.devices["theta"].set(spot_peak_theta(profile, index))], bl.clock)


def test_a_damaged_spot_reads_differently(beamline, profile, settle):
    settle(beamline, xray_shutter="open", attenuator=1750, pd_gain="high")
    _go_to_spot(beamline, profile, 3)
    before = _ratio(beamline, 100)
    block = _pumped_shot(beamline)
    assert block.data["lightStatus/laser"].tolist() == [1]
    after = _ratio(beamline, 100)
    # profile damage: 25 % of the peak, 4x broader, shifted by 40 urad
    rocking = beamline.world.physics.rocking
    model = 0.25 * 4.0 * rocking(np.array([-40.0]), 4.0)[0] / rocking(np.array([0.0]))[0]
    assert after / before == pytest.approx(model, rel=0.1)
    _go_to_spot(beamline, profile, 4)  # the neighbour is untouched
    assert _ratio(beamline, 100) == pytest.approx(before, rel=0.05)


def test_pumped_shots_carry_the_pump_response(beamline, profile, settle):
    """Mean pumped/unpumped ratio at 1 ps of chicane delay over 30 fresh spots = 1 + EMG."""
    truth = ground_truth(profile, "pump_delay")
    settle(beamline, xray_shutter="open", attenuator=1750, pd_gain="high")
    wait_all([beamline.devices["pump_delay"].request(1.0)], beamline.clock)
    ratios = []
    for spot in range(30):
        _go_to_spot(beamline, profile, 100 + spot)
        ref = _ratio(beamline, 60)
        block = _pumped_shot(beamline)
        ratios.append(block.data["mpccd/ROI_0_sum"][0] / block.data["pd_i0"][0] / ref)
    want = 1.0 + truth.response.expected_response(np.array([1.0]), truth.jitter_rms_ps)[0]
    assert np.mean(ratios) == pytest.approx(want, abs=0.03)
    assert np.std(ratios) < 0.06  # single-shot noise small against |A| = 0.3


def test_a_pumped_trigger_damages_even_if_never_read(beamline, profile, settle):
    settle(beamline, xray_shutter="open", attenuator=1750, pd_gain="high")
    _go_to_spot(beamline, profile, 8)
    before = _ratio(beamline, 60)
    wait_all([beamline.devices["pump"].request("on")], beamline.clock)
    wait_all([beamline.devices["mpccd"].trigger(1)], beamline.clock)  # no read
    wait_all([beamline.devices["pump"].request("off")], beamline.clock)
    assert _ratio(beamline, 60) < 0.4 * before


def test_pumped_shots_turn_on_at_time_zero(beamline, profile, settle):
    """Near time zero each pumped shot carries ``A·f(E)·H·exp`` at the applied delay + its
    own timing error.

    The simulator's side of the time zero reduction recovers: the delay in effect is the
    requested one once applied (minus the split-delay optics' zero offset), the jitter is
    ``σ·z(seed, tag)`` added with a plus sign, the pump energy of the shot sets its
    amplitude, and the pumped shot is not yet damaged by itself.
    """
    from sim.noisebank import STREAM_JITTER
    from sim.physics.rand import normals

    truth = ground_truth(profile, "pump_delay")
    physics = beamline.world.physics
    settle(beamline, xray_shutter="open", attenuator=1750, pd_gain="high")
    rel, delays, jitter, pump_uj = [], [], [], []
    spot = 200
    for delay in (0.25, 0.33, 0.4, 0.5, 0.7):
        wait_all([beamline.devices["pump_delay"].request(delay)], beamline.clock)
        for _ in range(6):
            _go_to_spot(beamline, profile, spot)
            spot += 1
            ref = _ratio(beamline, 60)
            block = _pumped_shot(beamline)
            tags = block.data["tag"]
            rel.append(block.data["mpccd/ROI_0_sum"][0] / block.data["pd_i0"][0] / ref - 1.0)
            delays.append(delay)
            jitter.append(truth.jitter_rms_ps * normals(beamline.world.seed, tags,
                                                        STREAM_JITTER)[0])
            factors = physics.source.factors(beamline.world.model.noise.draw(tags).T)
            pump_uj.append(physics.source.pump_pulse_energy_uj * float(factors[2][0]))
    rel_a, t, j, e = np.array(rel), np.array(delays), np.array(jitter), np.array(pump_uj)

    def rms(t0: float) -> float:
        resp = replace(physics.pump, t0_ps=t0)
        return float(np.sqrt(np.mean((rel_a - resp.per_shot(t + j, e)) ** 2)))

    assert rms(truth.t0_ps) < 0.035  # photon noise of one shot (~2 %) only
    assert rms(truth.t0_ps) < min(rms(truth.t0_ps - 0.05), rms(truth.t0_ps + 0.05))
