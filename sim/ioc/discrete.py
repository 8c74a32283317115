"""Devices with discrete values served as binary/multi-bit records, and the foil attenuator.

``<base>`` is the setpoint (bo/mbbo: an enum of the profile's choices; the
attenuator's is the total thickness), ``<base>_RBV`` the readback, which changes
when the transit is over; the put completes then.  The attenuator also serves one
binary record per foil (``<base>:FOIL1`` … ``out``/``in``), as foil attenuators are
wired at beamlines; a put to a foil sets the total that foil change implies.
"""

from __future__ import annotations

from itertools import combinations
from typing import TYPE_CHECKING, Any

from caproto import ChannelDouble, ChannelEnum, SkipWrite

from expctl.errors import LimitError
from sim.devices.discrete import SimAttenuator, SimDiscrete
from sim.ioc.channels import ErrorPVs, accept, enum_label, post, setpoint

if TYPE_CHECKING:
    from sim.ioc.server import SimIOC

__all__ = ["DiscreteGroup"]

FOIL_STATES = ("out", "in")


def foil_set(thickness: float, foils: tuple[float, ...]) -> tuple[bool, ...]:
    """Which foils are in for ``thickness`` (the first combination summing to it)."""
    for n in range(len(foils) + 1):
        for combo in combinations(range(len(foils)), n):
            if abs(sum(foils[i] for i in combo) - thickness) < 1e-9:
                return tuple(i in combo for i in range(len(foils)))
    return tuple(False for _ in foils)


class DiscreteGroup:
    """A shutter, a gain switch or an attenuator at ``base``."""

    def __init__(self, ioc: SimIOC, device: SimDiscrete, base: str) -> None:
        self.ioc = ioc
        self.device = device
        self.name = device.name
        self.numeric = isinstance(device, SimAttenuator)
        self.errors = ErrorPVs(base)
        value = device.value
        if self.numeric:
            self.setpoint = setpoint(self._put, float(value), units=device.units, precision=1)
            self.readback: Any = ChannelDouble(value=float(value), units=device.units,
                                               precision=1)
        else:
            labels = tuple(str(c) for c in device.choices)
            self.setpoint = setpoint(self._put, str(value), choices=labels)
            self.readback = ChannelEnum(value=str(value), enum_strings=labels)
        self.pvdb: dict[str, Any] = {base: self.setpoint, f"{base}_RBV": self.readback,
                                     **self.errors.pvdb}
        self.foils: tuple[float, ...] = getattr(device, "foils", ())
        self.foil_pvs = [setpoint(self._foil_put(i), "out", choices=FOIL_STATES)
                         for i in range(len(self.foils))]
        for i, pv in enumerate(self.foil_pvs, start=1):
            self.pvdb[f"{base}:FOIL{i}"] = pv

    async def start(self) -> None:
        await self.refresh()

    def _choice(self, value: Any) -> Any:
        """The profile choice a put names (enum index or label, or a thickness)."""
        choices = self.device.choices
        if self.numeric:
            return float(value)
        labels = tuple(str(c) for c in choices)
        label = enum_label(value, labels)
        return choices[labels.index(label)] if label in labels else label

    async def _put(self, value: Any) -> None:
        await self.change(self._choice(value))
        raise SkipWrite()

    def _foil_put(self, index: int) -> Any:
        async def put(value: Any) -> None:
            inside = enum_label(value, FOIL_STATES) == "in"
            now = list(foil_set(float(self.device.value), self.foils))
            now[index] = inside
            await self.change(sum(f for f, on in zip(self.foils, now, strict=True) if on))
            raise SkipWrite()
        return put

    async def change(self, target: Any) -> None:
        """Drive the device to ``target``; returns when the transit is over."""
        dev, name = self.device, self.name
        try:
            dev.check_value(target)
        except LimitError as err:
            raise await self.errors.refuse(err) from None
        await self.ioc.faults.hold_if_ignored(name)
        await self.errors.report(None)
        await accept(self.setpoint, float(target) if self.numeric else str(target))
        error = await self.ioc.finish(dev.set(target))
        await self.refresh()
        self.ioc.autosave.changed(name, dev.value)
        if error is not None:
            raise await self.errors.refuse(error)

    async def refresh(self) -> None:
        value = self.device.value
        await post(self.readback, float(value) if self.numeric else str(value))
        for pv, inside in zip(self.foil_pvs, foil_set(float(value) if self.numeric else 0.0,
                                                      self.foils), strict=True):
            await post(pv, FOIL_STATES[int(inside)])
