"""The fake beamline the engine tests drive, and an engine that records every event."""

from __future__ import annotations

import pytest

from expctl.engine import Engine, EventBus
from expctl.testing import make_fake_beamline


@pytest.fixture
def bl(clock):
    return make_fake_beamline(clock, velocity=1.0)


def recording_engine(bl, **kw):
    """An engine on ``bl`` and the list its bus fills with every event it publishes."""
    bus = EventBus()
    events: list = []
    bus.subscribe(events.append)
    return Engine(bl, bus=bus, **kw), events
