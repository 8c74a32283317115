"""Shared fixtures: everything on a virtual clock, every file under tmp_path, seeded RNGs."""

from __future__ import annotations

import signal
import threading
import zlib

import numpy as np
import pytest

from expctl.clock import VirtualClock


@pytest.fixture
def clock() -> VirtualClock:
    return VirtualClock()


@pytest.fixture
def rng(request: pytest.FixtureRequest) -> np.random.Generator:
    """A generator seeded from the test's name, so every test is reproducible on its own."""
    seed = zlib.crc32(request.node.nodeid.encode())
    return np.random.default_rng(seed)


@pytest.fixture(autouse=True)
def _no_leaked_threads():
    """Fail a test that leaves threads running behind it."""
    before = set(threading.enumerate())
    yield
    leaked = [t for t in threading.enumerate() if t not in before and t.is_alive()
              and not t.daemon]
    assert not leaked, f"test leaked threads: {leaked}"


@pytest.fixture(autouse=True)
def _data_dir(tmp_path, monkeypatch):
    """Point the default data directory into tmp_path so no test writes to the checkout."""
    monkeypatch.setenv("EXPCTL_DATA_DIR", str(tmp_path / "expctl-data"))


@pytest.fixture(autouse=True)
def _sigint_handler_restored():
    """Tests that run an event loop or a Ctrl-C handler must not leave theirs installed."""
    before = signal.getsignal(signal.SIGINT)
    yield
    signal.signal(signal.SIGINT, before)
