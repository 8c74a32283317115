"""A simulated beamline built from a profile: devices, DAQ, facility archive, faults."""

from __future__ import annotations

import copy
import errno
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from expctl.clock import Clock, VirtualClock
from expctl.devices.profile import DeviceSpec, Profile
from expctl.devices.protocols import Device, SpotGrid
from expctl.devices.pseudo import LinearPseudoAxis
from expctl.errors import BackendError
from expctl.paths import DataDir
from sim.devices.accelerator import SimAcceleratorParameter
from sim.devices.daq import SimDAQ
from sim.devices.detector import SimMPCCD
from sim.devices.discrete import SimAttenuator, SimSwitch
from sim.devices.monitors import SimBeamMonitor, SimPhotodiode, SimTimingTool
from sim.devices.motor import SimMotor
from sim.facility.archive import SimArchive
from sim.facility.samples import DamageStore
from sim.facility.states import StateRecorder
from sim.facility.store import FacilityStore
from sim.facility.timeline import Timeline
from sim.faults import SimFaults
from sim.world import SimWorld

__all__ = ["DEVICE_KINDS", "SimBeamline"]

DEVICE_KINDS = {
    "motor": SimMotor,
    "shutter": SimSwitch,
    "switchable": SimSwitch,
    "attenuator": SimAttenuator,
    "photodiode": SimPhotodiode,
    "beam": SimBeamMonitor,
    "timing_tool": SimTimingTool,
    "accelerator": SimAcceleratorParameter,
}


class SimBeamline:
    """The simulated beamline of one profile (implements ``expctl.devices.Beamline``).

    Args:
        profile: the beamline profile.
        clock: the session clock every device acts on.
        data_dir: data directory; the facility lives in ``<data_dir>/facility``.
            ``None`` keeps the facility in memory.
        seed: overrides the profile seed.
    """

    def __init__(self, profile: Profile, clock: Clock, *, data_dir: Path | None,
                 seed: int | None = None) -> None:
        if seed is not None:
            profile = profile.with_seed(int(seed))
        self.profile = profile
        self.clock = clock
        self.data_dir = data_dir
        fac = dict(profile.facility)
        tag_rate = float(fac.get("tag_rate_hz", 60.0))
        self._store, (tag0, start_tick, origin) = _open_facility(
            data_dir, clock.epoch + clock.now(), tag_rate)
        timeline = Timeline(tag0, start_tick - math.floor(clock.now() * tag_rate + 1e-6),
                            origin, tag_rate, profile.daq.rate_hz)
        world = SimWorld(profile, clock, timeline, profile.seed)
        self._world = world
        self.devices: dict[str, Device] = {}
        for name, spec in profile.devices.items():
            self.devices[name] = self._build(spec, world)
            world.devices[name] = self.devices[name]
        for name, spec in profile.devices.items():
            if spec.kind == "pseudo":
                self.devices[name] = world.devices[name] = self._pseudo(spec)
        (grid_name,) = profile.spot_grids
        self.spot_grids: Mapping[str, SpotGrid] = {grid_name: world.plate.grid()}
        equipment, units = self._equipment()
        self._store.register_equipment(units)
        meta = {"seed": profile.seed, "profile": profile.name,
                "pair_energy_ev": world.physics.pair_energy_ev,
                "detectors": {m.name: dict(profile.devices[m.name].options)
                              for m in world.detector_models}}
        hightag = int(fac.get("hightag", 202601))
        self._recorder = StateRecorder(world, self._store, equipment, hightag)
        self.daq = SimDAQ(world, self._store, self._recorder, meta, hightag,
                          int(fac.get("station", 1)))
        # shots up to a change are taken with the old state, then the change is recorded
        world.change_listeners += [self.daq.state_changing, self._recorder.change]
        world.faults.listeners.append(self.daq.fault_injected)
        self.archive = SimArchive(self._store)
        self._damage = DamageStore(None if data_dir is None else Path(data_dir) / "facility")
        self.sample: str | None = None

    # -- construction -------------------------------------------------------------------
    def _build(self, spec: DeviceSpec, world: SimWorld) -> Any:
        if spec.kind == "mpccd":
            return SimMPCCD(spec, world, world.detector_model(spec.name))
        if spec.kind == "pseudo":
            return None
        cls = DEVICE_KINDS.get(spec.kind)
        if cls is None:
            raise BackendError(f"profile {self.profile.name}: device {spec.name!r} has kind "
                               f"{spec.kind!r}", device=spec.name,
                               allowed=", ".join([*DEVICE_KINDS, "mpccd", "pseudo"]))
        return cls(spec, world)

    def _pseudo(self, spec: DeviceSpec) -> LinearPseudoAxis:
        comps = {}
        for axis, c in dict(spec.options.get("components", {})).items():
            comps[axis] = (self.devices[axis], float(c["scale"]), float(c.get("offset", 0.0)))
        return LinearPseudoAxis(spec.name, spec.units, comps, self.clock, spec.limits,
                                spec.access)

    def _equipment(self) -> tuple[dict[str, str], dict[str, str]]:
        """Sync-DB equipment name -> shot-model column, and -> units."""
        columns: dict[str, str] = {}
        units: dict[str, str] = {}
        world = self._world
        for name, spec in self.profile.devices.items():
            if not spec.equipment:
                continue
            if spec.kind == "photodiode":
                columns[spec.equipment] = "pd_i0"
            elif spec.kind == "beam":
                columns[spec.equipment] = "_beam"
                extra = spec.options.get("pulse_energy_equipment")
                if extra:
                    columns[str(extra)] = "beam/pulse_energy"
                    units[str(extra)] = "uJ"
            else:
                columns[spec.equipment] = f"_state/{name}"
            units[spec.equipment] = spec.units
        del world
        return columns, units

    # -- Beamline protocol ---------------------------------------------------------------
    @property
    def faults(self) -> SimFaults:
        return self._world.faults

    @property
    def world(self) -> SimWorld:
        """The shared physical state (for tests and the truth module)."""
        return self._world

    def mount_sample(self, grid: str, name: str) -> None:
        """Sample ``name`` is on the plate now: its damage from earlier sessions is back,
        and new damage is kept for the next one."""
        if grid not in self.spot_grids:
            raise BackendError(f"no spot grid {grid!r} on {self.profile.name}",
                               allowed=", ".join(self.spot_grids))
        plate = self._world.plate
        plate.damaged_at = dict.fromkeys(self._damage.load(name), -math.inf)
        plate.on_damage = self._keep_damage
        self.sample = name

    def _keep_damage(self) -> None:
        if self.sample is not None:
            self._damage.save(self.sample, self._world.plate.damaged_at)

    def estimator_copy(self) -> SimBeamline:
        """A twin in the same state on a VirtualClock at the same reading, persisting nothing."""
        memo: dict[int, Any] = {
            id(self.clock): VirtualClock(self.clock.now(), self.clock.epoch),
            id(self._store): self._store.memory_twin(),
            id(self.profile): self.profile,
            id(self._world.physics): self._world.physics,  # frozen (and its tables are large)
        }
        for model in self._world.detector_models:
            memo[id(model)] = model  # immutable apart from its pedestal cache
        noise = self._world.model.noise
        memo[id(noise)] = noise  # a cache of pure functions of (seed, tag): shared
        twin = copy.deepcopy(self, memo)
        twin.data_dir = None
        twin._recorder.reopen(twin._store)
        twin.faults.clear()  # a rehearsal predicts the nominal case, not a rehearsed fault
        twin.world.plate.on_damage = None  # and leaves the sample's record alone
        return twin

    def close(self) -> None:
        """Stop a run left running (aborted) and record how far facility time got."""
        if self.daq.running is not None:
            self.daq.stop_run(aborted=True)
        self._recorder.flush(self.clock.now())

    def __repr__(self) -> str:
        return f"SimBeamline({self.profile.name!r}, {len(self.devices)} devices)"


def _open_facility(data_dir: Path | None, now_unix: float, tag_rate: float
                   ) -> tuple[FacilityStore, tuple[int, int, float]]:
    """The data directory's facility store, with a session opened on it.

    An archive this process may not write (another account's, a read-only mount)
    is simulated on from a memory twin: where-all and rehearsals work and nothing
    is written; taking runs fails where expctl logs them, with a clear message.
    """
    if data_dir is None:
        store = FacilityStore(None)
        return store, store.open_session(now_unix, tag_rate)
    root = DataDir(data_dir).facility
    try:
        store = FacilityStore(root)
        return store, store.open_session(now_unix, tag_rate)
    except OSError as exc:
        if exc.errno not in (errno.EACCES, errno.EPERM, errno.EROFS):
            raise
    twin = FacilityStore(root, create=False).memory_twin()
    return twin, twin.open_session(now_unix, tag_rate)
