"""The engine waits for statuses that hardware finishes from another thread (an EPICS put
completing), on a wall clock and on a virtual one, instead of sleeping to their timeout."""

from __future__ import annotations

import threading
import time

import pytest

from expctl.clock import VirtualClock, WallClock
from expctl.devices import Status
from expctl.engine import Engine
from expctl.errors import DeviceError
from expctl.plans.actions import Move
from expctl.testing import make_fake_beamline


class _HardwareMotor:
    """Wraps a fake motor: its moves complete by a callback 20 ms (wall) later."""

    def __init__(self, motor, clock, error=None) -> None:
        self._motor = motor
        self._clock = clock
        self.error = error
        self.name, self.units, self.limits = motor.name, motor.units, motor.limits
        self.access, self.safe_value = motor.access, None

    @property
    def position(self) -> float:
        return self._motor.position

    def check_value(self, value):
        self._motor.check_value(value)

    def set(self, value) -> Status:
        status = Status(self.name, self._clock.now(), timeout=100.0)

        def complete() -> None:
            time.sleep(0.02)
            self._motor.set(value)
            status.finish(self.error, at=self._clock.now())
        threading.Thread(target=complete, daemon=True).start()
        return status

    def read(self):
        return self._motor.read()

    def describe(self):
        return self._motor.describe()


@pytest.mark.parametrize("clock", [WallClock(speed=10.0), VirtualClock()],
                         ids=["wall", "virtual"])
def test_a_move_finished_by_hardware_completes_when_it_does(clock):
    bl = make_fake_beamline(clock)
    bl.devices["theta"] = _HardwareMotor(bl.devices["theta"], clock)
    engine = Engine(bl)
    t0 = clock.now()
    engine.run(action for action in [Move({"theta": 11.41})])
    assert bl.devices["theta"].position == pytest.approx(11.41)
    assert clock.now() - t0 < 100.0  # not the status timeout


def test_a_failure_reported_by_hardware_fails_the_action():
    clock = WallClock(speed=10.0)
    bl = make_fake_beamline(clock)
    bl.devices["theta"] = _HardwareMotor(bl.devices["theta"], clock,
                                         DeviceError("theta: the IOC refused the move"))
    with pytest.raises(DeviceError, match="the IOC refused the move"):
        Engine(bl).run(action for action in [Move({"theta": 11.41})])
