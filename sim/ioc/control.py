"""``<prefix>SIM:``: what is special about a *simulated* IOC — faults on demand and its identity.

``SIM:FAULT`` takes a JSON object ``{"kind": ..., "target": ..., <options>}`` with the
simulator's fault kinds (see :mod:`sim.faults`) plus one only an IOC can have:
``ignore`` — puts to the target (a device, ``acq`` or ``daq``) are neither acted on
nor answered, like a hung IOC or a record that silently drops writes.  Times in the
options (``start``, ``at``) count in simulated seconds *from when the IOC takes the
fault*: a client's clock is not the IOC's.  ``SIM:CLEAR`` disarms everything (puts
held by ``ignore`` then fail).  ``SIM:SAMPLE`` names the sample on the plate (its
damage from earlier sessions comes back, new damage is kept with it, and a restarted
IOC mounts it again).  ``SIM:SPEED``, ``SIM:SEED``, ``SIM:PROFILE`` and
``SIM:DATA_DIR`` say what is being simulated, so a client can open the facility
archive the IOC writes.
"""

from __future__ import annotations

import asyncio
import json
from typing import TYPE_CHECKING, Any

from caproto import ChannelDouble, ChannelInteger, ChannelString, SkipWrite

from expctl.clock import Clock
from expctl.errors import BackendError, ExpctlError
from sim.faults import SimFaults
from sim.ioc.channels import ErrorPVs, Refused, long_string, setpoint, text

if TYPE_CHECKING:
    from sim.ioc.server import SimIOC

__all__ = ["SAMPLE_KEY", "TIME_OPTIONS", "ControlGroup", "IocFaults"]

#: Fault options that are times on the simulator's clock (sent relative to now).
TIME_OPTIONS = frozenset({"start", "at"})
#: The autosave key of the sample on the plate.
SAMPLE_KEY = "sample mounted"


class IocFaults:
    """The simulator's fault table plus the IOC-only ``ignore``."""

    def __init__(self, faults: SimFaults, targets: set[str], clock: Clock) -> None:
        self.sim = faults
        self.targets = targets
        self.clock = clock
        self.ignored: set[str] = set()
        self._release = asyncio.Event()

    def inject(self, kind: str, target: str | None = None, **options: Any) -> None:
        """Arm a fault; ``start``/``at`` are seconds from now (see the module docstring)."""
        if kind != "ignore":
            now = self.clock.now()
            for key in TIME_OPTIONS & set(options):
                options[key] = now + float(options[key])
            self.sim.inject(kind, target, **options)
            return
        if target not in self.targets:
            raise BackendError(f"fault 'ignore' cannot target {target!r}", device=target,
                               allowed=", ".join(sorted(self.targets)))
        self.ignored.add(target)
        self._release.clear()

    def clear(self) -> None:
        self.sim.clear()
        self.ignored.clear()
        self._release.set()

    async def hold_if_ignored(self, target: str) -> None:
        """Never answer a put to an ignored target (until the faults are cleared, then fail it)."""
        if target in self.ignored:
            await self._release.wait()
            raise Refused(f"{target}: the put was ignored (fault injected)")


class ControlGroup:
    """``<prefix>SIM:``."""

    def __init__(self, ioc: SimIOC, prefix: str) -> None:
        self.ioc = ioc
        p = f"{prefix}SIM:"
        self.errors = ErrorPVs(f"{prefix}SIM")
        self.pvdb: dict[str, Any] = {
            f"{p}FAULT": setpoint(self._fault, "", text=True),
            f"{p}CLEAR": setpoint(self._clear, "Done", choices=("Done", "Clear")),
            f"{p}SAMPLE": setpoint(self._sample, ioc.sample or "", text=True),
            f"{p}SPEED": ChannelDouble(value=ioc.speed, precision=3),
            f"{p}SEED": ChannelInteger(value=ioc.beamline.profile.seed),
            f"{p}PROFILE": ChannelString(value=ioc.beamline.profile.name),
            f"{p}DATA_DIR": long_string(str(ioc.data_dir or "")),
            **self.errors.pvdb}

    async def start(self) -> None:
        """Nothing to post: the identity PVs are constant."""

    async def refresh(self) -> None:
        """Nothing changes by itself."""

    async def _fault(self, value: bytes) -> bytes:
        said = text(value)
        try:
            spec = json.loads(said)
            if not isinstance(spec, dict) or "kind" not in spec:
                raise ValueError("needs a JSON object with a 'kind'")
            self.ioc.faults.inject(str(spec.pop("kind")), spec.pop("target", None), **spec)
        except ValueError as exc:
            raise await self.errors.refuse(BackendError(f"bad SIM:FAULT {said!r}: {exc}")) \
                from None
        except ExpctlError as err:
            raise await self.errors.refuse(err) from None
        await self.errors.report(None)
        return value

    async def _sample(self, value: bytes) -> bytes:
        try:
            self.ioc.mount(text(value))
        except ExpctlError as err:
            raise await self.errors.refuse(err) from None
        await self.errors.report(None)
        return value

    async def _clear(self, value: Any) -> None:
        if value in ("Clear", 1):
            self.ioc.faults.clear()
        raise SkipWrite()
