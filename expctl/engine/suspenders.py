"""Suspenders: conditions under which taking data is pointless (no beam, a signal out of band).

The engine asks each suspender before and after data-taking actions and at
every shot block of a run.  When one trips, the engine suspends, waits until
every condition has been good for the longest ``settle`` time, re-establishes
the device state since the last checkpoint and redoes the interrupted action
(a run cut short is stopped, marked with the suspender's ``outcome`` — ``beamloss``
unless it names another, such as ``disconnected`` — and retaken).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol, cast, runtime_checkable

from expctl.devices.profile import SuspenderSpec
from expctl.devices.protocols import Beamline, Device, Readable, Supervised
from expctl.errors import BackendError, ConditionLostError

__all__ = ["CUT_OUTCOME", "BandSuspender", "BeamSuspender", "Suspender", "backend_conditions",
           "condition", "suspenders_from_profile"]

#: The outcome of a run a suspender cut, unless the suspender has an ``outcome`` of its own.
CUT_OUTCOME = "beamloss"


@runtime_checkable
class Suspender(Protocol):
    """A condition on the beamline; ``reason`` is ``None`` while it is good.

    A suspender may also have ``outcome``: the word a run it cuts is marked with
    (:data:`CUT_OUTCOME` otherwise).
    """

    @property
    def settle(self) -> float:
        """Seconds the condition must hold again before data taking resumes."""
        ...

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
        units: the signal's units (for messages).
    """

    device: str
    low: float = -math.inf
    high: float = math.inf
    signal: str | None = None
    settle: float = 5.0
    units: str = ""

    def reason(self, devices: Mapping[str, Device]) -> str | None:
        key = self.signal or self.device
        value = _reading(devices, self.device, key)
        try:
            v = float(value)
        except (TypeError, ValueError):
            return f"{key} reads {value!r}, not a number"
        if self.low <= v <= self.high:
            return None
        u = f" {self.units}" if self.units else ""
        if v < self.low:
            return f"{key} {v:.4g}{u} below {self.low:g}{u}"
        return f"{key} {v:.4g}{u} above {self.high:g}{u}"


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
        value = _reading(devices, self.device, self.device)
        return None if float(value) >= 0.5 else "no beam"


def condition(suspender: Suspender, devices: Mapping[str, Device]) -> tuple[str | None, str]:
    """Why ``suspender`` trips (None: it holds), and the outcome of a run it cuts.  A
    condition that cannot be read (its device disconnected) does not hold either."""
    try:
        return suspender.reason(devices), getattr(suspender, "outcome", CUT_OUTCOME)
    except ConditionLostError as err:
        return err.message, err.outcome


def _reading(devices: Mapping[str, Device], device: str, key: str) -> Any:
    """Signal ``key`` of ``device`` now (readable: checked when the suspender was made, and
    not again on every poll — protocol checks are slow)."""
    return cast(Readable, devices[device]).read()[key]


def suspenders_from_profile(specs: Iterable[SuspenderSpec],
                            devices: Mapping[str, Device]) -> list[Suspender]:
    """The suspenders a profile's ``suspenders:`` section declares, checked against the
    connected devices (each must be readable and give its signal)."""
    out: list[Suspender] = []
    for spec in specs:
        dev = devices.get(spec.device)
        if not isinstance(dev, Readable):
            raise BackendError(f"suspender {spec.name!r}: {spec.device} is not a readable "
                               "device of this beamline", device=spec.device)
        key = spec.signal or spec.device
        if key not in dev.describe():
            raise BackendError(f"suspender {spec.name!r}: {spec.device} has no signal {key!r}",
                               device=spec.device, allowed=", ".join(dev.describe()))
        if spec.kind == "beam":
            out.append(BeamSuspender(spec.device, spec.settle))
        else:
            out.append(BandSuspender(spec.device, spec.low, spec.high, spec.signal, spec.settle,
                                     spec.units))
    return out


def backend_conditions(beamline: Beamline) -> tuple[Any, ...]:
    """What the beamline's backend says data taking needs (an EPICS link up), as
    suspenders: a cut run is retaken once they hold again."""
    return tuple(beamline.conditions()) if isinstance(beamline, Supervised) else ()
