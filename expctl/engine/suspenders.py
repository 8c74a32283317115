"""Suspenders: conditions under which taking data is pointless (no beam, a signal out of band).

The engine asks each suspender before and after data-taking actions and at
every shot block of a run.  When one trips, the engine suspends, waits until
every condition has been good for the longest ``settle`` time, re-establishes
the device state since the last checkpoint and redoes the interrupted action
(a run cut short is stopped, marked ``beamloss`` and retaken).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from expctl.devices.protocols import Device

__all__ = ["BandSuspender", "BeamSuspender", "Suspender"]


@runtime_checkable
class Suspender(Protocol):
    """A condition on the beamline; ``reason`` is ``None`` while it is good."""

    settle: float

    def reason(self, devices: Mapping[str, Device]) -> str | None: ...


@dataclass(frozen=True, slots=True)
class BandSuspender:
    """Trips while a readable signal is outside ``[low, high]`` (or not a number).

    Args:
        device: the device to read.
        signal: the signal key (defaults to the device name).
        low: lowest good value.
        high: highest good value.
        settle: seconds the signal must stay good before data taking resumes.
    """

    device: str
    low: float = -math.inf
    high: float = math.inf
    signal: str | None = None
    settle: float = 5.0

    def reason(self, devices: Mapping[str, Device]) -> str | None:
        key = self.signal or self.device
        value = devices[self.device].read()[key]  # type: ignore[attr-defined]
        try:
            v = float(value)
        except (TypeError, ValueError):
            return f"{key} reads {value!r}, not a number"
        if self.low <= v <= self.high:
            return None
        return f"{key} = {v:g} is outside {self.low:g} .. {self.high:g}"


@dataclass(frozen=True, slots=True)
class BeamSuspender:
    """Trips while the beam status signal says the beam is off (beam loss).

    Args:
        device: the beam status device (``beam``: 1 on, 0 off).
        settle: seconds of continuous beam needed before resuming.
    """

    device: str = "beam"
    settle: float = 5.0

    def reason(self, devices: Mapping[str, Device]) -> str | None:
        value = devices[self.device].read()[self.device]  # type: ignore[attr-defined]
        return None if float(value) >= 0.5 else "beam lost"
