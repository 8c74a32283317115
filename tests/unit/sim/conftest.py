"""Fixtures: the bl3 profile and a simulated beamline on the virtual clock, files in tmp_path."""

from __future__ import annotations

import pytest

from expctl.devices import Profile, load_profile, wait_all
from sim.backend import PROFILE_DIR, SimBackend
from sim.beamline import SimBeamline


@pytest.fixture(scope="session")
def profile() -> Profile:
    return load_profile(PROFILE_DIR / "bl3.yaml")


@pytest.fixture
def beamline(profile, clock, tmp_path) -> SimBeamline:
    bl = SimBackend().connect(profile, clock, data_dir=tmp_path / "data")
    yield bl
    bl.close()


def _settle(beamline: SimBeamline, **targets) -> None:
    wait_all([beamline.devices[n].set(v) for n, v in targets.items()], beamline.clock)


@pytest.fixture
def settle():
    """``settle(beamline, theta=…, attenuator=…)``: set several devices and wait for all."""
    return _settle
