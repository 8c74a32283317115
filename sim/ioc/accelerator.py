"""Accelerator parameters served as requests that complete when applied or fail with a reason.

``<base>:REQ`` takes a request (put-completion when the accelerator has applied it,
a failed completion when it refuses: the reason is in ``<base>:MSG``), ``<base>``
reads the value in force, ``<base>:BUSY`` says whether a request is pending.
Who may request is checked by the client (the IOC only sees a CA host and user).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from caproto import ChannelDouble, ChannelEnum, SkipWrite

from sim.devices.accelerator import SimAcceleratorParameter
from sim.ioc.channels import ErrorPVs, accept, enum_label, post, setpoint

if TYPE_CHECKING:
    from sim.ioc.server import SimIOC

__all__ = ["RequestGroup"]

BUSY_STATES = ("idle", "pending")


class RequestGroup:
    """One accelerator parameter at ``base``."""

    def __init__(self, ioc: SimIOC, device: SimAcceleratorParameter, base: str) -> None:
        self.ioc = ioc
        self.device = device
        self.errors = ErrorPVs(base)
        choices = device.limits.choices
        value = device.value
        if choices is not None:
            labels = tuple(str(c) for c in choices)
            self.request = setpoint(self._put, str(value), choices=labels)
            self.readback: Any = ChannelEnum(value=str(value), enum_strings=labels)
        else:
            self.request = setpoint(self._put, float(value), units=device.units, precision=4)
            self.readback = ChannelDouble(value=float(value), units=device.units, precision=4)
        self.busy = ChannelEnum(value="idle", enum_strings=BUSY_STATES)
        self.pvdb: dict[str, Any] = {base: self.readback, f"{base}:REQ": self.request,
                                     f"{base}:BUSY": self.busy, **self.errors.pvdb}

    async def start(self) -> None:
        await self.refresh()

    async def _put(self, value: Any) -> None:
        choices = self.device.limits.choices
        if choices is not None:
            labels = tuple(str(c) for c in choices)
            label = enum_label(value, labels)
            await self.ask(choices[labels.index(label)] if label in labels else label)
        else:
            await self.ask(float(value))
        raise SkipWrite()

    async def ask(self, value: Any) -> None:
        """Place the request; returns once the accelerator has applied it (or refused it:
        outside its envelope, or a refusal injected)."""
        dev = self.device
        await self.ioc.faults.hold_if_ignored(dev.name)
        await self.errors.report(None)
        await accept(self.request, value)
        status = dev.request(value, dev.request_access)
        await self.refresh()
        error = await self.ioc.finish(status)
        await self.refresh()
        self.ioc.autosave.changed(dev.name, dev.value)
        if error is not None:
            raise await self.errors.refuse(error)

    async def refresh(self) -> None:
        dev = self.device
        await post(self.readback, dev.value)
        await post(self.busy, BUSY_STATES[dev.pending is not None])
