"""Fixtures for sequence tests: the bl3 stand-in profile and paths to the test data."""

from __future__ import annotations

from pathlib import Path

import pytest

from expctl.devices.profile import Profile, load_profile

DATA = Path(__file__).resolve().parents[2] / "data"
SEQUENCES = Path(__file__).resolve().parents[3] / "sequences"


@pytest.fixture(scope="session")
def profile() -> Profile:
    """tests/data/profiles/bl3-mini.yaml: bl3's names, limits tighter in places."""
    return load_profile(DATA / "profiles" / "bl3-mini.yaml")
