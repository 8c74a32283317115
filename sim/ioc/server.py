"""The simulated beamline behind a caproto server: one PV group per device, one scan loop.

The server is thin: every PV maps onto an existing simulated device (a
:class:`~sim.beamline.SimBeamline` on a :class:`~expctl.clock.WallClock`), and all
of it runs on one asyncio loop, so the simulator is only ever touched from one
thread.  Put handlers act on the device and wait (in wall time, ``speed`` times
faster than the simulated clock) until its status is done; a scan loop posts
readbacks (positions while axes move, the beam, the latest shot's signals).
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

from expctl.clock import WallClock
from expctl.devices.profile import Profile
from expctl.devices.protocols import Readable, Triggerable
from expctl.devices.status import Status
from expctl.errors import ExpctlError
from sim.beamline import SimBeamline
from sim.ioc.accelerator import RequestGroup
from sim.ioc.acquire import AcquisitionGroup, SignalGroup
from sim.ioc.control import SAMPLE_KEY, ControlGroup, IocFaults
from sim.ioc.daq import DAQGroup
from sim.ioc.discrete import DiscreteGroup
from sim.ioc.motor import MotorRecord
from sim.ioc.naming import device_base
from sim.ioc.restart import Autosave, close_interrupted_runs

__all__ = ["SCAN_PERIOD", "SimIOC"]

log = logging.getLogger(__name__)

#: Wall seconds between two passes of the scan loop (readbacks posted at 20 Hz).
SCAN_PERIOD = 0.05
#: Device kinds whose main signal a kind-specific group serves.
OWN_READBACK = {"motor", "pseudo", "shutter", "switchable", "attenuator", "accelerator"}
#: Device kinds whose values come from shots.
SHOT_KINDS = {"photodiode", "beam", "mpccd"}


class SimIOC:
    """The PV database of one simulated beamline and the loop that keeps it current.

    Args:
        profile: the simulator profile (``bl3``).
        prefix: PV name prefix (``BL3:``).
        speed: simulated seconds per wall second.
        data_dir: where the facility archive and autosave live (``None``: memory only).
        seed: simulator seed (the profile's by default).
    """

    def __init__(self, profile: Profile, *, prefix: str, speed: float = 1.0,
                 data_dir: Path | None = None, seed: int | None = None) -> None:
        self.prefix = prefix
        self.speed = float(speed)
        self.data_dir = data_dir
        self.clock = WallClock(speed=self.speed)
        self.autosave = Autosave(data_dir, profile.name)
        self.interrupted_runs = ([] if data_dir is None
                                 else close_interrupted_runs(data_dir, profile.beamline))
        self.beamline = SimBeamline(self.autosave.apply(profile), self.clock,
                                    data_dir=data_dir, seed=seed)
        devices = self.beamline.devices
        self.faults = IocFaults(self.beamline.faults, {*devices, "acq", "daq"}, self.clock)
        self.sample: str | None = None
        saved = self.autosave.saved(SAMPLE_KEY)
        if isinstance(saved, str) and saved:
            self.mount(saved)  # the sample is still on the plate after a restart
        self.acquiring = False
        self.groups: list[Any] = []
        signals: list[SignalGroup] = []
        for name, spec in profile.devices.items():
            device, base = devices[name], device_base(prefix, name)
            if spec.kind in ("motor", "pseudo"):
                self.groups.append(MotorRecord(base, ioc=self, device=device, spec=spec))
            elif spec.kind in ("shutter", "switchable", "attenuator"):
                self.groups.append(DiscreteGroup(self, device, base))
            elif spec.kind == "accelerator":
                self.groups.append(RequestGroup(self, device, base))
            if isinstance(device, Readable):
                skip = {name} if spec.kind in OWN_READBACK else set()
                signals.append(SignalGroup(prefix, device, skip, spec.kind in SHOT_KINDS))
        triggerables = [d for d in devices.values() if isinstance(d, Triggerable)]
        self.acquisition = AcquisitionGroup(self, prefix, triggerables, signals)
        self.daq = DAQGroup(self, prefix)
        self.signals = signals
        self.groups += [*signals, self.acquisition, self.daq, ControlGroup(self, prefix)]
        self.pvdb: dict[str, Any] = {}
        for group in self.groups:
            self.pvdb.update(group.pvdb)

    def mount(self, sample: str) -> None:
        """Sample ``sample`` is on the (only) plate now; remembered across restarts."""
        grid, = self.beamline.spot_grids
        self.beamline.mount_sample(grid, sample)
        self.sample = sample
        self.autosave.changed(SAMPLE_KEY, sample)

    # -- time ---------------------------------------------------------------------------
    async def finish(self, status: Status, cancel: asyncio.Event | None = None
                     ) -> ExpctlError | None:
        """Wait (wall time) until ``status`` is done; its error, if it failed.

        The status' end is looked at again every scan period: a fault armed meanwhile
        may end it early.  ``cancel`` (a stop) ends the wait at once, without error.
        """
        clock = self.clock
        while True:
            now = clock.now()
            end = status.completion_time()
            if end is not None and now >= end:
                break
            if cancel is not None and cancel.is_set():
                return None
            wait = SCAN_PERIOD if end is None else min(SCAN_PERIOD, (end - now) / self.speed)
            await asyncio.sleep(max(wait, 0.0))
        try:
            status.result(clock.now())
        except ExpctlError as err:
            return err
        return None

    # -- serving -------------------------------------------------------------------------
    async def start(self) -> None:
        """Post every group's initial values (before the first client connects)."""
        for group in self.groups:
            await group.start()

    async def scan(self) -> None:
        """Keep readbacks current: axes, discrete states, requests, the latest shot."""
        while True:
            for group in self.groups:
                if self.acquiring and isinstance(group, SignalGroup) and group.shot_based:
                    continue  # the acquisition's shots are not taken yet
                try:
                    await group.refresh()
                except ExpctlError as err:  # a fault while reading: shown, never fatal
                    log.warning("refreshing %s: %s", type(group).__name__, err)
            await asyncio.sleep(SCAN_PERIOD)

    def close(self) -> None:
        """End a run left running (aborted) and flush the facility's time line."""
        self.beamline.close()
