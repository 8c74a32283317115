"""A put's life without a network: acknowledged, completed, verified — or a bounded failure.

The channels are stand-ins with the surface :class:`~expctl.epics.actions.PutAction`
uses; the IOC's behaviour (echo, completion, readback) is scripted per test.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest

from expctl.clock import WallClock
from expctl.devices import wait_all
from expctl.epics.actions import PutAction, error_class, explainer
from expctl.epics.link import Link, Watchdog
from expctl.epics.wiring import EpicsSettings
from expctl.errors import (
    BeamLossError,
    DeviceError,
    DisconnectedError,
    ExpctlError,
    RequestRefusedError,
)


class Stand:
    """A channel stand-in: a value, puts answered as the test scripts it."""

    def __init__(self, name: str, value: Any, *, monitor: bool = True) -> None:
        self.name, self.value, self.monitor, self.connected = name, value, monitor, True
        self.stamp = 1.0
        self.record: tuple[Any, float] | None = None  # taken by the IOC, no monitor posted
        self.completions: list[Callable[[ExpctlError | None], None]] = []
        self.watchers: list[tuple[Callable[[Any], bool], Callable[[], None]]] = []

    def take(self, value: Any, *, posted: bool = True) -> None:
        """The IOC takes a put: the record holds ``value`` stamped now; a monitor says so
        (unless ``posted`` is false: then only a read shows it)."""
        if posted:
            self.value, self.stamp = value, self.stamp + 1.0
        else:
            self.record = (value, self.stamp + 1.0)

    def put(self, value: Any, on_done, *, timeout) -> None:
        if not self.connected:
            raise DisconnectedError(f"{self.name} is disconnected")
        self.completions.append(on_done)

    def get_async(self, timeout: float, on_value: Callable[[Any], None]) -> None:
        if self.record is not None:
            (self.value, self.stamp), self.record = self.record, None
        on_value(self.value)

    def watch(self, predicate, callback):
        self.watchers.append((predicate, callback))
        return lambda: None

    def update(self, value: Any) -> None:
        """A monitor arrives."""
        self.value = value
        for predicate, callback in list(self.watchers):
            if predicate(value):
                self.watchers.remove((predicate, callback))
                callback()


@pytest.fixture
def link():
    dog = Watchdog()
    yield Link(None, WallClock(), EpicsSettings(ack_timeout=0.05, verify_timeout=0.1), dog)
    dog.close()


def _action(link, setpoint, readback, *, trailing=False, message=None, error=None,
            default=DeviceError):
    return PutAction(link, "theta", setpoint, 11.5, timeout=30.0, readback=readback,
                     tolerance=1e-6, trailing=trailing,
                     explain=explainer(link, "theta", message, error, default))


def test_completed_and_verified(link):
    setpoint, readback = Stand("M.VAL", 11.4), Stand("M.RBV", 11.4)
    action = _action(link, setpoint, readback)
    setpoint.take(11.5)
    readback.value = 11.5
    setpoint.completions[0](None)
    wait_all([action.status], link.clock)
    assert action.status.error is None


def test_a_refusal_carries_the_iocs_message_and_error_class(link):
    setpoint, readback = Stand("M.VAL", 11.4), Stand("M.RBV", 11.4)
    message = Stand("M:MSG", "theta is disabled (DISP = 1)", monitor=False)
    kind = Stand("M:ERR", "MotorStallError", monitor=False)
    action = _action(link, setpoint, readback, message=message, error=kind)
    setpoint.completions[0](ExpctlError("ECA_PUTFAIL"))
    with pytest.raises(DeviceError) as err:
        wait_all([action.status], link.clock)
    assert type(err.value).__name__ == "MotorStallError"
    assert err.value.message == ("theta is disabled (DISP = 1) (the IOC refused M.VAL = 11.5 "
                                 "(ECA_PUTFAIL))")


def test_a_put_neither_echoed_nor_completed_fails_after_the_ack_timeout(link):
    setpoint, readback = Stand("M.VAL", 11.4), Stand("M.RBV", 11.4)
    action = _action(link, setpoint, readback)
    with pytest.raises(DeviceError, match=r"did not act on M.VAL = 11.5 within 0.05 s \(it "
                                          r"still reads 11.4\)"):
        wait_all([action.status], link.clock)


def test_an_echoed_put_is_not_failed_by_the_ack_timeout(link):
    setpoint, readback = Stand("M.VAL", 11.4), Stand("M.RBV", 11.4)
    action = _action(link, setpoint, readback)
    setpoint.take(11.5)  # accepted, moving
    threading.Timer(0.15, lambda: (readback.update(11.5), setpoint.completions[0](None))).start()
    wait_all([action.status], link.clock)
    assert action.status.error is None


def test_a_put_of_the_value_it_holds_that_is_ignored_fails_after_the_ack_timeout(link):
    """No echo can show an unchanged value taken: the record's timestamp does."""
    setpoint, readback = Stand("M.VAL", 11.5), Stand("M.RBV", 11.4)
    action = _action(link, setpoint, readback)
    with pytest.raises(DeviceError, match=r"did not act on M.VAL = 11.5 within 0.05 s \(it "
                                          r"still reads 11.5\)"):
        wait_all([action.status], link.clock)


@pytest.mark.parametrize("posted", [True, False], ids=["monitor", "read"])
def test_a_put_of_the_value_it_holds_that_is_taken_is_not_failed(link, posted):
    """Taken (stamped) but not complete yet: seen by its monitor, or by a read if the
    record posts none for an unchanged value."""
    setpoint, readback = Stand("M.VAL", 11.5), Stand("M.RBV", 11.4)
    action = _action(link, setpoint, readback)
    setpoint.take(11.5, posted=posted)
    threading.Timer(0.2, lambda: (readback.update(11.5), setpoint.completions[0](None))).start()
    wait_all([action.status], link.clock)
    assert action.status.error is None


def test_a_completion_whose_readback_differs_fails_at_once(link):
    setpoint, readback = Stand("M.VAL", 11.4), Stand("M.RBV", 11.4)
    action = _action(link, setpoint, readback)
    setpoint.take(11.5)
    setpoint.completions[0](None)
    with pytest.raises(DeviceError, match="M.RBV reads 11.4 after the put of 11.5 to M.VAL"):
        wait_all([action.status], link.clock)


def test_a_trailing_readback_is_waited_for_within_the_verify_timeout(link):
    setpoint, readback = Stand("S", "closed"), Stand("S_RBV", "closed")
    action = PutAction(link, "xray_shutter", setpoint, "open", timeout=30.0, readback=readback,
                       trailing=True, explain=explainer(link, "xray_shutter", None, None,
                                                        DeviceError))
    setpoint.take("open")
    setpoint.completions[0](None)
    assert action.status.pending
    readback.update("open")
    wait_all([action.status], link.clock)
    assert action.status.error is None


def test_a_disconnect_before_completion_is_a_disconnected_error(link):
    setpoint, readback = Stand("M.VAL", 11.4), Stand("M.RBV", 11.4)
    action = _action(link, setpoint, readback)
    setpoint.completions[0](DisconnectedError("M.VAL disconnected before its put completed"))
    with pytest.raises(DisconnectedError):
        wait_all([action.status], link.clock)
    setpoint.connected = False
    with pytest.raises(DisconnectedError):
        wait_all([_action(link, setpoint, readback).status], link.clock)


def test_error_classes_the_ioc_may_name():
    assert error_class("BeamLossError", DeviceError) is BeamLossError
    assert error_class("RequestRefusedError", DeviceError) is RequestRefusedError
    assert error_class("", RequestRefusedError) is RequestRefusedError
    assert error_class("IllegalCommand", DeviceError) is DeviceError  # not a device failure
    assert error_class("os.system", DeviceError) is DeviceError
