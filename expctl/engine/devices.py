"""The engine's view of the beamline's devices: what each one can do, found out once.

Protocol checks (``isinstance`` against a ``runtime_checkable`` Protocol) cost
microseconds, and a step scan asks for the same devices at every point, so
each device is looked at once and kept as a :class:`DeviceInfo`: the device
narrowed to each protocol it supports (``None`` where it does not), which is
also what lets the handlers call ``read()``/``trigger()``/``request()`` typed.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from expctl.devices.access import AccessLevel, check_access
from expctl.devices.protocols import (
    Device,
    Movable,
    Readable,
    Requestable,
    Settable,
    Triggerable,
)
from expctl.errors import SequenceError

__all__ = ["DeviceInfo", "DeviceTable"]


@dataclass(frozen=True, slots=True)
class DeviceInfo:
    """One device and the protocols it supports (each ``None`` when it does not)."""

    device: Device
    readable: Readable | None
    triggerable: Triggerable | None
    requestable: Requestable | None

    @classmethod
    def of(cls, device: Device) -> DeviceInfo:
        return cls(device,
                   device if isinstance(device, Readable) else None,
                   device if isinstance(device, Triggerable) else None,
                   device if isinstance(device, Requestable) else None)


class DeviceTable:
    """Devices by name for one engine: lookups with a did-you-mean, protocol and access
    checks cached.

    ``infos`` and ``allowed`` are the caches themselves: the handlers on the hot path
    try them with ``dict.get`` before calling :meth:`info` / :meth:`settable`.
    """

    def __init__(self, devices: Mapping[str, Device], beamline: str,
                 access: AccessLevel) -> None:
        self.devices = devices
        self.beamline = beamline
        self.access = access
        self.infos: dict[str, DeviceInfo] = {}
        #: devices this engine may set or move (access checked), by name
        self.allowed: dict[str, Settable] = {}

    def device(self, name: str) -> Device:
        """The device called ``name``; a located error with close names otherwise."""
        try:
            return self.devices[name]
        except KeyError:
            near = difflib.get_close_matches(name, list(self.devices), n=3)
            raise SequenceError(
                f"no device called {name!r} on {self.beamline}", device=name,
                hint=f"Did you mean {', '.join(near)}?" if near else "See `expctl devices`.",
            ) from None

    def info(self, name: str) -> DeviceInfo:
        """What the device called ``name`` can do (cached)."""
        info = self.infos.get(name)
        if info is None:
            info = self.infos[name] = DeviceInfo.of(self.device(name))
        return info

    def settable(self, name: str, verb: str) -> Settable:
        """The device, once it is known that this engine may set/move it (cached)."""
        dev = self.allowed.get(name)
        if dev is None:
            found = self.device(name)
            check_access(name, found.access, self.access, verb=verb)
            if not isinstance(found, Settable):
                raise SequenceError(f"{name} cannot be {verb}", device=name)
            dev = self.allowed[name] = found
        return dev

    def movable(self, name: str) -> Movable:
        """A device that moved relatively: its position must be known."""
        dev = self.settable(name, "moved")
        if not isinstance(dev, Movable):
            raise SequenceError(f"{name} has no position to move relative to", device=name,
                                hint="Give an absolute target.")
        return dev

    def snapshot(self) -> dict[str, Any]:
        """Every readable device that is not a detector, read now (a run's context)."""
        snap: dict[str, Any] = {}
        for name in self.devices:
            info = self.info(name)
            if info.readable is not None and info.triggerable is None:
                snap.update(info.readable.read())
        return snap
