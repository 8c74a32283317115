"""A small synthetic pump–probe campaign logged into tmp_path, shared by the runlog tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from expctl.engine.events import EventBus
from expctl.pump_response import PumpResponse
from expctl.runlog import attach
from expctl.testing.synthetic_events import synthetic_campaign

TRUTH = PumpResponse(amplitude=-0.3, t0_ps=0.23, tau_ps=2.0)
JITTER = 0.1
DELAYS = [-1.0, -0.5, -0.2, 0.0, 0.1, 0.2, 0.3, 0.4, 0.6, 0.8, 1.0, 1.5, 2.0, 3.0, 4.0,
          6.0, 8.0]


def log_events(data_dir: Path, events, smalldata=None) -> None:
    bus = EventBus()
    handle = attach(bus, data_dir, smalldata=smalldata)
    for event in events:
        bus.publish(event)
    handle.close()
    assert not bus.warnings, bus.warnings


@pytest.fixture(scope="session")
def campaign(tmp_path_factory) -> Path:
    """17 delays × 4 spots: a 200-shot reference and 2 pumped shots per spot (read-only)."""
    data_dir = tmp_path_factory.mktemp("campaign") / "data"
    rng = np.random.default_rng(20260115)
    log_events(data_dir, synthetic_campaign(DELAYS, spots_per_delay=4, reference_shots=200,
                                            pumped_shots=2, rng=rng, response=TRUTH,
                                            jitter=JITTER))
    return data_dir
