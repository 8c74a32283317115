"""Deferred detector readings: computed only when looked at, and then the same numbers as
if they had been looked at straight away (state, damage and noise frozen at read time)."""

from __future__ import annotations

from expctl.clock import VirtualClock
from expctl.devices import AccessLevel, wait_all
from expctl.devices.deferred import DeferredReading
from expctl.engine import Engine
from expctl.plans.actions import Move, Read, Request, Trigger
from sim.backend import SimBackend
from sim.world import BeamShot

DETECTORS = ("mpccd", "pd_i0")


def _beamline(profile, tmp_path, name):
    clock = VirtualClock()
    bl = SimBackend().connect(profile, clock, data_dir=tmp_path / name)
    grid = next(iter(bl.spot_grids))
    bl.mount_sample(grid, "crystal")
    wait_all([bl.devices["xray_shutter"].set("open"), bl.devices["attenuator"].set(1750),
              bl.devices["pd_gain"].set("high")], clock)
    return bl


def _scan(look: bool):
    """A theta scan across the Bragg peak with pumped points in the middle (they damage
    the spot, so the unpumped shots after them depend on them); ``look``: read each
    reading's values at once, else keep the readings as they come."""
    readings = []
    for k in range(40):
        if k in (10, 20):
            yield Request("pump", "on" if k == 10 else "off")
        yield Move({"theta": 11.400 + 0.0002 * k})
        yield Trigger(DETECTORS, 1 + k % 3)
        reading = yield Read((*DETECTORS, "theta"))
        readings.append(dict(reading) if look else reading)
    return readings


def _run(bl, look):
    engine = Engine(bl, access=AccessLevel.ACCELERATOR)
    return engine.run(_scan(look)).value


def test_readings_nobody_looks_at_are_not_computed(profile, tmp_path):
    bl = _beamline(profile, tmp_path, "a")
    wait_all([bl.devices["mpccd"].trigger(5)], bl.clock)
    reading = bl.devices["mpccd"].read()
    assert isinstance(reading, DeferredReading) and not reading.resolved
    assert set(reading) == {"mpccd.roi0", "mpccd.roi1", "mpccd.nphot"}
    assert bl.world.latest_window().data is None  # no shot computed yet
    assert reading["mpccd.nphot"] >= 0 and reading.resolved
    bl.close()


def test_values_looked_at_later_equal_values_looked_at_at_once(profile, tmp_path):
    eager = _run(_beamline(profile, tmp_path, "eager"), look=True)
    bl = _beamline(profile, tmp_path, "deferred")
    kept = _run(bl, look=False)
    # another sample mounted, more shots taken: the kept readings are of their own shots
    bl.mount_sample(next(iter(bl.spot_grids)), "another")
    wait_all([bl.devices["theta"].set(11.41), bl.devices["mpccd"].trigger(3)], bl.clock)
    assert [dict(r) for r in kept] == eager
    signal = [r["mpccd.roi0"] for r in eager]
    assert len(set(signal)) == len(signal)  # (the scan did take real, varying shots)
    bl.close()


def test_beam_status_is_read_without_computing_shots(profile, tmp_path):
    """A beam suspender polls the status at every checkpoint: it costs no shot physics,
    and the pulse energy looked at later is that of the shot current at the read."""
    bl = _beamline(profile, tmp_path, "beam")
    eager = dict(bl.devices["beam"].read())
    assert eager["beam"] == 1.0
    bl.clock.sleep(1.0)
    reading = bl.devices["beam"].read()
    assert reading["beam"] == 1.0 and not reading.resolved
    assert bl.world.latest_window().data is None
    bl.clock.sleep(1.0)
    twin = _beamline(profile, tmp_path, "beam-eager")
    twin.clock.sleep(1.0)
    assert dict(reading) == dict(twin.devices["beam"].read())
    assert reading["beam.pulse_energy"] != eager["beam.pulse_energy"]  # another shot
    bl.close()
    twin.close()


def test_pulse_energy_of_the_latest_shot_needs_no_device_state_and_is_the_same(profile,
                                                                              tmp_path):
    """A suspender reads the beam monitor at every checkpoint, often while an axis moves:
    the latest shot's pulse energy comes from its tag, beam and pump alone, and is the
    value the full shot model gives that shot (pump on and off, mid-move, beam lost)."""
    bl = _beamline(profile, tmp_path, "beam")
    world, beam = bl.world, bl.devices["beam"]

    def both() -> tuple[float, float]:
        assert isinstance(world.latest_beam(), BeamShot)  # no window made, no state frozen
        value = beam.read()["beam.pulse_energy"]
        return value, world.shots_of(world.latest_window()).mean("beam/pulse_energy")

    seen = []
    for pump in ("off", "on"):
        wait_all([bl.devices["pump"].request(pump, AccessLevel.ACCELERATOR)], bl.clock)
        bl.clock.sleep(0.1)
        seen.append(both())
        bl.devices["theta"].set(11.5)  # moving: the full state samples the trajectory
        bl.clock.sleep(0.05)
        seen.append(both())
        bl.clock.sleep(5.0)
    bl.faults.inject("beam_loss", duration=1.0)
    bl.clock.sleep(0.1)
    seen.append(both())
    assert [a for a, _ in seen] == [b for _, b in seen]
    assert seen[-1][0] == 0.0 and seen[0][0] > 0 and len({a for a, _ in seen}) == 5
    bl.close()


def test_pulse_energy_after_an_acquisition_is_its_mean(profile, tmp_path):
    bl = _beamline(profile, tmp_path, "acq")
    wait_all([bl.devices["pd_i0"].trigger(7)], bl.clock)
    value = bl.devices["beam"].read()["beam.pulse_energy"]
    assert value == bl.world.latest_shots().mean("beam/pulse_energy")
    assert bl.world.latest_shots().n == 7
    bl.close()
