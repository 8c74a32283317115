"""Public test helpers: fake devices and beamline on a virtual clock, a plan recorder."""

from expctl.testing.fakes import (
    FakeAccelParam,
    FakeBeam,
    FakeBeamline,
    FakeDAQ,
    FakeDetector,
    FakeFaults,
    FakeMonitor,
    FakeMotor,
    FakeSwitch,
    make_fake_beamline,
)
from expctl.testing.recorder import Recording, record_plan

__all__ = [
    "FakeAccelParam", "FakeBeam", "FakeBeamline", "FakeDAQ", "FakeDetector", "FakeFaults",
    "FakeMonitor", "FakeMotor", "FakeSwitch", "Recording", "make_fake_beamline", "record_plan",
]
