"""Public test helpers: fake devices and beamline on a virtual clock, a plan recorder.

Synthetic data with known truth for tests and benchmarks lives in the
submodules :mod:`~expctl.testing.synthetic_data` (rocking curves, MPCCD frames,
octal geometry) and :mod:`~expctl.testing.synthetic_events` (engine events of a
pump–probe campaign).  Runtime code never imports this package.
"""

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
