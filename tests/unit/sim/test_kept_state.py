"""State kept between command changes (one-shot state, state time line) equals re-reading it."""

from __future__ import annotations

import numpy as np
import pytest

from expctl.devices import wait_all
from expctl.errors import DeviceTimeoutError

ATT = "xfel_bl_3_st_2_att_1/thickness"
THETA = "xfel_bl_3_st_2_motor_1/position"


def _sampled(world, t):
    """The state of a shot at ``t`` from every device's command (the general path)."""
    return world.role_map.state(world.commands(), [t], True)


def test_one_shot_state_equals_sampling_every_command(beamline, settle):
    world, clock = beamline.world, beamline.clock
    theta = beamline.devices["theta"]
    t0 = clock.now()
    status = theta.set(11.45)  # 1 s move at 0.05 deg/s
    mid = world.state(np.array([t0 + 0.5]))
    assert mid == _sampled(world, t0 + 0.5) and 11.4 < mid.theta_deg < 11.45
    clock.sleep_until(status.completion_time())
    now = clock.now()
    kept = world.state(np.array([now]))
    assert kept == _sampled(world, now) and kept.theta_deg == 11.45
    assert world.state(np.array([now + 1.0])) is kept  # nothing changed: the same state
    settle(beamline, attenuator=100, xray_shutter="open", pd_gain="high")
    now = clock.now()
    after = world.state(np.array([now]))
    assert after == _sampled(world, now)
    assert (after.thickness_um, after.shutter_open, after.theta_deg) == (100.0, True, 11.45)


def test_a_change_announced_but_not_made_is_not_kept(beamline, settle):
    """A timed-out attenuator announces a change and keeps its command: the state stays
    right, and the next real change of it is seen."""
    world, clock = beamline.world, beamline.clock
    settle(beamline, attenuator=25)
    beamline.faults.inject("timeout", "attenuator", after=1.0)
    status = beamline.devices["attenuator"].set(100)
    with pytest.raises(DeviceTimeoutError, match="did not respond"):
        wait_all([status], clock)
    now = clock.now()
    assert world.state(np.array([now])) == _sampled(world, now)
    assert world.state(np.array([now])).thickness_um == 25.0
    settle(beamline, attenuator=75)
    assert world.state(np.array([clock.now()])).thickness_um == 75.0


def test_state_time_line_holds_every_change_including_announced_ones(beamline, settle):
    """The archive's attenuator and theta between runs follow the devices, through a
    timed-out change, two changes at one moment and a move."""
    clock = beamline.clock
    rec1, st = beamline.daq.start_run(2)
    wait_all([st], clock)
    beamline.daq.stop_run()
    settle(beamline, attenuator=25)
    t_att = clock.now()
    clock.sleep(1.0)
    beamline.faults.inject("timeout", "attenuator", after=1.0)
    with pytest.raises(DeviceTimeoutError, match="did not respond"):
        wait_all([beamline.devices["attenuator"].set(100)], clock)
    clock.sleep(1.0)
    t_both = clock.now()
    wait_all([beamline.devices["attenuator"].set(50), beamline.devices["theta"].set(11.42)],
             clock)
    clock.sleep(1.0)
    rec2, st = beamline.daq.start_run(2)
    wait_all([st], clock)
    beamline.daq.stop_run()
    arch = beamline.archive
    end1, start2 = arch.run_record(3, rec1.run).end_tag, arch.run_record(3, rec2.run).start_tag
    between = np.arange(end1 + 2, start2, 2)
    times = beamline.world.timeline.time_of(between)
    att = arch.sync_values(ATT, 202601, between)
    assert np.all(att[(times > t_att) & (times < t_both)] == 25.0)  # the timed-out 100 never
    assert np.all(att[times > t_both + 1.0] == 50.0)  # transit 1 s
    theta = arch.sync_values(THETA, 202601, between)
    assert np.all(theta[times < t_both] == 11.4)
    assert np.all(theta[times > t_both + 0.5] == pytest.approx(11.42))
