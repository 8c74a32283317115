"""Readable signals as ai/stringin records, and the shared acquisition gate (``ACQ:``).

Shot-synchronous monitors and detectors (the I0 photodiode, MPCCD ROI sums, the
beam monitor) read the latest shot, and after an acquisition the mean over its
shots, exactly as the simulated devices do.  One acquisition gate counts them all
together, like a scaler record or a DAQ gate: ``ACQ:NSHOTS`` sets the shots,
a put to ``ACQ:TRIGGER`` (``Acquire``) completes when they are taken, and every
detector's values are posted before it completes.  Whoever reads ``mpccd.roi0``
and ``pd_i0`` after one trigger therefore normalises the same shots.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from caproto import ChannelDouble, ChannelInteger, ChannelString, SkipWrite

from expctl.errors import ExpctlError
from sim.ioc.channels import ErrorPVs, post, setpoint
from sim.ioc.naming import signal_pv

if TYPE_CHECKING:
    from sim.ioc.server import SimIOC

__all__ = ["AcquisitionGroup", "SignalGroup"]

TRIGGER_STATES = ("Done", "Acquire")


class SignalGroup:
    """The readable signals of one device that no other group serves.

    Args:
        prefix: the IOC prefix.
        device: a readable device.
        skip: signal names served elsewhere (an axis' readback).
        shot_based: its values come from shots (not refreshed during an acquisition,
            whose shots are not taken yet).
    """

    def __init__(self, prefix: str, device: Any, skip: set[str], shot_based: bool) -> None:
        self.device = device
        self.shot_based = shot_based
        self.channels: dict[str, Any] = {}
        for signal, info in device.describe().items():
            if signal in skip:
                continue
            if info.dtype == "str":
                self.channels[signal] = ChannelString(value="")
            else:
                self.channels[signal] = ChannelDouble(value=0.0, units=info.units, precision=6)
        self.pvdb = {signal_pv(prefix, device.name, s): ch for s, ch in self.channels.items()}

    async def start(self) -> None:
        await self.refresh()

    async def refresh(self) -> None:
        if not self.channels:
            return
        values = self.device.read()
        for signal, channel in self.channels.items():
            value = values[signal]
            await post(channel, value if isinstance(value, str) else float(value))


class AcquisitionGroup:
    """``<prefix>ACQ:``: one trigger for every shot-synchronous detector."""

    def __init__(self, ioc: SimIOC, prefix: str, devices: list[Any],
                 signals: list[SignalGroup]) -> None:
        self.ioc = ioc
        self.devices = devices
        self.signals = signals
        self.errors = ErrorPVs(f"{prefix}ACQ")
        self.nshots = ChannelInteger(value=1)
        self.trigger = setpoint(self._put, "Done", choices=TRIGGER_STATES)
        self.count = ChannelInteger(value=0)
        self.pvdb: dict[str, Any] = {
            f"{prefix}ACQ:NSHOTS": self.nshots, f"{prefix}ACQ:TRIGGER": self.trigger,
            f"{prefix}ACQ:COUNT": self.count, **self.errors.pvdb}

    async def start(self) -> None:
        """Nothing to post before the first acquisition."""

    async def refresh(self) -> None:
        """The signals' own groups post them."""

    async def _put(self, value: Any) -> None:
        if value not in ("Acquire", 1):
            raise SkipWrite()
        await self.acquire(int(self.nshots.value))
        raise SkipWrite()

    async def acquire(self, shots: int) -> None:
        """Take ``shots`` shots with every detector; returns when they are in."""
        ioc = self.ioc
        await ioc.faults.hold_if_ignored("acq")
        await self.errors.report(None)
        await post(self.trigger, "Acquire")
        ioc.acquiring = True
        try:
            statuses = [device.trigger(shots) for device in self.devices]
            errors = [await ioc.finish(status) for status in statuses]
        except ExpctlError as err:
            await post(self.trigger, "Done")
            raise await self.errors.refuse(err) from None
        finally:
            ioc.acquiring = False
        for group in self.signals:
            await group.refresh()
        await self.count.write(self.count.value + 1)
        await post(self.trigger, "Done")
        failed = next((e for e in errors if e is not None), None)
        if failed is not None:
            raise await self.errors.refuse(failed)

