"""A beamline reached over EPICS Channel Access (implements ``expctl.devices.Beamline``)."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from expctl.clock import Clock, VirtualClock
from expctl.devices.profile import Profile
from expctl.devices.protocols import Beamline, Device, FacilityArchive, Readable, SpotGrid
from expctl.devices.pseudo import LinearPseudoAxis
from expctl.devices.registry import BackendRegistry
from expctl.epics.acquire import AcquisitionGate, EpicsDetector
from expctl.epics.ca import Channel, ChannelSet
from expctl.epics.daq import EpicsDAQ
from expctl.epics.devices import EpicsMonitor, EpicsMotor, EpicsRequest, EpicsSwitch
from expctl.epics.link import Link, Watchdog
from expctl.epics.recovery import LinkSuspender, Reconnector
from expctl.epics.wiring import Wiring
from expctl.errors import BackendError, DisconnectedError, ExpctlError

__all__ = ["EpicsBeamline", "EpicsFaults"]

KIND_CLASSES: dict[str, Any] = {
    "motor": EpicsMotor, "shutter": EpicsSwitch, "switchable": EpicsSwitch,
    "attenuator": EpicsSwitch, "accelerator": EpicsRequest, "photodiode": EpicsMonitor,
    "beam": EpicsMonitor, "mpccd": EpicsMonitor,
}


#: Fault options that are times on the session clock; the IOC takes them relative to now.
TIME_OPTIONS = ("start", "at")


class EpicsFaults:
    """Fault injection through a simulated IOC's ``SIM:FAULT`` PV (none on real beamlines).

    Times (``start``, ``at``) are sent as seconds from now: the IOC's clock has another
    zero than the session's, and both run at the same speed.
    """

    def __init__(self, link: Link, profile: str) -> None:
        self._link = link
        self._profile = profile
        roles = link.settings.faults
        self._inject = link.channel(roles.get("inject"))
        self._clear = link.channel(roles.get("clear"))
        self._message = link.channel(roles.get("message"))

    def _require(self) -> Channel:
        if self._inject is None:
            raise BackendError(f"beamline {self._profile} takes no injected faults: it is a "
                               "real control system", hint="Rehearse faults on the simulator.")
        return self._inject

    def inject(self, kind: str, target: str | None = None, **options: Any) -> None:
        channel = self._require()
        now = self._link.clock.now()
        options.update({k: float(options[k]) - now for k in TIME_OPTIONS if k in options})
        try:
            channel.put_wait(json.dumps({"kind": kind, "target": target, **options}),
                                  self._link.settings.ack_timeout * 4)
        except DisconnectedError:
            raise
        except ExpctlError:
            said = (self._message.get(self._link.settings.ack_timeout)
                    if self._message is not None else "")
            raise BackendError(said or f"the IOC refused the fault {kind!r}",
                               device=target) from None

    def clear(self) -> None:
        self._require()
        if self._clear is not None:
            self._clear.put_wait("Clear", self._link.settings.ack_timeout * 4)


class EpicsBeamline:
    """Devices, DAQ, spot grids and (on a simulated IOC) the facility archive, over CA.

    Args:
        profile: the epics profile.
        clock: the session clock (a wall clock).
        wiring: the profile's PV wiring.
        channels: its connected channels.
        registry: finds the twin profile and the backend that opens the archive.
        data_dir: the session's data directory.
    """

    def __init__(self, profile: Profile, clock: Clock, wiring: Wiring, channels: ChannelSet,
                 registry: Callable[[], BackendRegistry], *, data_dir: Path | None) -> None:
        self.profile = profile
        self.clock = clock
        self.data_dir = data_dir
        self._registry = registry
        self._link = Link(channels, clock, wiring.settings, Watchdog())
        self._samples = {grid: channels[pv] for grid, pv in wiring.samples.items()}
        self._reconnector = Reconnector(channels, self._link.watchdog)
        self.devices: dict[str, Device] = {}
        self.daq = EpicsDAQ(self._link, wiring.daq, profile.beamline)
        gates: dict[str, AcquisitionGate] = {}
        for name, spec in profile.devices.items():
            wired = wiring.devices[name]
            if wired.trigger is not None:
                pv = wired.trigger["pv"]
                gate = gates.get(pv) or gates.setdefault(
                    pv, AcquisitionGate(self._link, dict(wired.trigger), self.daq.rate_hz))
                self.devices[name] = EpicsDetector(spec, wired, self._link, gate)
            elif spec.kind != "pseudo":
                self.devices[name] = KIND_CLASSES[spec.kind](spec, wired, self._link)
        for name, spec in profile.devices.items():
            if spec.kind == "pseudo":
                self.devices[name] = self._pseudo(name)
        self.faults = EpicsFaults(self._link, profile.name)
        self.spot_grids: Mapping[str, SpotGrid] = {
            name: SpotGrid.on_plate(g.x_axis, g.y_axis, tuple(g.options["plate_mm"]),
                                    float(g.options["pitch_mm"]), float(g.options["margin_mm"]))
            for name, g in profile.spot_grids.items()}
        self.archive = self._open_archive()

    def _pseudo(self, name: str) -> LinearPseudoAxis:
        spec = self.profile.devices[name]
        comps = {axis: (self.devices[axis], float(c["scale"]), float(c.get("offset", 0.0)))
                 for axis, c in dict(spec.options.get("components", {})).items()}
        return LinearPseudoAxis(name, spec.units, comps, self.clock,  # type: ignore[arg-type]
                                spec.limits, spec.access)

    def _open_archive(self) -> FacilityArchive | None:
        """The facility archive a simulated IOC writes (it names its data directory)."""
        pv = self._link.settings.archive_pv
        twin = self._link.settings.twin
        if pv is None or twin is None:
            return None
        folder = self._link.channels[pv].get(self._link.settings.ack_timeout * 4)
        registry = self._registry()
        backend = registry.get(registry.find_profile(twin).backend)
        opener = getattr(backend, "open_archive", None)
        return None if not folder or opener is None else opener(Path(folder))

    # -- Beamline protocol ---------------------------------------------------------------
    def mount_sample(self, grid: str, name: str) -> None:
        """Tell the control system which sample is on ``grid`` (the grid's ``sample_pv``:
        a simulated IOC restores that sample's damage); without one there is nothing to do."""
        if grid not in self.spot_grids:
            raise BackendError(f"no spot grid {grid!r} on {self.profile.name}",
                               allowed=", ".join(self.spot_grids))
        channel = self._samples.get(grid)
        if channel is None:
            return
        try:
            channel.put_wait(name, self._link.settings.ack_timeout * 4)
        except DisconnectedError:
            raise
        except ExpctlError as err:
            raise BackendError(f"the control system did not take sample {name!r} on {grid} "
                               f"({channel.name}: {err.message})", device=grid) from None

    def conditions(self) -> tuple[LinkSuspender]:
        """What data taking needs from this backend: every PV connected and fresh."""
        return (LinkSuspender(self._link.channels, self._link.settings.settle),)

    def estimator_copy(self) -> Beamline:
        """The simulated twin (``twin:`` in the profile) in the state read from the devices."""
        twin_name = self._link.settings.twin
        if twin_name is None:
            raise BackendError(f"profile {self.profile.name} names no simulated twin, so "
                               "nothing can be rehearsed", hint="Add `twin: <sim profile>`.")
        registry = self._registry()
        twin = registry.find_profile(twin_name).with_seed(self.profile.seed)
        state: dict[str, Any] = {}
        for name, device in self.devices.items():
            if isinstance(device, Readable) and name in twin.devices:
                try:
                    state[name] = device.read()[name]
                except (ExpctlError, KeyError):
                    continue  # a device unreadable now starts from the twin's own value
        clock = VirtualClock(self.clock.now(), self.clock.epoch)
        return registry.connect(twin.with_initial(state), clock, data_dir=None)

    def close(self) -> None:
        """End a run left running (aborted), then drop the connections."""
        try:
            if self.daq.running is not None:
                self.daq.stop_run(aborted=True)
        finally:
            self._link.watchdog.close()
            self._link.channels.close()

    def __repr__(self) -> str:
        return f"EpicsBeamline({self.profile.name!r}, {len(self.devices)} devices)"
