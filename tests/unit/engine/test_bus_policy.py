"""The subscriber failure policy: critical consumers stop the engine through the safe state
with a storage error that says what is safe and how to continue; others are reported."""

from __future__ import annotations

import errno

import pytest

from expctl.engine import Engine, EventBus
from expctl.engine.events import RunStarted, RunStopped, ShotBlockTaken, StateChanged
from expctl.errors import AccessError, DataError, DiskFullError, FileTooLargeError, StorageError
from expctl.plans import FaultPolicy, close_shutter, open_shutter, step, take_run
from expctl.testing import make_fake_beamline


def _plan():
    yield from open_shutter()
    yield from step("1", "first run", take_run(30, "reference"))
    yield from step("2", "second run", take_run(30, "pumped"))


def test_a_critical_subscriber_os_error_becomes_a_storage_error_naming_it() -> None:
    bus = EventBus()

    def writer(event):
        raise OSError(errno.ENOSPC, "No space left on device", "/data/runs/bl3/run000001.h5")

    bus.subscribe(writer, name="run writer")
    with pytest.raises(DiskFullError) as err:
        bus.publish(StateChanged("idle", "running", 0.0))
    assert err.value.paragraph() == (
        "cannot record data (run writer) /data/runs/bl3/run000001.h5: No space left on device "
        "(ENOSPC). Free space on the file system holding /data/runs/bl3 (`df -h "
        "/data/runs/bl3` shows it).")


def test_expctl_errors_and_bugs_of_critical_subscribers_pass_unchanged() -> None:
    bus = EventBus()
    denied = AccessError("no")  # a PermissionError too: it must not become a storage error
    bus.subscribe(lambda e: (_ for _ in ()).throw(denied))
    with pytest.raises(AccessError) as err:
        bus.publish(StateChanged("idle", "running", 0.0))
    assert err.value is denied
    bug = EventBus()
    bug.subscribe(lambda e: 1 / 0)
    with pytest.raises(ZeroDivisionError):
        bug.publish(StateChanged("idle", "running", 0.0))


def test_non_critical_failures_are_counted_warnings_and_delivery_goes_on() -> None:
    bus = EventBus()
    seen = []
    bus.subscribe(lambda e: 1 / 0, critical=False, name="plot")
    bus.subscribe(seen.append)
    for t in range(3):
        bus.publish(StateChanged("idle", "running", float(t)))
    assert len(seen) == 3
    (warning,) = bus.warnings
    assert warning.text == ("plot failed on StateChanged: ZeroDivisionError: division by zero "
                            "(3 times)")


def test_first_puts_a_subscriber_before_the_others() -> None:
    bus = EventBus()
    order = []
    bus.subscribe(lambda e: order.append("catalog"))
    bus.subscribe(lambda e: order.append("journal"), first=True)
    bus.publish(StateChanged("idle", "running", 0.0))
    assert order == ["journal", "catalog"]


@pytest.mark.parametrize("fail_on", [RunStarted, ShotBlockTaken, RunStopped])
def test_a_failing_logger_stops_through_the_safe_state_and_closes_the_run(fail_on) -> None:
    bl = make_fake_beamline()
    bus = EventBus()
    events = []
    bus.subscribe(events.append, critical=False)

    def logger(event):
        if isinstance(event, fail_on):
            raise FileTooLargeError("cannot write run file x: File too large (EFBIG)",
                                    path="x", hint="Raise the limit.")

    bus.subscribe(logger, name="run log")
    engine = Engine(bl, bus=bus, safe_state=list(close_shutter()))
    with pytest.raises(FileTooLargeError) as err:
        engine.run(_plan())
    assert err.value.paragraph() == (
        "cannot write run file x: File too large (EFBIG). Data taking stopped and the beamline "
        "was driven to its safe state; runs completed before are kept. Once that is fixed, "
        "repeat the command. Raise the limit.")
    assert bl.devices["xray_shutter"].read()["xray_shutter"] == "closed"
    assert engine.last_summary.outcome == "failed"
    (stopped,) = bl.daq.records  # the DAQ run was ended (the facility's status 0)
    assert stopped.status == 0 and stopped.run == 1
    assert engine.last_summary.runs == () and [r.run for r in engine.last_summary.cut_runs] == [1]
    assert not [e for e in events if isinstance(e, RunStarted) and e.record.run == 2]


def test_a_storage_error_is_not_retried_by_the_fault_policy() -> None:
    bl = make_fake_beamline()
    bus = EventBus()
    calls = []

    def logger(event):
        if isinstance(event, RunStarted):
            calls.append(event.record.run)
            raise DiskFullError("cannot record the start of run 1: the disk is full")

    bus.subscribe(logger)
    engine = Engine(bl, bus=bus)
    retrying = step("1", "", take_run(10), on_fault=FaultPolicy("retry", retries=3))
    with pytest.raises(StorageError):
        engine.run(retrying)
    assert calls == [1]


def test_a_journal_that_fails_at_the_end_does_not_hide_the_real_error() -> None:
    class Journal:
        def completed_step(self, path):
            return None

        def consumed_spots(self, grid):
            return set()

        def handle(self, event):
            if isinstance(event, RunStarted):
                raise DataError("the real problem")

        def finish(self, outcome):
            raise DiskFullError("cannot write campaign journal: the disk is full")

    engine = Engine(make_fake_beamline(), journal=Journal())
    with pytest.raises(DataError, match="the real problem"):
        engine.run(_plan())
