"""Statuses finished by hardware callbacks: waited for, not slept through; combined safely."""

from __future__ import annotations

import threading
import time

import pytest

from expctl.clock import VirtualClock, WallClock
from expctl.devices import Status, wait_all
from expctl.devices.status import all_of
from expctl.errors import DeviceError


def _finish_later(status: Status, clock, error=None, delay: float = 0.02) -> threading.Thread:
    def run():
        time.sleep(delay)
        status.finish(error, at=clock.now())
    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def test_wait_all_waits_for_the_callback_not_for_the_timeout():
    clock = WallClock()
    status = Status("motor", clock.now(), timeout=30.0)
    _finish_later(status, clock)
    wait_all([status], clock)
    assert not status.pending and status.deadline < status.started + 30.0
    assert clock.now() < 30.0  # (it used to sleep until the timeout)


def test_a_callback_added_after_the_finish_runs_at_once():
    status = Status("motor", 0.0, timeout=5.0)
    status.finish(None, at=1.0)
    seen = []
    status.add_callback(seen.append)
    assert seen == [status]


def test_callbacks_race_with_a_finish_from_another_thread_and_run_exactly_once():
    for _ in range(200):
        status = Status("motor", 0.0, timeout=5.0)
        seen: list[Status] = []
        thread = threading.Thread(target=status.finish, kwargs={"at": 0.5})
        thread.start()
        status.add_callback(seen.append)
        thread.join()
        assert seen == [status]


def test_all_of_known_deadlines_is_the_latest_with_the_first_error():
    boom = DeviceError("stalled")
    combined = all_of("delay", [Status("a", 0.0, 2.0), Status("b", 0.0, 3.0, error=boom)], 0.0)
    assert combined.deadline == 3.0 and combined.error is boom


def test_all_of_hardware_statuses_finishes_with_the_last_of_them():
    clock = WallClock()
    parts = [Status("a", clock.now(), timeout=10.0), Status("b", clock.now(), timeout=10.0)]
    combined = all_of("delay", parts, clock.now())
    assert combined.pending
    _finish_later(parts[0], clock, delay=0.01)
    _finish_later(parts[1], clock, DeviceError("b stalled"), delay=0.03)
    with pytest.raises(DeviceError, match="b stalled"):
        wait_all([combined], clock)
    assert combined.deadline == pytest.approx(max(p.deadline for p in parts))


def test_a_virtual_clock_waits_for_a_callback_status_too():
    clock = VirtualClock()
    status = Status("motor", 0.0, timeout=100.0)
    _finish_later(status, clock)
    wait_all([status], clock)
    assert clock.now() == 0.0  # finished at once in virtual time, not at the timeout
