"""Completion of a device action, in time that may be virtual.

A simulated device knows *when* it will be done (and whether it will fail:
a stall, a refusal) the moment it is told to act, so its :class:`Status`
carries a ``deadline`` and an outcome; the interpreter just lets the clock
jump there.  A hardware device finishes from another thread by calling
:meth:`Status.finish`.  Both kinds expose the same small surface.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from expctl.clock import Clock
from expctl.errors import DeviceTimeoutError, ExpctlError

__all__ = ["Status", "StatusUpdate", "all_of", "jump_to_end", "wait_all"]

_new = object.__new__


@dataclass(frozen=True, slots=True)
class StatusUpdate:
    """A progress report for watchers (progress bars, the shell toolbar)."""

    device: str
    fraction: float
    elapsed: float
    remaining: float | None


class Status:
    """The outcome of one action on one device.

    Args:
        device: name of the device acting.
        started: clock reading when the action began.
        deadline: clock reading when it completes, if known in advance.
        error: the error it will end with at ``deadline`` (simulated faults).
        timeout: seconds after ``started`` at which an unfinished action fails.
    """

    __slots__ = ("device", "started", "deadline", "timeout", "_error", "_finished", "_event",
                 "_callbacks", "_lock", "_ends", "_late")

    def __init__(
        self,
        device: str,
        started: float,
        deadline: float | None = None,
        *,
        error: ExpctlError | None = None,
        timeout: float | None = None,
    ) -> None:
        self.device = device
        self.started = started
        self.deadline = deadline
        self.timeout = timeout
        self._error = error
        self._finished = deadline is not None
        self._event: threading.Event | None = None
        self._callbacks: list[Callable[[Status], None]] | None = None
        # finished from another thread: callbacks registered and run under a lock
        self._lock = threading.Lock() if deadline is None else None
        self._ending()

    def _ending(self) -> None:
        """Work out when the action ends and whether its timeout is what ends it (once, not
        at every question: a virtual-clock wait asks at every point of a scan)."""
        deadline, timeout = self.deadline, self.timeout
        #: when the action ends (success, failure or timeout), if known
        self._ends: float | None = deadline
        #: the time its timeout ends it at, if that comes first
        self._late: float | None = None
        if timeout is not None:
            timeout_at = self.started + timeout
            if deadline is None or deadline > timeout_at:
                self._ends = self._late = timeout_at

    @classmethod
    def known(cls, device: str, started: float, deadline: float,
              timeout: float | None = None) -> Status:
        """``Status(device, started, deadline, timeout=timeout)``: an action whose end is
        known now (a simulated device's), made without calling the class (in Python
        3.11 a class call with an ``__init__`` costs twice the assignments; a step
        scan makes several statuses per point)."""
        st = _new(cls)
        st.device, st.started, st.deadline, st.timeout = device, started, deadline, timeout
        st._error = st._event = st._callbacks = st._lock = None
        st._finished = True
        st._ending()
        return st

    @classmethod
    def done(cls, device: str, now: float) -> Status:
        """A status that is already complete (instantaneous actions)."""
        return cls(device, now, now)

    @classmethod
    def failed(cls, device: str, now: float, error: ExpctlError) -> Status:
        """A status that has already failed with ``error``."""
        return cls(device, now, now, error=error)

    # -- completion -----------------------------------------------------------------
    def finish(self, error: ExpctlError | None = None, *, at: float | None = None) -> None:
        """Mark a callback-driven action complete (called by hardware backends, from any
        thread), or move a known end earlier (a simulated fault striking)."""
        if self._lock is None:
            self._end(error, at)
            callbacks = self._callbacks or []
        else:
            with self._lock:
                self._end(error, at)
                callbacks, self._callbacks = self._callbacks or [], None
        if self._event is not None:
            self._event.set()
        for cb in callbacks:
            cb(self)

    def _end(self, error: ExpctlError | None, at: float | None) -> None:
        self._error = error
        self.deadline = self.started if at is None else at
        self._finished = True
        self._ending()

    def add_callback(self, callback: Callable[[Status], None]) -> None:
        """Call ``callback(status)`` when a callback-driven action finishes (at once if it
        already has).  A status with a known deadline calls it only if :meth:`finish` is
        called."""
        if self._lock is not None:
            with self._lock:
                if not self._finished:
                    self._callbacks = [*(self._callbacks or ()), callback]
                    return
            callback(self)
            return
        if self._callbacks is None:
            self._callbacks = []
        self._callbacks.append(callback)

    def completion_time(self) -> float | None:
        """When the action ends, by success, failure or timeout, if that is known."""
        return self._ends

    def is_done(self, now: float) -> bool:
        """True once the action has ended (successfully or not) at clock reading ``now``."""
        t = self.completion_time()
        return t is not None and now >= t

    def result(self, now: float) -> None:
        """Raise the action's error, if it ended with one; otherwise return ``None``."""
        if (late := self._late) is not None and now >= late:
            raise DeviceTimeoutError(
                f"{self.device} did not complete within {self.timeout:g} s", device=self.device
            )
        if self._error is not None:
            raise self._error

    @property
    def error(self) -> ExpctlError | None:
        """The error the action ends with, if known (``None`` for success or not yet)."""
        return self._error

    # -- progress -------------------------------------------------------------------
    def update(self, now: float) -> StatusUpdate:
        """Progress at ``now`` as a fraction of the known duration."""
        end = self.completion_time()
        elapsed = max(0.0, now - self.started)
        if end is None:
            return StatusUpdate(self.device, 0.0, elapsed, None)
        total = end - self.started
        frac = 1.0 if total <= 0 else min(1.0, elapsed / total)
        return StatusUpdate(self.device, frac, elapsed, max(0.0, end - now))

    def wait_real(self, timeout: float | None) -> bool:
        """Block the calling thread until a callback-driven action finishes."""
        if self._finished:
            return True
        if self._event is None:
            self._event = threading.Event()
            if self._finished:  # finished while the event was being made
                return True
        return self._event.wait(timeout)

    @property
    def pending(self) -> bool:
        """True while a callback-driven action has not finished (no deadline known yet)."""
        return self.deadline is None

    def __repr__(self) -> str:
        state = "failed" if self._error else ("pending" if self.deadline is None else "ok")
        return f"Status({self.device!r}, {state}, deadline={self.deadline})"


def all_of(device: str, statuses: Iterable[Status], now: float) -> Status:
    """One status for several actions: done when the last is, failing with the first error.

    Known deadlines combine into a known deadline; if any action is finished by a
    callback (hardware), the combined status is too.
    """
    parts = list(statuses)
    pending = [st for st in parts if st.pending]
    if not pending:
        errors = [st.error for st in parts if st.error is not None]
        ends = [t for st in parts if (t := st.completion_time()) is not None]
        return Status(device, now, max([now, *ends]), error=errors[0] if errors else None)
    timeouts = [st.timeout for st in parts]
    combined = Status(device, now, timeout=None if None in timeouts else max(
        st.started + (st.timeout or 0.0) - now for st in parts))
    lock = threading.Lock()
    left = [len(pending)]

    def one_done(_: Status) -> None:
        with lock:
            left[0] -= 1
            if left[0]:
                return
        errors = [st.error for st in parts if st.error is not None]
        combined.finish(errors[0] if errors else None,
                        at=max([now, *(st.deadline or now for st in parts)]))
    for st in pending:
        st.add_callback(one_done)
    return combined


def wait_all(statuses: Iterable[Status], clock: Clock) -> None:
    """Wait until every status has ended, then raise the first error (in given order).

    Virtual clocks jump to the latest deadline; callback-driven statuses are
    waited for on the calling thread.
    """
    statuses = list(statuses)
    for st in statuses:
        if st.pending:  # finished by a callback: wait for it (at most until its timeout)
            tmo = None if st.timeout is None else max(0.0, st.started + st.timeout - clock.now())
            st.wait_real(tmo)
        clock.sleep_until(st.completion_time() or clock.now())
    now = clock.now()
    for st in statuses:
        st.result(now)


def jump_to_end(statuses: Sequence[Status], clock: Clock) -> bool:
    """On a virtual clock: jump to when every status has ended and raise the first error
    (in given order), as :func:`wait_all` does in one jump; ``False`` (nothing done) if
    one is finished by a callback."""
    latest = clock.now()
    for st in statuses:
        if st.deadline is None:
            return False
        end = st._ends  # (completion_time(), without the call)
        if end is not None and end > latest:
            latest = end
    clock.sleep_until(latest)
    for st in statuses:
        if st._late is not None or st._error is not None:  # (else result() has nothing to say)
            st.result(latest)
    return True
