"""A put to a device as a :class:`~expctl.devices.status.Status`: sent, acknowledged,
completed, verified by readback — or failed with a clear error within a bounded time.

The failure modes of a real control system and how each ends:

=====================================  =============================================
what happens                           the status fails …
=====================================  =============================================
the IOC refuses (failed completion)    at once, with the IOC's reason (``:MSG``)
the IOC neither takes nor completes    after ``ack_timeout`` ("did not act on"), also
                                       when the value put equals the one it holds
it completes but the readback differs  at once for motor records (their readback is
                                       final at completion), after ``verify_timeout``
                                       for others (a readback may trail its setpoint)
the link drops before completion       at once, with DisconnectedError
it never completes                     after the status timeout (DeviceTimeoutError)
=====================================  =============================================

*Taken* means the setpoint holds the value with a timestamp newer than before the
put: a record that processes a put stamps it even when the value does not change,
which an echo alone cannot show.  Monitors usually tell (the simulated IOC posts
every put it takes); a record that posts no monitor for an unchanged value is read
once when ``ack_timeout`` has passed.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from typing import Any

from expctl.devices.status import Status
from expctl.epics.ca import Channel
from expctl.epics.link import MARGIN, Link, read_together
from expctl.errors import DisconnectedError, ExpctlError

__all__ = ["Explain", "PutAction", "error_class", "explainer", "same_value"]

#: ``explain(problem, then)``: turn a default problem text into the error to raise, maybe
#: after reading the IOC's own message; calls ``then(error)`` exactly once.
Explain = Callable[[str, Callable[[ExpctlError], None]], None]


def same_value(current: Any, target: Any, tolerance: float = 0.0) -> bool:
    """Whether a readback equals a target (numbers within ``tolerance``)."""
    if isinstance(target, int | float) and not isinstance(target, bool):
        try:
            return math.isclose(float(current), float(target), rel_tol=1e-9,
                                abs_tol=max(tolerance, 1e-12))
        except (TypeError, ValueError):
            return False
    return str(current) == str(target)


class PutAction:
    """One put of ``value`` to ``setpoint`` for ``device``; :attr:`status` tells its end.

    Args:
        link: the beamline's shared channels, clock, settings and watchdog.
        device: the device's name (for statuses and messages).
        setpoint: the channel put to.
        value: the target (a state label, a number).
        timeout: session-clock seconds the whole action may take (:meth:`Link.bound`).
        readback: the channel verified after completion (``None``: trust completion).
        tolerance: how close a numeric readback must come.
        trailing: the readback may trail the completion (wait ``verify_timeout`` for it).
        explain: makes the error of a failure (reading the IOC's message).
    """

    def __init__(self, link: Link, device: str, setpoint: Channel, value: Any, *,
                 timeout: float, readback: Channel | None, tolerance: float = 0.0,
                 trailing: bool, explain: Explain) -> None:
        self.link = link
        self.device = device
        self.setpoint = setpoint
        self.value = value
        self.readback = readback
        self.tolerance = tolerance
        self.trailing = trailing
        self.explain = explain
        self.status = Status(device, link.clock.now(), timeout=timeout)
        self._lock = threading.Lock()
        self._over = False
        self._completed = False
        self._before = setpoint.stamp
        try:
            setpoint.put(value, self._on_completion, timeout=link.wall(timeout) + MARGIN)
        except ExpctlError as err:
            self._finish(err)
            return
        if setpoint.monitor:
            link.watchdog.after(link.settings.ack_timeout, self._check_taken)

    # -- the steps -----------------------------------------------------------------
    def _taken(self) -> bool:
        """Whether the setpoint holds the value, stamped since the put was sent."""
        setpoint = self.setpoint
        return setpoint.stamp > self._before and same_value(setpoint.value, self.value,
                                                            self.tolerance)

    def _check_taken(self) -> None:
        if self._completed or self._over:
            return
        try:
            if self._taken():
                return  # taken: still working
        except DisconnectedError as err:
            self._finish(err)
            return
        read_together([self.setpoint], self.link.settings.ack_timeout, self._taken_after_read,
                      self.link.watchdog)

    def _taken_after_read(self, values: dict[str, Any]) -> None:
        if self._completed or self._over:
            return
        try:
            if self._taken():
                return
            current = self.setpoint.value
        except DisconnectedError as err:
            self._finish(err)
            return
        self._fail(f"the IOC did not act on {self.setpoint.name} = {self.value} within "
                   f"{self.link.settings.ack_timeout:g} s (it still reads {current})")

    def _on_completion(self, error: ExpctlError | None) -> None:
        self._completed = True
        if isinstance(error, DisconnectedError):
            self._finish(error)
        elif error is not None:
            self._fail(f"the IOC refused {self.setpoint.name} = {self.value} "
                       f"({error.message})")
        elif self.readback is None:
            self._finish(None)
        else:
            self._verify(self.readback)

    def _verify(self, readback: Channel) -> None:
        def verified(value: Any) -> None:
            if self._matches(value):
                self._finish(None)
            elif self.trailing:
                cancel = readback.watch(self._matches, lambda: self._finish(None))

                def late() -> None:
                    cancel()
                    self._verify_late(readback)
                self.link.watchdog.after(self.link.settings.verify_timeout, late)
            else:
                self._mismatch(readback, value)
        try:
            readback.get_async(self.link.settings.verify_timeout, verified)
        except ExpctlError as err:
            self._finish(err)

    def _matches(self, value: Any) -> bool:
        return same_value(value, self.value, self.tolerance)

    def _verify_late(self, readback: Channel) -> None:
        if self._over:
            return
        try:
            value = readback.value
        except DisconnectedError as err:
            self._finish(err)
            return
        if self._matches(value):
            self._finish(None)
        else:
            self._mismatch(readback, value)

    def _mismatch(self, readback: Channel, value: Any) -> None:
        self._fail(f"{readback.name} reads {value} after the put of {self.value} to "
                   f"{self.setpoint.name} completed")

    def _fail(self, problem: str) -> None:
        with self._lock:
            if self._over:
                return
        self.explain(problem, self._finish)

    def _finish(self, error: ExpctlError | None) -> None:
        with self._lock:
            if self._over:
                return
            self._over = True
        self.status.finish(error, at=self.link.clock.now())


def error_class(name: str, default: type[ExpctlError]) -> type[ExpctlError]:
    """The expctl error class an IOC names in its ``:ERR`` PV (``default`` if none fits)."""
    import expctl.errors as errors

    cls = getattr(errors, name, None) if name in errors.__all__ else None
    usable = isinstance(cls, type) and (issubclass(cls, errors.DeviceError | errors.LimitError |
                                                   errors.BackendError))
    return cls if usable else default  # type: ignore[return-value]


def explainer(link: Link, device: str, message: Channel | None, error: Channel | None,
              default: type[ExpctlError], details: Callable[[dict[str, Any]], str] | None = None,
              extra: tuple[Channel, ...] = ()) -> Explain:
    """An :data:`Explain` that reads the IOC's own account of a failure.

    Args:
        message: the device's ``:MSG`` PV (why), if it has one.
        error: its ``:ERR`` PV (the expctl error class name), if it has one.
        default: the error class when the IOC names none.
        details: text from ``extra`` channels' values when the IOC gave no message
            (a motor record's LVIO, SPMG, DISP …).
    """
    wanted = tuple(c for c in (message, error) if c is not None) + extra

    def explain(problem: str, then: Callable[[ExpctlError], None]) -> None:
        def build(values: dict[str, Any]) -> None:
            said = str(values.get(message.name, "")).strip() if message is not None else ""
            kind = str(values.get(error.name, "")).strip() if error is not None else ""
            if not said and details is not None:
                said = details(values)
            text = f"{said} ({problem})" if said else problem
            then(error_class(kind, default)(text, device=device))
        read_together(wanted, link.settings.ack_timeout, build, link.watchdog)
    return explain
