"""Channel Access building blocks of the simulated IOC: setpoints that act, readbacks, messages.

Two conventions of real IOCs are kept so that clients learn the right habits:

* a put the IOC declines is answered with a *failed put-completion*
  (``ECA_PUTFAIL`` in the WriteNotify response, as EPICS base's rsrv does), not
  with a dropped request, and the reason is left in the device's ``:MSG`` PV (with
  the error's class name in ``:ERR``, which expctl's client maps back);
* a setpoint takes the requested value at once (stamped and posted, also when it is
  unchanged), then the put completes when the device is there (put-completion), so a
  client can tell "accepted, moving" from "ignored".
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import numpy as np
from caproto import CAStatus, ChannelByte, ChannelDouble, ChannelEnum, ChannelInteger
from caproto import ChannelString as _ChannelString
from caproto.server import PvpropertyDouble

from expctl.errors import ExpctlError

__all__ = ["ErrorPVs", "PutFailDouble", "Refused", "accept", "enum_label", "long_string",
           "post", "setpoint", "text"]

#: Longest text a ``:MSG`` or JSON PV holds (a CHAR waveform; CA strings stop at 40).
LONG_STRING = 4096


class Refused(Exception):
    """Raised by a put handler: the put is answered with ECA_PUTFAIL."""


class _PutFail:
    """Answer a :class:`Refused` put with a failed completion instead of a dropped request."""

    async def auth_write(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return await super().auth_write(*args, **kwargs)  # type: ignore[misc]
        except Refused:
            return CAStatus.ECA_PUTFAIL


class PutFailDouble(_PutFail, PvpropertyDouble):
    """A pvproperty double (the motor record's VAL) whose refusals fail the completion."""


class _Handled(_PutFail):
    """A channel whose client puts go to ``on_put(value)``: it acts, then returns the value
    to store (or raises ``SkipWrite`` after storing it itself, or :class:`Refused`)."""

    def __init__(self, *, on_put: Callable[[Any], Awaitable[Any]], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._on_put = on_put

    async def verify_value(self, value: Any) -> Any:
        return await self._on_put(value)


class _EnumSetpoint(_Handled, ChannelEnum):
    pass


class _DoubleSetpoint(_Handled, ChannelDouble):
    pass


class _IntegerSetpoint(_Handled, ChannelInteger):
    pass


class _TextSetpoint(_Handled, ChannelByte):
    pass


def setpoint(on_put: Callable[[Any], Awaitable[Any]], value: Any, *,
             choices: tuple[str, ...] | None = None, text: bool = False, **kwargs: Any) -> Any:
    """A writable channel handled by ``on_put``: enum (``choices``), long text, int or double."""
    if choices is not None:
        return _EnumSetpoint(on_put=on_put, value=value, enum_strings=choices, **kwargs)
    if text:
        return _TextSetpoint(on_put=on_put, value=value.encode(), max_length=LONG_STRING,
                             **kwargs)
    if isinstance(value, int):
        return _IntegerSetpoint(on_put=on_put, value=value, **kwargs)
    return _DoubleSetpoint(on_put=on_put, value=float(value), **kwargs)


def long_string(value: str = "") -> ChannelByte:
    """A text PV longer than CA's 40-character strings (JSON, messages, paths), as a CHAR
    waveform of UTF-8 bytes (caproto's string-encoded CHAR channels refuse an empty put)."""
    return ChannelByte(value=value.encode(), max_length=LONG_STRING)


def text(value: bytes | str) -> str:
    """The text a :func:`long_string` (or a text :func:`Setpoint`) holds or was put."""
    return value.decode("utf-8", "replace").split("\0", 1)[0] if isinstance(value, bytes) \
        else str(value)


def enum_label(value: Any, labels: tuple[str, ...]) -> str:
    """The label an enum put names: clients send the index (DBR_ENUM) or the label."""
    if isinstance(value, int | np.integer) and not isinstance(value, bool):
        return labels[int(value)] if 0 <= int(value) < len(labels) else str(value)
    return value.decode() if isinstance(value, bytes) else str(value)


async def accept(channel: Any, value: Any) -> None:
    """Store a setpoint the IOC has taken, stamped now and posted even when unchanged (a
    record processes every put): that is how a client tells "taken" from "ignored"."""
    await channel.write(value, verify_value=False)


async def post(channel: Any, value: Any) -> None:
    """Publish ``value`` unless the channel already holds it (no monitor traffic for nothing)."""
    if isinstance(value, np.ndarray) or channel.value != value:
        await channel.write(value, verify_value=False)


class ErrorPVs:
    """``<base>:MSG`` (why the last action failed) and ``<base>:ERR`` (its error class)."""

    def __init__(self, base: str) -> None:
        self.msg = long_string()
        self.err = _ChannelString(value="")
        self.pvdb = {f"{base}:MSG": self.msg, f"{base}:ERR": self.err}

    async def report(self, error: ExpctlError | None) -> None:
        """Show ``error`` (or clear the PVs with ``None``)."""
        said = "" if error is None else error.paragraph()
        await post(self.msg, said.encode()[:LONG_STRING - 1])
        await post(self.err, "" if error is None else type(error).__name__)

    async def refuse(self, error: ExpctlError) -> Refused:
        """Report ``error``; return the :class:`Refused` to raise from the put handler."""
        await self.report(error)
        return Refused(error.message)
