"""The simulated beamline's shared physical state and its vectorised shot model.

Devices hold their own command state (trajectories, switch times); the world
knows which device plays which role (``roles:`` in the profile) and turns the
state at a set of shot times into a :class:`~sim.shotstate.ShotState` for the
vectorised :class:`~sim.shotmodel.ShotModel`.  Randomness is keyed by (seed, tag),
so a shot is the same whichever path asks for it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from expctl.clock import Clock
from expctl.devices.profile import Profile
from expctl.devices.status import Status
from expctl.errors import (
    BackendError,
    BeamLossError,
    DetectorDropoutError,
    DeviceTimeoutError,
    LimitError,
)
from sim.facility.timeline import Timeline
from sim.faults import SimFaults
from sim.physics.beamline import Physics, timing_tool
from sim.physics.detector import DetectorModel
from sim.physics.sample import Plate
from sim.physics.source import BeamLoss
from sim.shotmodel import ShotModel, Shots, photodiode
from sim.shotstate import RoleMap, SettledState, ShotState

__all__ = ["BeamShot", "SimWorld", "Window"]

_new = object.__new__

#: called with (clock time, device) before a device changes, in the order registered
ChangeListener = Callable[[float, str], None]


class Window:
    """The shots of one detector/monitor acquisition (or the latest shot, not acquired).

    Triggers stay cheap: a window is its first beam tag, shot count and times;
    the per-shot arrays are made only if its shots are computed.  A reading
    freezes what the shots depend on (the device state at their times, the
    sample's damage record) and the shot model runs when a value is asked for;
    shots that may damage the sample run as soon as they are read or before the
    next state change, so that later shots see the damage they do.
    """

    __slots__ = ("_tags", "_times", "_timeline", "acquired", "damage", "data", "end", "first",
                 "n", "start", "state", "version")

    _timeline: Timeline
    first: int
    n: int
    start: float
    end: float
    version: int
    acquired: bool
    state: ShotState | None
    damage: dict[int, float] | None
    data: Shots | None
    _tags: np.ndarray | None
    _times: np.ndarray | None

    @classmethod
    def of(cls, timeline: Timeline, first: int, n: int, start: float, end: float,
           version: int, acquired: bool = True) -> Window:
        """The window of ``n`` shots from beam tag ``first`` (made without calling the
        class: a step scan makes one per point)."""
        w = _new(cls)
        w._timeline = timeline
        w.first, w.n, w.start, w.end = first, n, start, end
        w.version, w.acquired = version, acquired
        w.state = w.damage = w.data = w._tags = w._times = None
        return w

    @property
    def tags(self) -> np.ndarray:
        """The beam tags of the shots."""
        if self._tags is None:
            self._tags = self._timeline.beam_tags_from(self.first, self.n)
        return self._tags

    @property
    def times(self) -> np.ndarray:
        """The clock times of the shots."""
        if self._times is None:
            self._times = (np.array([self.start]) if self.n == 1
                           else self._timeline.time_of(self.tags))
        return self._times

    def sample(self, command: Any) -> Any:
        """A device command's value over the shots (a number for one shot)."""
        return command.value(self.start) if self.n == 1 else command.sample(self.times)


#: bound once (a classmethod looked up on its class makes a new bound method per call)
_new_window = Window.of
_known = Status.known


class BeamShot:
    """The latest shot as a beam-status reading sees it: its tag, and whether the beam and
    the pump were on — all its pulse energy depends on (the rest of the device state,
    which a moving axis makes costly to sample, is not frozen for it)."""

    __slots__ = ("beam_on", "energy", "pump_on", "tag", "version")

    def __init__(self, tag: int, version: int, beam_on: bool, pump_on: Any) -> None:
        self.tag, self.version, self.beam_on, self.pump_on = tag, version, beam_on, pump_on
        self.energy: float | None = None


class _Commands(Mapping[str, Any]):
    """Live view name -> the device's current command (no copying per shot-model call)."""

    def __init__(self, devices: Mapping[str, Any]) -> None:
        self._devices = devices

    def __getitem__(self, name: str) -> Any:
        return self._devices[name].command

    def __iter__(self) -> Any:
        return (n for n, d in self._devices.items() if hasattr(d, "command"))

    def __len__(self) -> int:
        return sum(1 for _ in self)


class SimWorld:
    """Shared state of one simulated beamline: complete once constructed.

    Everything the shot model needs comes from the profile: the physics, the sample
    plate, the detector models and the role table.  Devices register into
    :attr:`devices` after (the state is read from them by name, when shots are
    taken); whoever must see shots before a state change (the DAQ, the state
    recorder) registers a :data:`ChangeListener` in :attr:`change_listeners`.
    """

    def __init__(self, profile: Profile, clock: Clock, timeline: Timeline, seed: int) -> None:
        self.profile = profile
        self.clock = clock
        self.timeline = timeline
        self.seed = seed
        self.physics = Physics.from_profile(profile)
        self.attenuation = self.physics.attenuation
        self.beam_loss = BeamLoss(seed, self.physics.beam_loss_rate_per_hour,
                                  self.physics.beam_loss_mean_duration_s)
        self.faults = SimFaults({n: s.kind for n, s in profile.devices.items()}, clock,
                                self.beam_loss, timeline.offset_ticks / timeline.tag_rate_hz)
        self.gate_shutter = profile.daq.gate_shutter
        self.require_beam = profile.daq.require_beam
        self.timeout_margin = profile.daq.timeout_margin
        self.roles = profile.roles
        self.devices: dict[str, Any] = {}
        self.change_listeners: list[ChangeListener] = []
        self.plate = _plate(profile)
        self.detector_models = [
            DetectorModel.from_options(spec.name, spec.options, self.physics.pair_energy_ev,
                                       self.physics.si_photo)
            for spec in profile.devices.values() if spec.kind == "mpccd"]
        self.model = ShotModel(self.physics, photodiode(profile, self.physics),
                               self.detector_models, seed, timeline.divider, self.gate_shutter,
                               float(timeline.unix(0.0)), timing_tool(profile))
        self.role_map = RoleMap.from_profile(profile, self.plate.x_axis, self.plate.y_axis)
        self._version = 0
        self._window: Window | None = None
        self._asked = -math.inf  # clock time of the last trigger (simultaneous ones share it)
        # the last acquisition's window and status (simultaneous triggers share them)
        self._acquiring: Window | None = None
        self._acquisition = Status.done("acquisition", 0.0)
        self._current: Window | None = None
        self._beam_shot: BeamShot | None = None
        self._facility_offset = timeline.offset_ticks / timeline.tag_rate_hz
        self._commands = _Commands(self.devices)
        self._settled = SettledState(self.role_map, self.devices)
        self._role_index = {n: i for i, n in enumerate(self.role_map.names)}

    def detector_model(self, name: str) -> DetectorModel:
        """The model of detector ``name`` (an ``mpccd`` device of the profile)."""
        return next(m for m in self.detector_models if m.name == name)

    def commands(self) -> Mapping[str, Any]:
        """Every stateful device's current command (trajectory or step), by name."""
        return self._commands

    # -- wiring -------------------------------------------------------------------------
    def role(self, role: str) -> Any:
        """The device playing ``role`` (``theta``, ``shutter`` …), per the profile's roles."""
        name = getattr(self.roles, role, None)
        if not isinstance(name, str) or name not in self.devices:
            raise BackendError(f"profile {self.profile.name}: no device for role {role!r}",
                               hint="add it under 'roles:' in the profile")
        return self.devices[name]

    def before_change(self, device: str) -> None:
        """Called by a device about to change: shots up to now are taken with the old state."""
        now = self.clock.now()
        for listener in self.change_listeners:
            listener(now, device)
        w = self._window
        if w is not None and w.data is None and w.state is None:  # (not read, not run)
            self._expose_window()
        self._version += 1
        if (i := self._role_index.get(device)) is not None:
            self._settled.changing(i)

    # -- small queries ------------------------------------------------------------------------
    def probe_energy_kev(self) -> float:
        return float(self.role("energy").position)

    def beam_on_now(self) -> bool:
        """Whether the beam is on now (outside every beam-loss episode: start <= t < end)."""
        return self._beam_on_at(self.clock.now())

    def _beam_on_at(self, t: float) -> bool:
        """Whether the beam is on at clock time ``t`` (the episodes are in facility time)."""
        at = t + self._facility_offset
        return self.beam_loss.first_loss(at, at) is None

    # -- the shot model -------------------------------------------------------------------------
    def state(self, times: np.ndarray) -> ShotState:
        """The device state at increasing clock ``times`` (floats where constant)."""
        if len(times) == 1:
            return self.state_at(float(times[0]))
        offset = self._facility_offset
        if self.beam_loss.first_loss(float(times[0]) + offset,
                                     float(times[-1]) + offset) is None:
            beam_on: Any = True
        else:
            beam_on = self.beam_loss.beam_on(times + offset)
        return self.role_map.state(self.commands(), times, beam_on)

    def state_at(self, t: float) -> ShotState:
        """The device state of one shot at clock time ``t``, in plain numbers."""
        on = self._beam_on_at(t)
        state = self._settled.at(t, on)
        return state if state is not None else self.role_map.state(self.commands(), [t], on)

    def shots(self, times: np.ndarray, tags: np.ndarray, *, acquired: bool) -> Shots:
        """Every per-shot quantity of the shots at clock ``times`` with ``tags``.

        ``acquired`` shots pass the pulse picker (they expose the sample and are
        recorded); others are seen only by the upstream monitors.  Pumped,
        acquired shots damage their spot (recorded in the plate).
        """
        times = np.asarray(times, dtype=np.float64)
        tags = np.asarray(tags, dtype=np.int64)
        return self.model.shots(tags, times, self.state(times), acquired=acquired,
                                plate=self.plate, plain=len(times) == 1)

    # -- acquisitions -------------------------------------------------------------------
    def trigger(self, device: str, shots: int) -> Status:
        """Acquire the next ``shots`` beam shots for ``device`` (shared by simultaneous ones)."""
        n = int(shots)
        if n < 1:
            raise LimitError(f"{device} cannot integrate {shots} shots", device=device,
                             allowed="1 or more shots")
        now = self.clock.now()
        window = self._window
        if window is None or self._asked != now or window.n != n:
            tl = self.timeline
            first, start = tl.next_beam_shot(now)
            if window is None or window.first != first or window.n != n:
                if window is not None and window.data is None and window.state is None:
                    self._expose_window()  # (a read froze it: nothing to expose)
                end = start if n == 1 else tl.time_of_tag(first + tl.divider * (n - 1))
                window = self._window = _new_window(tl, first, n, start, end, self._version)
            self._asked = now
        end = window.end
        faults = self.faults
        if faults.armed or faults.dropouts:
            failed = self._trigger_fault(device, now, end)
            if failed is not None:
                return failed
        elif self._acquiring is window and (shared := self._acquisition).started == now:
            return shared  # a simultaneous trigger: the same acquisition, one status
        if self.require_beam:
            offset = self._facility_offset
            if self.beam_loss.first_loss(window.start + offset, end + offset) is not None:
                times = window.times
                lost = int(np.nonzero(~self.beam_loss.beam_on(times + offset))[0][0])
                when = max(now, float(times[lost]))
                return Status(device, now, when, error=BeamLossError(
                    f"no X-ray beam during the {device} acquisition "
                    f"(tag {int(window.tags[lost])})",
                    device=device, hint="Wait for the beam to return, then repeat."))
        self._acquiring = window  # (not kept by the window: readings keep windows)
        self._acquisition = _known(device, now, end, end - now + self.timeout_margin)
        return self._acquisition

    def _trigger_fault(self, device: str, now: float, end: float) -> Status | None:
        """The status of an acquisition an armed fault spoils (timeout, dropout), if any."""
        faults = self.faults
        if faults.armed and (fault := faults.take("timeout", device)) is not None:
            after = float(fault.get("after", 10.0))
            return Status(device, now, now + after, error=DeviceTimeoutError(
                f"{device} did not deliver within {after:g} s", device=device))
        if faults.dropouts and (drop := faults.dropout_time([device])) is not None \
                and drop[1] <= end:
            when = max(now, drop[1])
            return Status(device, now, when, error=DetectorDropoutError(
                f"{device} stopped delivering frames", device=device,
                hint="Check the detector DAQ; clear the fault to continue."))
        return None

    def _freeze(self, w: Window) -> ShotState:
        """Fix what the window's shots depend on as it is now (before anything changes)."""
        state = w.state
        if state is None:
            state = w.state = self.state_at(w.start) if w.n == 1 else self.state(w.times)
            w.damage = self.plate.damaged_at
        return state

    def shots_of(self, w: Window) -> Shots:
        """The shots of window ``w`` (computed once, from its frozen inputs)."""
        data = w.data
        if data is None:
            state = self._freeze(w)
            data = w.data = self.model.shots(w.tags, w.times, state, acquired=w.acquired,
                                             plate=self.plate, plain=w.n == 1, damage=w.damage)
        return data

    def _expose_window(self) -> None:
        """Before the state moves on: run the pending window's shots if they can damage."""
        w = self._window
        if w is None or w.data is not None or w.state is not None:
            return  # (a frozen window that may damage was run when it was read)
        rm, devices = self.role_map, self.devices
        pump_on = w.sample(devices[rm.pump].command) == rm.on_code
        if pump_on is False or not np.any(pump_on):
            return
        if np.any(w.sample(devices[rm.shutter].command) == rm.open_index):
            self.shots_of(w)

    def latest_window(self) -> Window:
        """The window a reading covers now, its inputs frozen: the last acquisition if
        nothing changed since, else the latest shot.  Shots that may damage the sample
        run now (later shots must see the damage)."""
        w = self._window
        if w is None or w.version != self._version:
            tl = self.timeline
            tag = tl.tag_at(self.clock.now())
            tag -= tag % tl.divider
            w = self._current
            if w is None or w.first != tag or w.version != self._version:
                start = tl.time_of_tag(tag)
                w = self._current = _new_window(tl, tag, 1, start, start, self._version,
                                           acquired=False)
        if w.state is None:
            st = self._freeze(w)
            if w.acquired and not (st.beam_on is False or st.shutter_open is False
                                   or st.pump_on is False):
                self.shots_of(w)  # pumped shots may damage their spot: made now
        return w

    def latest_beam(self) -> Window | BeamShot:
        """What a pulse-energy reading now averages: the window :meth:`latest_window`
        gives if it is an acquisition's or frozen already (another device read it), else
        the latest shot as a :class:`BeamShot` (a suspender reads the pulse energy at
        every checkpoint, often while an axis moves)."""
        w = self._window
        if w is not None and w.version == self._version:
            return self.latest_window()
        tl = self.timeline
        tag = tl.tag_at(self.clock.now())
        tag -= tag % tl.divider
        w = self._current
        if w is not None and w.first == tag and w.version == self._version:
            return self.latest_window()
        shot = self._beam_shot
        if shot is None or shot.tag != tag or shot.version != self._version:
            t = tl.time_of_tag(tag)  # the shot's time and state as state_at() sees them
            rm = self.role_map
            pump_on = self._commands[rm.pump].value(t) == rm.on_code
            shot = self._beam_shot = BeamShot(tag, self._version, self._beam_on_at(t), pump_on)
        return shot

    def pulse_energy(self, source: Window | BeamShot) -> float:
        """The mean FEL pulse energy (uJ) of the shots of ``source`` (see :meth:`latest_beam`)."""
        if isinstance(source, Window):
            return self.shots_of(source).mean("beam/pulse_energy")
        if source.energy is None:
            source.energy = self.model.pulse_energy_of_shot(source.tag, source.beam_on,
                                                            source.pump_on)
        return source.energy

    def latest_shots(self) -> Shots:
        """Shots of the last acquisition if nothing changed since, else the latest shot."""
        return self.shots_of(self.latest_window())


def _plate(profile: Profile) -> Plate:
    """The sample plate of the profile's one spot grid."""
    grids = profile.spot_grids
    if len(grids) != 1:
        raise BackendError(f"profile {profile.name}: the simulator models one sample "
                           f"plate; give exactly one spot grid (got {len(grids)})")
    (grid,) = grids.values()
    return Plate.from_profile(profile.seed, grid.as_dict(), profile.physics.get("sample", {}))
