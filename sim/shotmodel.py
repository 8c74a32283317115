"""The vectorised shot model: every per-shot quantity from (seed, tag) variates and the state.

Randomness does not depend on the beamline state, so :class:`NoiseBank` draws
all of a shot's variates (SASE/mono/pump gamma factors, pointing, PD noise,
timing jitter, detector count uniforms and read-noise normals) as one row of a
matrix, for aligned blocks of beam tags at a time, and keeps the recent
blocks: a one-shot trigger in a step scan then costs a row slice.  The state
(:class:`ShotState`) holds plain numbers whenever a device is constant over
the shots, so the per-shot arithmetic is a few whole-array operations.
:class:`Shots` computes monitors at once and each detector only when one of
its columns is asked for.  The archive replays the same model (monitors only)
from the recorded state time line.
"""

from __future__ import annotations

import math
import operator
from collections import OrderedDict
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from sim.physics.optics import bragg_angle_deg
from sim.physics.rand import box_muller, uniforms
from sim.physics.source import STREAM_POINTING

if TYPE_CHECKING:
    from sim.physics.detector import DetectorModel
    from sim.physics.sample import Plate
    from sim.world import Physics

__all__ = ["NoiseBank", "PDModel", "RoleMap", "SettledState", "ShotModel", "ShotState", "Shots",
           "pd_model"]

STREAM_PD = 600
STREAM_JITTER = 700
URAD_PER_DEG = math.pi / 180.0 * 1e6
# columns of the variate matrix before the detectors' own
_SRC, _POINT, _PD1, _PD2, _JIT = slice(0, 3), 3, 4, 5, 6

Value = Any  # a float (constant over the shots) or a per-shot array


class NoiseBank:
    """All state-independent variates of a beamline's shots, drawn in bulk per tag block.

    Args:
        seed: profile seed.
        source: the source model (its gamma streams and shapes).
        detectors: detector models, in the order of their column groups.
        divider: tag step between beam shots (beam tags are multiples of it).
    """

    BLOCK = 256  # beam shots per cached block (~8.5 s of 30 Hz beam)
    KEEP = 8    # blocks kept

    def __init__(self, seed: int, source: Any, detectors: list[DetectorModel],
                 divider: int) -> None:
        self.seed = seed
        self.source = source
        self.divider = divider
        normal = [STREAM_POINTING, STREAM_PD, STREAM_PD + 2, STREAM_JITTER]
        unif: list[int] = []
        self.det_columns: dict[str, tuple[slice, slice]] = {}
        z_at, u_at = 3 + len(normal), 0
        for det in detectors:
            u, z = det.streams()
            self.det_columns[det.name] = (slice(u_at, u_at + len(u)), slice(z_at, z_at + 2))
            normal += [int(s) for s in z]
            unif += [int(s) for s in u]
            u_at += len(u)
            z_at += 2
        n_norm = len(normal)
        self.det_columns = {k: (slice(3 + n_norm + u.start, 3 + n_norm + u.stop), z)
                            for k, (u, z) in self.det_columns.items()}
        raw = [s + k for s in normal for k in (0, 1)] + unif
        self._raw = np.asarray(raw, dtype=np.int64)
        self._n_norm = n_norm
        self.width = 3 + n_norm + len(unif)
        self._blocks: OrderedDict[int, np.ndarray] = OrderedDict()

    def draw(self, tags: np.ndarray) -> np.ndarray:
        """(n, width) variates of ``tags`` (any tags, no caching)."""
        tags = np.asarray(tags, dtype=np.int64)
        u = uniforms(self.seed, tags[:, None], self._raw)
        m = self._n_norm
        z = box_muller(u[:, 0:2 * m:2], u[:, 1:2 * m:2])
        return np.concatenate([self.source.draw(self.seed, tags), z, u[:, 2 * m:]], axis=1)

    def _block(self, b: int) -> np.ndarray:
        got = self._blocks.get(b)
        if got is None:
            span = self.divider * self.BLOCK
            got = self.draw(b * span + self.divider * np.arange(self.BLOCK, dtype=np.int64))
            self._blocks[b] = got
            if len(self._blocks) > self.KEEP:
                self._blocks.popitem(last=False)
        return got

    def one(self, tag: int) -> list[float]:
        """Variates of one tag as numbers (for a beam tag, a row of a cached block)."""
        div = self.divider
        if tag % div:
            return self.draw(np.asarray([tag], dtype=np.int64))[0].tolist()
        span = div * self.BLOCK
        return self._block(tag // span)[tag % span // div].tolist()

    def rows(self, tags: np.ndarray) -> np.ndarray:
        """Variates of ``tags``: a slice of cached blocks for a short run of beam tags."""
        n = len(tags)
        first = int(tags[0])
        div, span = self.divider, self.divider * self.BLOCK
        last = int(tags[-1])
        b0, b1 = first // span, last // span
        if first % div or last - first != div * (n - 1) or b1 - b0 > 1:
            return self.draw(tags)
        i0 = (first - b0 * span) // div
        if b0 == b1:
            return self._block(b0)[i0:i0 + n]
        return np.concatenate([self._block(b0)[i0:], self._block(b1)[:n - (self.BLOCK - i0)]])


@dataclass(slots=True)
class ShotState:
    """The device state the shots see: floats where constant, per-shot arrays otherwise."""

    beam_on: Value
    shutter_open: Value
    pump_on: Value
    energy_kev: Value
    thickness_um: Value
    full_scale_pc: Value
    theta_deg: Value
    x_mm: Value
    y_mm: Value
    delay_ps: Value


def _lookup(table: np.ndarray, index: Value) -> Value:
    if not isinstance(index, np.ndarray):
        return float(table[int(index)])
    return table[np.asarray(index, dtype=np.int64)]


@dataclass(frozen=True)
class RoleMap:
    """Which device plays which part, and the tables that turn device values into physics.

    Built once from the profile; :meth:`state` reads commands (``Trajectory``/``Step``
    objects with ``sample(times)``) by device name, live or replayed from the time line.
    """

    shutter: str
    open_index: int
    pump: str
    on_code: float
    energy: str
    attenuator: str
    thickness: np.ndarray
    gain: str
    full_scale: np.ndarray
    theta: str
    x_axis: str
    y_axis: str
    delays: tuple[tuple[str, float, float], ...]  # (device, scale, offset): delay = (v-off)/scale
    #: every device the state depends on, in the order :meth:`state_from` takes their values
    names: tuple[str, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "names", (
            self.shutter, self.pump, self.energy, self.attenuator, self.gain, self.theta,
            self.x_axis, self.y_axis, *(d for d, _, _ in self.delays)))

    @classmethod
    def from_profile(cls, profile: Any, x_axis: str, y_axis: str) -> RoleMap:
        roles = dict(profile.raw.get("roles", {}) or {})
        devs = profile.devices
        shutter = devs[roles["shutter"]]
        pump = devs[roles["pump"]]
        gain = devs[roles["pd_gain"]]
        att = devs[roles["attenuator"]]
        delays = []
        for name in roles.get("delays", []):
            if devs[name].kind == "pseudo":
                axis, comp = next(iter(dict(devs[name].options["components"]).items()))
                delays.append((axis, float(comp["scale"]), float(comp.get("offset", 0.0))))
            else:
                delays.append((name, 1.0, 0.0))
        return cls(
            shutter=shutter.name, open_index=list(shutter.limits.choices).index("open"),
            pump=pump.name, on_code=float(list(pump.limits.choices).index("on")),
            energy=roles["energy"], attenuator=att.name,
            thickness=np.asarray(att.limits.choices, dtype=np.float64),
            gain=gain.name, full_scale=np.asarray(
                [float(gain.options["full_scale_pc"][s]) for s in gain.limits.choices]),
            theta=roles["theta"], x_axis=x_axis, y_axis=y_axis, delays=tuple(delays))

    def state(self, commands: Mapping[str, Any], times: np.ndarray, beam_on: Value
              ) -> ShotState:
        """The state at increasing clock ``times`` from the devices' commands."""
        return self.state_from([commands[name].sample(times) for name in self.names], beam_on)

    def state_from(self, values: list[Value], beam_on: Value) -> ShotState:
        """The state from each device's value (in :attr:`names` order; numbers or arrays)."""
        return self.assemble([self.part(i, v) for i, v in enumerate(values)], beam_on)

    def part(self, index: int, value: Value) -> Value:
        """What device ``index`` (of :attr:`names`) at ``value`` adds to the state: its
        field, or for a delay device its term of the delay."""
        if index >= 8:
            _, scale, offset = self.delays[index - 8]
            return value if scale == 1.0 and offset == 0.0 else (value - offset) / scale
        if index == 0:
            return value == self.open_index
        if index == 1:
            return value == self.on_code
        if index == 3:
            return _lookup(self.thickness, value)
        if index == 4:
            return _lookup(self.full_scale, value)
        return value

    @staticmethod
    def assemble(parts: list[Value], beam_on: Value) -> ShotState:
        """The state from every device's :meth:`part`."""
        delay: Value = 0.0
        for term in parts[8:]:
            delay = delay + term
        shutter, pump, energy, thickness, full_scale, theta, x, y = parts[:8]
        return ShotState(beam_on, shutter, pump, energy, thickness, full_scale, theta, x, y,
                         delay)


class SettledState:
    """The state of one shot after every command has settled, kept between changes.

    A command holds one value from its settle time on (a motor at its target,
    a switch after its transit), so a shot after every settle time sees just
    those values.  The world says which device is about to change
    (:meth:`changing`); only those are asked again, so a step-scan point costs
    one device, not a sampling of all of them.  :meth:`at` answers ``None``
    when it cannot (a shot before a settle time, a change announced but not
    made yet): the caller samples the commands instead.

    Args:
        role_map: how device values become the state.
        devices: the devices of ``role_map.names``, in that order.
    """

    def __init__(self, role_map: RoleMap, devices: list[Any]) -> None:
        self._role_map = role_map
        self._devices = devices
        n = len(devices)
        self._commands: list[Any] = [None] * n
        self._times = [math.inf] * n
        self._parts: list[Any] = [None] * n
        self._dirty = set(range(n))
        self._from = math.inf
        self._state: ShotState | None = None

    def changing(self, index: int) -> None:
        """Device ``index`` (of ``role_map.names``) is about to get a new command."""
        self._dirty.add(index)

    def at(self, t: float, beam_on: bool) -> ShotState | None:
        """The state of a shot at clock time ``t``, or ``None`` if it must be sampled."""
        if self._dirty and not self._refresh():
            return None
        if t < self._from:
            return None
        state = self._state
        return state if beam_on else replace(state, beam_on=False)

    def _refresh(self) -> bool:
        known = self._commands
        for i in tuple(self._dirty):
            command = self._devices[i].command
            if command is known[i]:  # announced, not made yet
                return False
            known[i] = command
            self._times[i], value = command.settled()
            self._parts[i] = self._role_map.part(i, value)
            self._dirty.discard(i)
        self._from = max(self._times)
        self._state = self._role_map.assemble(self._parts, True)
        return True


@dataclass(frozen=True)
class PDModel:
    """I0 photodiode behind its 16-bit, gain-switched ADC (profile ``pd_i0``/``pd_gain``)."""

    charge_per_uj: float
    dark_pc: float
    adc_noise: float


def pd_model(profile: Any) -> PDModel:
    """The I0 chain of a profile (its ``roles: i0`` and ``pd_gain`` devices)."""
    roles = dict(profile.raw.get("roles", {}) or {})
    pd_spec = profile.devices[roles["i0"]]
    gain_spec = profile.devices[roles["pd_gain"]]
    return PDModel(float(pd_spec.options.get("charge_per_uj", 1.0)),
                   float(pd_spec.options.get("dark_pc", 0.0)),
                   float(gain_spec.options.get("adc_noise", 0.0)))


class ShotModel:
    """Per-shot physics of one beamline (shared by the live world and the archive replay)."""

    def __init__(self, physics: Physics, pd: PDModel, detectors: list[DetectorModel],
                 seed: int, divider: int, gate_shutter: bool, unix0: float = 0.0) -> None:
        self.physics = physics
        self.unix0 = unix0  # Unix time of clock zero (event_time of the shots)
        self.pd = pd
        self.detectors = {d.name: d for d in detectors}
        self.seed = seed
        self.gate_shutter = gate_shutter
        self.noise = NoiseBank(seed, physics.source, detectors, divider)
        self._trans: dict[tuple[float, float], float] = {}
        self._bragg: dict[float, float] = {}

    def transmission(self, thickness: Value, energy: Value) -> Value:
        if isinstance(thickness, np.ndarray) or isinstance(energy, np.ndarray):
            return self.physics.attenuation.transmission(thickness, energy)
        key = (thickness, energy)
        got = self._trans.get(key)
        if got is None:
            got = self._trans[key] = float(self.physics.attenuation.transmission(*key))
        return got

    def bragg_angle(self, energy: Value) -> Value:
        if isinstance(energy, np.ndarray):
            return bragg_angle_deg(energy, self.physics.d_spacing_angstrom)
        got = self._bragg.get(energy)
        if got is None:
            got = self._bragg[energy] = float(
                bragg_angle_deg(energy, self.physics.d_spacing_angstrom))
        return got

    def shots(self, tags: np.ndarray, times: np.ndarray, state: ShotState, *,
              acquired: bool, plate: Plate | None, plain: bool = False) -> Shots:
        """The shots with ``tags`` at clock ``times`` (see :class:`Shots`); ``plain``: the
        state of one shot is in plain numbers already."""
        noise = self.noise.one(int(tags[0])) if len(tags) == 1 else self.noise.rows(tags)
        return Shots(self, tags, times, state, noise, acquired, plate, plain)


_MONITORS = frozenset({"pd_i0", "beam/pulse_energy", "_pd_saturated"})


def _scalar_false(v: Value) -> bool:
    return not isinstance(v, np.ndarray) and not v


class Shots(Mapping[str, np.ndarray]):
    """Per-shot data of one set of shots, each part (monitors, sample, each detector, flags)
    computed on first use.

    ``acquired`` shots pass the pulse picker (they expose the sample and are
    recorded); others are seen only by the upstream monitors.  Pumped, acquired
    shots damage their spot (recorded in the plate) as soon as they are made.
    One shot (a step-scan point) runs the same formulas on plain floats — its
    variates as a list, its state as numbers — which numpy would spend ~1 us per
    call on; the values are the same bits (numpy's transcendental functions are
    still used for them).
    """

    def __init__(self, model: ShotModel, tags: np.ndarray, times: np.ndarray, state: ShotState,
                 noise: np.ndarray | list[float], acquired: bool, plate: Plate | None,
                 plain: bool = False) -> None:
        self.model, self.tags, self.times = model, tags, times
        self.n = len(tags)
        self.scalar = self.n == 1
        if self.scalar:
            if not plain:
                state = _one_shot(state)
            self._noise: Any = noise if isinstance(noise, list) else noise[0].tolist()
        else:
            self._noise = noise.T  # rows are the variate columns: self._noise[k]
        self.state = state
        self._plate = plate
        st = state
        self.xray_pd = st.beam_on & st.shutter_open
        self.xray = self.xray_pd & (acquired or not model.gate_shutter)
        self.pumped = self.xray & st.pump_on
        self._probe: Value = None
        self._data: dict[str, Any] = {}
        self._means: dict[str, float] = {}
        self._bragg: Value = None
        self._damaged: Value = False
        if acquired and plate is not None and not _scalar_false(self.pumped):
            self._sample()

    @property
    def probe_on_sample(self) -> Value:
        """Probe pulse energy behind the attenuator per shot (uJ), were X-rays let through."""
        if self._probe is None:
            model, st = self.model, self.state
            trans = model.transmission(st.thickness_um, st.energy_kev)
            f = self._noise
            self._probe = (model.physics.source.probe_pulse_energy_uj * trans) * (f[0] * f[1])
        return self._probe

    @property
    def sample_uj(self) -> Value:
        """Probe energy reaching the sample per shot (0 without X-rays there)."""
        if _scalar_false(self.xray):
            return 0.0
        return self.probe_on_sample if self.xray is True else self.probe_on_sample * self.xray

    def _monitors(self) -> None:
        """I0 charge through the gain-switched 16-bit ADC, and the FEL pulse energy."""
        pd, st, noise = self.model.pd, self.state, self._noise
        src = self.model.physics.source
        fs = st.full_scale_pc
        q = pd.dark_pc * noise[_PD1] + (pd.adc_noise * fs) * noise[_PD2]
        if not _scalar_false(self.xray_pd):
            q = q + (self.probe_on_sample * pd.charge_per_uj) * self.xray_pd
        lsb = fs / 65535.0
        pulse = src.sase_pulse_energy_uj * noise[0]
        if self.scalar:
            q = min(max(math.floor(q / lsb + 0.5) * lsb, 0.0), fs)
            if st.pump_on:
                pulse = pulse + src.pump_pulse_energy_uj * noise[2]
        else:
            q = np.minimum(np.maximum(np.floor(q / lsb + 0.5) * lsb, 0.0), fs)
            if not _scalar_false(st.pump_on):
                pulse = pulse + np.where(st.pump_on, src.pump_pulse_energy_uj * noise[2], 0.0)
        if st.beam_on is not True:
            pulse = pulse * st.beam_on
        self._data["pd_i0"] = q
        self._data["beam/pulse_energy"] = pulse
        self._data["_pd_saturated"] = float(q >= fs) if self.scalar else (q >= fs).astype(
            np.float64)

    # -- lazy parts ---------------------------------------------------------------------
    def _sample(self) -> Value:
        """Expected Bragg photons per shot: the spot under the beam and its reflectivity."""
        if self._bragg is not None:
            return self._bragg
        model, st, plate = self.model, self.state, self._plate
        ph = model.physics
        if _scalar_false(self.xray) or plate is None:
            self._bragg = 0.0
            return 0.0
        cells = plate.cells(st.x_mm, st.y_mm)
        if not _scalar_false(self.pumped):
            plate.expose(cells, self.times, self.pumped)
        damaged = plate.damaged(cells, self.times)
        self._damaged = damaged
        pointing = ph.source.pointing_jitter_urad * self._noise[_POINT]
        delta = ((st.theta_deg - model.bragg_angle(st.energy_kev)) * URAD_PER_DEG
                 - plate.offsets_urad(cells)) + pointing
        refl = plate.reflectivity(ph.rocking, delta, damaged)
        bragg = self.sample_uj * ph.bragg_photons_per_uj * refl
        if not _scalar_false(self.pumped):
            actual = st.delay_ps + ph.pump.jitter_rms_ps * self._noise[_JIT]
            if self.scalar:
                bragg = bragg * (1.0 + ph.pump.per_shot(actual))
            else:
                bragg = bragg * (1.0 + np.where(self.pumped, ph.pump.per_shot(actual), 0.0))
        self._bragg = bragg
        return bragg

    def _detector(self, name: str) -> None:
        model = self.model
        det = model.detectors[name]
        ucols, zcols = model.noise.det_columns[name]
        noise = self._noise
        if not self.scalar:
            noise = noise.T
            ucols, zcols = (slice(None), ucols), (slice(None), zcols)
        self._data.update(det.shots_from(noise[ucols], noise[zcols], self._sample(),
                                         self.sample_uj, self.state.energy_kev))

    def _flags(self) -> None:
        n, st = self.n, self.state
        self._sample()

        def col(v: Value, dtype: Any) -> np.ndarray:
            return np.asarray(np.broadcast_to(v, (n,)), dtype=dtype)

        self._data.update({
            "tag": np.asarray(self.tags, dtype=np.int64),
            "event_time": self.model.unix0 + self.times,
            "lightStatus/xray": col(self.xray, np.int8),
            "lightStatus/laser": col(st.beam_on & st.pump_on, np.int8),
            "_beam": col(st.beam_on, np.float64),
            "_delay_ps": col(st.delay_ps, np.float64),
            "_damaged": col(self._damaged, np.int8),
        })

    # -- Mapping ---------------------------------------------------------------------------
    def _value(self, key: str) -> Any:
        """A column as computed: an array, or a number for one shot."""
        got = self._data.get(key)
        if got is not None:
            return got
        if key in _MONITORS:
            self._monitors()
        else:
            name = key.split("/", 2)[1] if key.startswith("_recipe/") else key.split("/", 1)[0]
            if name in self.model.detectors:
                self._detector(name)
            else:
                self._flags()
        return self._data[key]

    def __getitem__(self, key: str) -> np.ndarray:
        got = self._value(key)
        if not isinstance(got, np.ndarray):
            got = self._data[key] = np.asarray([got])
        return got

    def materialise(self) -> dict[str, np.ndarray]:
        """Every column (what the DAQ hands out and persists)."""
        self._monitors()
        self._flags()
        for name in self.model.detectors:
            if f"{name}/ROI_0_sum" not in self._data:
                self._detector(name)
        if self.scalar:
            for key, v in self._data.items():
                if not isinstance(v, np.ndarray):
                    self._data[key] = np.asarray([v])
        return self._data

    def __iter__(self) -> Iterator[str]:
        return iter(self.materialise())

    def __len__(self) -> int:
        return len(self.materialise())

    def mean(self, key: str) -> float:
        """Mean of a column over the shots (cached: several devices read the same shots)."""
        col = self._value(key)
        if not isinstance(col, np.ndarray):
            return float(col)
        if self.n == 1:
            return float(col[0])
        got = self._means.get(key)
        if got is None:
            got = self._means[key] = float(col.sum()) / self.n
        return got


def _one_shot(state: ShotState) -> ShotState:
    """The state of one shot in plain numbers (sampled at an array of one time, a moving
    axis or a beam-loss check gives a 1-element array)."""
    values = _STATE_VALUES(state)
    if np.ndarray not in map(type, values):
        return state
    return ShotState(*(v.item() if isinstance(v, np.ndarray) else v for v in values))


_STATE_VALUES = operator.attrgetter(*ShotState.__dataclass_fields__)
