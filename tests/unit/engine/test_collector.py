"""The heap is frozen while a plan runs and given back after, however the plan ends."""

from __future__ import annotations

import gc

import pytest

from expctl.clock import VirtualClock
from expctl.engine import Engine
from expctl.engine.collector import heap_frozen
from expctl.errors import ExpctlError
from expctl.plans.actions import Sleep
from expctl.testing import make_fake_beamline


def test_the_heap_is_frozen_inside_and_unfrozen_after_even_on_error():
    assert gc.get_freeze_count() == 0
    with heap_frozen():
        assert gc.get_freeze_count() > 0
    assert gc.get_freeze_count() == 0
    with pytest.raises(ExpctlError), heap_frozen():
        raise ExpctlError("plan failed")
    assert gc.get_freeze_count() == 0


def test_a_heap_frozen_by_someone_else_stays_frozen():
    gc.freeze()
    try:
        frozen = gc.get_freeze_count()
        with heap_frozen(), heap_frozen():
            pass
        assert gc.get_freeze_count() == frozen
    finally:
        gc.unfreeze()


def test_a_plan_runs_with_the_heap_frozen():
    seen = []

    def plan():
        seen.append(gc.get_freeze_count() > 0)
        yield Sleep(1.0)

    bl = make_fake_beamline(VirtualClock())
    Engine(bl).run(plan())
    assert seen == [True] and gc.get_freeze_count() == 0
