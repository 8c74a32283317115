"""The state time line: what the beamline's devices were doing at every moment of a session.

The facility's synchronous DB holds a value for *every* shot, in runs or not.
Every such value is a pure function of (seed, tag, device state), so instead of
storing values the simulator records the state: one row per interval of
constant device commands (motor trajectories, switch steps), written by
:class:`StateRecorder` and replayed by :class:`StateReplay`, which evaluates any
equipment for any tags of the session in a few whole-array operations.

Per session, under ``<data_dir>/facility/bl<N>/states/``::

    <key>.json          header: time line, seed, devices, equipment, beam-loss episodes,
                        first and last tag reached (rewritten atomically)
    <key>.profile.json  the session's beamline profile (physics of the replay)
    <key>.f64           rows of float64: [t_from, t_reached, 5 numbers per device ...],
                        appended; a later row with the same t_from supersedes an earlier
                        one, and the largest t_reached is how far the session has got
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from expctl.devices.profile import Profile
from sim.devices.motor import positions
from sim.facility.timeline import Timeline
from sim.physics.beamline import Physics
from sim.physics.source import BeamLoss
from sim.shotmodel import ShotModel, photodiode
from sim.shotstate import RoleMap

if TYPE_CHECKING:
    from sim.facility.store import FacilityStore
    from sim.world import SimWorld

__all__ = ["ROW", "StateRecorder", "StateReplay"]

ROW = 5  # numbers per device command (Trajectory.row / Step.row)
_BUFFERED = 4096  # state intervals kept in memory before they are appended


class StateRecorder:
    """Records a live world's device commands as rows of the facility's state time line.

    Args:
        world: the live world (devices, timeline, beam loss).
        store: the facility store to write to.
        equipment: sync-DB equipment name -> shot-model column.
        hightag: the facility high tag of this session's tags.
    """

    def __init__(self, world: SimWorld, store: FacilityStore, equipment: Mapping[str, str],
                 hightag: int) -> None:
        self._world = world
        self._store = store
        self._names = [n for n, d in world.devices.items() if hasattr(d, "command")]
        tl = world.timeline
        self.beamline = world.profile.beamline
        self.key = f"{tl.offset_ticks:012d}"
        recorded = {n: world.devices[n].recorded_table.tolist() for n in self._names
                    if hasattr(world.devices[n], "recorded_table")}
        self._header: dict[str, Any] = {
            "tag0": tl.tag0, "offset_ticks": tl.offset_ticks, "origin_unix": tl.origin_unix,
            "tag_rate_hz": tl.tag_rate_hz, "beam_rate_hz": tl.beam_rate_hz,
            "start_tag": tl.tag_at(0.0), "hightag": hightag,
            "seed": world.seed,
            "devices": [[n, type(world.devices[n].command).__name__] for n in self._names],
            "recorded": recorded, "equipment": dict(equipment),
            "beam_loss": {"rate_per_hour": world.beam_loss.rate_per_hour,
                          "mean_duration_s": world.beam_loss.mean_duration_s, "injected": []},
        }
        self._since = 0.0
        self._devices = [world.devices[n] for n in self._names]
        self._index = {n: i for i, n in enumerate(self._names)}
        self._commands = [d.command for d in self._devices]
        #: the commands' numbers at the start of the buffered intervals
        self._numbers = np.asarray([x for c in self._commands for x in c.row()], dtype=np.float64)
        self._announced: list[int] = []
        # the intervals closed since the last flush, as [since, reached, since, reached …],
        # and the commands that changed: first interval, device index and the command's
        # numbers (flat, ROW per change: plain numbers, nothing for the collector to visit)
        self._spans: list[float] = []
        self._change_at: list[int] = []
        self._change_device: list[int] = []
        self._change_rows: list[float] = []
        store.open_states(self.beamline, self.key, self._header, world.profile)

    def _refresh(self) -> None:
        """Ask the devices that announced a change for their command again."""
        pending = []
        interval = len(self._spans) // 2  # the interval about to close
        commands = self._commands
        for i in self._announced:
            command = self._devices[i].command
            if command is commands[i]:  # announced, not made yet
                pending.append(i)
                continue
            commands[i] = command
            self._change_at.append(interval)
            self._change_device.append(i)
            self._change_rows += command.row()
        self._announced = pending

    def change(self, now: float, device: str = "") -> None:
        """``device`` is about to change: close the interval of the current commands.

        Only devices that announced a change are asked for their command again
        (a step scan moves one axis per point), and a closed interval is two
        numbers in a list: the rows are made at :meth:`flush`.
        """
        if now > self._since:
            if self._announced:
                self._refresh()
            spans = self._spans
            spans.append(self._since)
            spans.append(now)
            self._since = now
            if len(spans) == 2 * _BUFFERED:  # long scans without runs: bounded memory
                self.flush(now, touch=False)
        if (i := self._index.get(device)) is not None:
            self._announced.append(i)

    def _rows(self, now: float) -> np.ndarray:
        """The buffered intervals and the open one (up to ``now``) as rows of the time
        line: each device's numbers carried forward from the interval its command changed."""
        if self._announced:
            self._refresh()
        spans = self._spans
        k = len(spans) // 2 + 1
        rows = np.empty((k, 2 + len(self._numbers)))
        rows[:-1, 0], rows[:-1, 1] = spans[0::2], spans[1::2]
        rows[-1, 0], rows[-1, 1] = self._since, now
        rows[:, 2:] = self._numbers
        if self._change_device:
            at = np.asarray(self._change_at, dtype=np.int64)
            device = np.asarray(self._change_device, dtype=np.int64)
            numbers = np.asarray(self._change_rows, dtype=np.float64).reshape(-1, ROW)
            intervals = np.arange(k)
            for i in sorted(set(self._change_device)):  # (np.unique imports numpy.ma)
                mine = device == i
                which = np.searchsorted(at[mine], intervals, side="right") - 1
                changed = which >= 0
                rows[changed, 2 + ROW * i:2 + ROW * (i + 1)] = numbers[mine][which[changed]]
        self._numbers = rows[-1, 2:].copy()
        spans.clear()
        self._change_at.clear()
        self._change_device.clear()
        self._change_rows.clear()
        return rows

    def flush(self, now: float, *, touch: bool = True) -> None:
        """Persist the rows so far and that the session has reached clock time ``now``.

        One append per call; the header is rewritten only when injected beam-loss
        episodes changed, and ``touch`` records facility time for later sessions.
        """
        self._store.append_states(self.beamline, self.key, self._rows(now))
        loss = self._header["beam_loss"]
        injected = [list(e) for e in self._world.beam_loss.injected or []]
        if injected != loss["injected"]:
            loss["injected"] = injected
            self._store.write_states_header(self.beamline, self.key, self._header)
        if touch:
            self._store.touch(self._world.timeline.ticks_at(now))

    def reopen(self, store: FacilityStore) -> None:
        """Continue in another store (an estimator twin's memory store)."""
        self._store = store
        store.open_states(self.beamline, self.key, self._header, self._world.profile)


@dataclass
class _Gathered:
    """Per-tag command parameters of one device (rows gathered by segment)."""

    kind: str
    params: np.ndarray  # (n, ROW)

    def sample(self, times: np.ndarray) -> np.ndarray:
        p = self.params
        if self.kind == "Trajectory":
            return positions(times, p[:, 0], p[:, 1], p[:, 2], p[:, 3], p[:, 4])
        return np.where(times >= p[:, 2], p[:, 1], p[:, 0])


class StateReplay:
    """Sync-DB values of one recorded session, for any of its tags."""

    def __init__(self, header: Mapping[str, Any], profile: Profile) -> None:
        self.header = header
        profile = profile.with_seed(int(header["seed"]))
        self.timeline = Timeline(int(header["tag0"]), int(header["offset_ticks"]),
                                 float(header["origin_unix"]), float(header["tag_rate_hz"]),
                                 float(header["beam_rate_hz"]))
        physics = Physics.from_profile(profile)
        self.model = ShotModel(physics, photodiode(profile, physics), [], profile.seed,
                               self.timeline.divider, profile.daq.gate_shutter)
        grid = next(iter(profile.spot_grids.values()))
        self.roles = RoleMap.from_profile(profile, grid.x_axis, grid.y_axis)
        self.devices = [(str(n), str(k)) for n, k in header["devices"]]
        self.columns = {n: i for i, (n, _) in enumerate(self.devices)}
        self.recorded = {n: np.asarray(t, dtype=np.float64)
                         for n, t in dict(header.get("recorded", {})).items()}
        loss = dict(header["beam_loss"])
        self.beam_loss = BeamLoss(profile.seed, float(loss["rate_per_hour"]),
                                  float(loss["mean_duration_s"]))
        self.refresh_beam_loss()

    def refresh_beam_loss(self) -> None:
        """Take the injected beam-loss episodes of the (possibly rewritten) header."""
        self.beam_loss.injected = [(float(s), float(e))
                                   for s, e in self.header["beam_loss"].get("injected", [])]

    @property
    def width(self) -> int:
        """Numbers per row of the session's time line."""
        return 2 + ROW * len(self.devices)

    def end_tag(self, rows: np.ndarray) -> int:
        """The last tag the session reached (per its rows)."""
        if len(rows) == 0:
            return int(self.header["start_tag"]) - 1
        return self.timeline.tag_at(float(rows[:, 1].max()))

    def covers(self, tags: np.ndarray, end_tag: int) -> np.ndarray:
        """Which ``tags`` are beam shots of this session up to ``end_tag``."""
        return ((tags >= int(self.header["start_tag"])) & (tags <= end_tag)
                & (tags % self.timeline.divider == 0))

    def values(self, column: str, tags: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """Values of shot-model ``column`` (``pd_i0``, ``_beam``, ``_state/<device>`` …)."""
        times = self.timeline.time_of(tags)
        # last row whose interval starts at or before each shot (later duplicates win)
        seg = np.maximum(np.searchsorted(rows[:, 0], times, side="right") - 1, 0)
        commands = _Commands(self, rows, seg)
        if column.startswith("_state/"):
            name = column[len("_state/"):]
            v = commands[name].sample(times)
            table = self.recorded.get(name)
            return v if table is None else table[v.astype(np.int64)]
        beam_on = self.beam_loss.beam_on(self.timeline.facility_time(times))
        state = self.roles.state(commands, times, beam_on)
        return np.asarray(self.model.shots(tags, times, state, acquired=False, plate=None)[column],
                          dtype=np.float64)


class _Commands(Mapping[str, _Gathered]):
    def __init__(self, replay: StateReplay, rows: np.ndarray, seg: np.ndarray) -> None:
        self._replay, self._rows, self._seg = replay, rows, seg

    def __getitem__(self, name: str) -> _Gathered:
        j = self._replay.columns[name]
        start = 2 + ROW * j
        return _Gathered(self._replay.devices[j][1], self._rows[self._seg, start:start + ROW])

    def __iter__(self) -> Any:
        return iter(self._replay.columns)

    def __len__(self) -> int:
        return len(self._replay.columns)
