"""The Channel Access layer of the epics backend, over caproto's threading client.

A :class:`Channel` is one PV as the devices see it: whether it is connected,
the newest value (pushed by a monitor, or fetched by an explicit read), and puts
with put-completion.  Monitors and reads can arrive out of order on caproto's
threads, so the value with the newest IOC timestamp wins; a late monitor never
overwrites a fresher read.  When a connection drops, every put still waiting for
its completion fails with :class:`~expctl.errors.DisconnectedError` at once
(caproto would never call it back), and the channel is not *fresh* again until a
value has arrived after the reconnection (caproto re-subscribes by itself).

Everything caproto-specific is in this module; the devices never see a caproto
object.  caproto is imported when a :class:`ChannelSet` is made, not before.
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import numpy as np

from expctl.errors import DeviceTimeoutError, DisconnectedError, ExpctlError

__all__ = ["Channel", "ChannelSet", "Completion", "ca_environment"]

_QUIET = logging.NullHandler()

#: ``on_done(error)``: called once when a put completes (``None``) or fails.
Completion = Callable[[ExpctlError | None], None]


def ca_environment() -> dict[str, str]:
    """The EPICS_CA* variables in effect (caproto's defaults for the ones not set)."""
    import caproto

    env = caproto.get_environment_variables()
    return {k: str(v) for k, v in sorted(env.items()) if k.startswith("EPICS_CA_")}


class _PendingPut:
    """A put waiting for its completion; answered exactly once."""

    __slots__ = ("channel", "on_done", "answered", "__weakref__")

    def __init__(self, channel: Channel, on_done: Completion) -> None:
        self.channel = channel
        self.on_done = on_done
        self.answered = False

    def answer(self, error: ExpctlError | None) -> None:
        with self.channel._cond:
            if self.answered:
                return
            self.answered = True
            self.channel._puts.discard(self)
        self.on_done(error)

    def response(self, response: Any) -> None:
        """caproto's callback with the WriteNotify response."""
        status = response.status
        if status.success:
            self.answer(None)
        else:
            self.answer(ExpctlError(f"the IOC answered the put to {self.channel.name} with "
                                    f"{status.name} ({status.description})"))


class Channel:
    """One PV: connection state, newest value, puts and reads.

    Args:
        pv: the caproto PV.
        monitor: keep the value current by subscription (readbacks); otherwise only
            explicit reads update it (shot-block waveforms).
    """

    def __init__(self, pv: Any, *, monitor: bool) -> None:
        self.name: str = pv.name
        self.monitor = monitor
        self._pv = pv
        self._cond = threading.Condition()
        self.connected = False
        self.fresh = False
        self.enum_strings: tuple[str, ...] | None = None
        self._value: Any = None
        self._stamp = -math.inf
        self._puts: set[_PendingPut] = set()
        self._watchers: list[tuple[Callable[[Any], bool], Callable[[], None]]] = []
        self._subscription: Any = None

    # -- caproto callbacks (on caproto's threads) -------------------------------------
    def state_changed(self, state: str) -> None:
        with self._cond:
            self.connected = state == "connected"
            if self.connected:
                self._cond.notify_all()
                return
            self.fresh = False
            stranded = list(self._puts)
            self._cond.notify_all()
        for put in stranded:
            put.answer(DisconnectedError(f"{self.name} disconnected before its put completed"))

    def _on_monitor(self, subscription: Any, response: Any) -> None:
        self._accept(response)

    def _accept(self, response: Any) -> Any:
        value = self._decode(response)
        stamp = response.metadata.timestamp
        with self._cond:
            if stamp >= self._stamp:
                self._value, self._stamp = value, stamp
            self.fresh = True
            self._cond.notify_all()
            ready = [w for w in self._watchers if w[0](self._value)]
            for w in ready:
                self._watchers.remove(w)
        for _, callback in ready:
            callback()
        return value

    def watch(self, predicate: Callable[[Any], bool],
              callback: Callable[[], None]) -> Callable[[], None]:
        """Call ``callback()`` once the newest value satisfies ``predicate`` (maybe now);
        returns a function that cancels the watch."""
        entry = (predicate, callback)
        with self._cond:
            now = self.connected and self.fresh and predicate(self._value)
            if not now:
                self._watchers.append(entry)
        if now:
            callback()

        def cancel() -> None:
            with self._cond:
                if entry in self._watchers:
                    self._watchers.remove(entry)
        return cancel

    def _decode(self, response: Any) -> Any:
        data = response.data
        kind = response.data_type.name
        if kind.endswith("ENUM"):
            index = int(data[0])
            names = self.enum_strings
            return names[index] if names is not None and index < len(names) else index
        if kind.endswith("CHAR"):
            return bytes(np.asarray(data, dtype=np.uint8)).split(b"\0", 1)[0].decode(
                "utf-8", "replace")
        if kind.endswith("STRING"):
            raw = data[0]
            return raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
        if self._pv.channel is not None and self._pv.channel.native_data_count == 1:
            return data[0].item() if len(data) else math.nan
        return np.asarray(data)

    # -- set-up (engine thread) -------------------------------------------------------
    def prepare(self, timeout: float) -> None:
        """After the first connection: learn enum labels, start the monitor."""
        if self._pv.channel.native_data_type.name == "ENUM" and self.enum_strings is None:
            ctrl = self._pv.read(data_type="control", timeout=timeout)
            self.enum_strings = tuple(
                s.decode("utf-8", "replace") if isinstance(s, bytes) else str(s)
                for s in ctrl.metadata.enum_strings)
        if self.monitor and self._subscription is None:
            self._subscription = self._pv.subscribe(data_type="time")
            self._subscription.add_callback(self._on_monitor)

    # -- values ------------------------------------------------------------------------
    @property
    def value(self) -> Any:
        """The newest value (monitored channels); raises while disconnected."""
        with self._cond:
            if not self.connected:
                raise DisconnectedError(f"{self.name} is disconnected")
            return self._value

    @property
    def stamp(self) -> float:
        """IOC timestamp (Unix seconds) of the newest value."""
        return self._stamp

    def wait_connected(self, timeout: float) -> bool:
        """Wait until connected (False after ``timeout``)."""
        with self._cond:
            return self._cond.wait_for(lambda: self.connected, timeout)

    def wait_fresh(self, timeout: float) -> bool:
        """Wait until connected with a value that arrived since (re)connection."""
        with self._cond:
            return self._cond.wait_for(lambda: self.connected and self.fresh, timeout)

    def get(self, timeout: float) -> Any:
        """Read the value now from the IOC (and keep it if it is the newest)."""
        self._require_link()
        try:
            response = self._pv.read(data_type="time", timeout=timeout,
                                     data_count=0 if not self._scalar() else None)
        except TimeoutError:
            if not self.connected:
                raise DisconnectedError(f"{self.name} disconnected during a read") from None
            raise DeviceTimeoutError(f"{self.name} did not answer a read within "
                                     f"{timeout:g} s") from None
        return self._accept(response)

    def get_async(self, timeout: float, on_value: Callable[[Any], None]) -> None:
        """Ask for the value; ``on_value(value)`` is called from caproto's thread."""
        self._require_link()

        def answer(response: Any) -> None:
            on_value(self._accept(response))
        try:
            self._pv.read(wait=False, callback=answer, data_type="time", timeout=timeout,
                          data_count=0 if not self._scalar() else None)
        except Exception as exc:  # caproto raises several kinds when the circuit is dying
            raise DisconnectedError(f"{self.name}: the read could not be sent "
                                    f"({type(exc).__name__})") from None

    def _scalar(self) -> bool:
        channel = self._pv.channel
        return channel is None or channel.native_data_count == 1

    # -- puts --------------------------------------------------------------------------
    def encode(self, value: Any) -> Any:
        """The wire form of ``value``: an enum label becomes its index, text CHAR bytes."""
        kind = self._pv.channel.native_data_type.name
        if kind == "ENUM" and isinstance(value, str):
            names = self.enum_strings or ()
            if value not in names:
                raise ExpctlError(f"{self.name} has no state {value!r}",
                                  allowed=", ".join(names))
            return [names.index(value)]
        if kind == "CHAR" and isinstance(value, str):
            return list(value.encode("utf-8")) + [0]
        if kind == "STRING":
            return [str(value)]
        return [value]

    def put(self, value: Any, on_done: Completion | None, *, timeout: float | None) -> None:
        """Send a put; with ``on_done``, ask for put-completion (called exactly once, also
        with DisconnectedError when the link drops first).  ``timeout`` bounds how long a
        completion is accepted (caproto drops later answers)."""
        self._require_link()
        data = self.encode(value)
        pending = None
        if on_done is not None:
            pending = _PendingPut(self, on_done)
            with self._cond:
                self._puts.add(pending)
        try:
            self._pv.write(data, wait=False, timeout=timeout,
                           callback=None if pending is None else pending.response,
                           notify=pending is not None)
        except Exception as exc:  # caproto raises several kinds when the circuit is dying
            if pending is not None:
                with self._cond:
                    self._puts.discard(pending)
            raise DisconnectedError(f"{self.name}: the put could not be sent "
                                    f"({type(exc).__name__})") from None

    def put_wait(self, value: Any, timeout: float) -> None:
        """Put and wait for its completion (bounded): for quick settings, not for motion."""
        done = threading.Event()
        outcome: list[ExpctlError | None] = []

        def finished(error: ExpctlError | None) -> None:
            outcome.append(error)
            done.set()
        self.put(value, finished, timeout=timeout)
        if not done.wait(timeout):
            raise DeviceTimeoutError(f"{self.name} did not complete a put within {timeout:g} s")
        if outcome[0] is not None:
            raise outcome[0]

    def _require_link(self) -> None:
        if not self.connected:
            raise DisconnectedError(f"{self.name} is disconnected")


class ChannelSet:
    """All channels of one beamline on one caproto context.

    Args:
        monitored: PV names kept current by subscription.
        polled: PV names read only on demand.
        timeout: caproto's default timeout for reads.
    """

    def __init__(self, monitored: Iterable[str], polled: Iterable[str] = (),
                 timeout: float = 2.0) -> None:
        from caproto.threading.client import Context

        # caproto logs protocol warnings with tracebacks when monitors cross a closing
        # channel, and has no handler of its own, so Python's last-resort handler would
        # print them on the user's terminal; the backend reports link problems itself.
        # (Applications that configure logging still receive the records.)
        logging.getLogger("caproto").addHandler(_QUIET)
        self._context = Context(timeout=timeout)
        self.channels: dict[str, Channel] = {}
        self._listeners: list[Callable[[Channel], None]] = []
        names = dict.fromkeys(monitored, True)
        names.update({n: False for n in polled if n not in names})
        # (caproto holds this bound method weakly: it lives as long as the set)
        pvs = self._context.get_pvs(*names, connection_state_callback=self._state_changed)
        for pv in pvs:
            self.channels[pv.name] = Channel(pv, monitor=names[pv.name])
        for pv in pvs:  # a PV may have connected before its Channel existed
            if pv.connected:
                self.channels[pv.name].state_changed("connected")

    def __getitem__(self, name: str) -> Channel:
        return self.channels[name]

    def _state_changed(self, pv: Any, state: str) -> None:
        channel = self.channels.get(pv.name)
        if channel is None:  # a callback while the set is being built
            return
        channel.state_changed(state)
        for listener in list(self._listeners):
            listener(channel)

    def on_state(self, listener: Callable[[Channel], None]) -> None:
        """Call ``listener(channel)`` (from caproto's threads) on every connect/disconnect."""
        self._listeners.append(listener)

    def wait_connected(self, timeout: float) -> list[str]:
        """Wait up to ``timeout`` for every channel; the names still unconnected."""
        import time

        deadline = time.monotonic() + timeout
        for channel in self.channels.values():
            channel.wait_connected(max(deadline - time.monotonic(), 0.0))
        return [n for n, c in self.channels.items() if not c.connected]

    def prepare(self, timeout: float) -> None:
        """Enum labels and monitors of every connected channel; waits for first values."""
        for channel in self.channels.values():
            if channel.connected:
                channel.prepare(timeout)
        for channel in self.channels.values():
            if channel.monitor and channel.connected:
                channel.wait_fresh(timeout)

    def lost(self) -> list[str]:
        """Channels disconnected, or monitored ones without a value since reconnecting."""
        return [n for n, c in self.channels.items()
                if not c.connected or (c.monitor and not c.fresh)]

    def servers(self) -> Mapping[str, str]:
        """Which server address serves each connected channel (for messages)."""
        out = {}
        for name, channel in self.channels.items():
            manager = channel._pv.circuit_manager
            if channel.connected and manager is not None:
                host, port = manager.circuit.address
                out[name] = f"{host}:{port}"
        return out

    def search_again(self) -> None:
        """Re-send the searches of every PV not found now (instead of after caproto's back-off)."""
        self._context.broadcaster.search_now()

    def close(self) -> None:
        """Drop the connections (without joining caproto's threads: they are daemons and
        would take seconds to notice)."""
        self._context.disconnect(wait=False)
