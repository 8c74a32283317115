"""A short run of the chaos benchmark (benchmarks/chaos_campaign.py): campaigns killed with
``kill -9`` at random moments, in runs and resumes, then checked.  Slow: minutes."""

from __future__ import annotations

import importlib.util
import random
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _chaos():
    spec = importlib.util.spec_from_file_location("chaos_campaign",
                                                  ROOT / "benchmarks" / "chaos_campaign.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_random_kills_keep_the_campaigns_runs_and_spots(tmp_path) -> None:
    chaos = _chaos()
    figures = chaos.run_chaos(tmp_path / "data", 8, random.Random(7), speed=8.0, max_wait=10.0)
    assert figures["failed_commands"] == [] and figures["kills"] == 8
    assert figures["kills_in_run"] + figures["kills_in_resume"] >= 6  # most land live
    result = chaos.check(tmp_path / "data", chaos._expected())
    assert result["problems"] == []
    assert result["runs_kept"] == 16 * figures["campaigns"]
