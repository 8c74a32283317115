"""The vectorised shot model: every per-shot quantity from (seed, tag) variates and the state.

Randomness does not depend on the beamline state, so :class:`NoiseBank` draws
all of a shot's variates (SASE/mono/pump/electron-beam gamma factors, pointing,
PD noise, timing jitter, timing-tool noise, detector count uniforms, read-noise
and common-mode normals) as one row of a matrix, for aligned blocks of beam
tags at a time, and keeps the recent blocks: a one-shot trigger in a step scan
then costs a row slice.  The state
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

from sim.physics.monitor import Photodiode
from sim.physics.optics import bragg_angle_deg, photons_per_uj
from sim.physics.rand import box_muller, uniforms
from sim.physics.source import STREAM_POINTING
from sim.physics.timing import TimingTool

if TYPE_CHECKING:
    from sim.physics.detector import DetectorModel
    from sim.physics.sample import Plate
    from sim.world import Physics

__all__ = ["NoiseBank", "RoleMap", "SettledState", "ShotModel", "ShotState", "Shots",
           "photodiode"]

STREAM_PD = 600
STREAM_JITTER = 700
STREAM_TT = 800
URAD_PER_DEG = math.pi / 180.0 * 1e6
#: normals of every shot (two uniform streams each), after the four source gammas; the
#: timing tool's three come last and only with a timing tool
NORMAL_STREAMS = (STREAM_POINTING, STREAM_PD, STREAM_PD + 2, STREAM_PD + 4, STREAM_JITTER)
TT_STREAMS = (STREAM_TT, STREAM_TT + 2, STREAM_TT + 4)
# columns of the variate matrix before the detectors' own
_N_SRC = 4
_POINT, _PD_DARK, _PD_ADC, _PD_SHOT, _JIT, _TT_POS, _TT_FWHM, _TT_AMP = range(_N_SRC, _N_SRC + 8)

Value = Any  # a float (constant over the shots) or a per-shot array


class NoiseBank:
    """All state-independent variates of a beamline's shots, drawn in bulk per tag block.

    Args:
        seed: profile seed.
        source: the source model (its gamma streams and shapes).
        detectors: detector models, in the order of their column groups.
        divider: tag step between beam shots (beam tags are multiples of it).
        timing_tool: draw the timing tool's variates too.
    """

    BLOCK = 256  # beam shots per cached block (~8.5 s of 30 Hz beam)
    KEEP = 8    # blocks kept

    def __init__(self, seed: int, source: Any, detectors: list[DetectorModel],
                 divider: int, timing_tool: bool = False) -> None:
        self.seed = seed
        self.source = source
        self.divider = divider
        normal = list(NORMAL_STREAMS) + (list(TT_STREAMS) if timing_tool else [])
        unif: list[int] = []
        self.det_columns: dict[str, tuple[slice, slice]] = {}
        z_at, u_at = _N_SRC + len(normal), 0
        for det in detectors:
            u, z = det.streams()
            self.det_columns[det.name] = (slice(u_at, u_at + len(u)),
                                          slice(z_at, z_at + len(z)))
            normal += [int(s) for s in z]
            unif += [int(s) for s in u]
            u_at += len(u)
            z_at += len(z)
        n_norm = len(normal)
        self.det_columns = {k: (slice(_N_SRC + n_norm + u.start, _N_SRC + n_norm + u.stop), z)
                            for k, (u, z) in self.det_columns.items()}
        raw = [s + k for s in normal for k in (0, 1)] + unif
        self._raw = np.asarray(raw, dtype=np.int64)
        self._n_norm = n_norm
        self.width = _N_SRC + n_norm + len(unif)
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
    gain: Value  # index of the I0 amplifier's gain range
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
    The delay is the sum of the delay devices' terms: an accelerator or laser delay as
    set, a split-delay pseudo-axis through each of its stages (``weight · (v - offset) /
    scale`` with the stage's delay-per-mm error in the weight), minus where their true
    zeros lie (``physics.timing.zero_offsets_ps``).
    """

    shutter: str
    open_index: int
    pump: str
    on_code: float
    energy: str
    attenuator: str
    thickness: np.ndarray
    gain: str
    theta: str
    x_axis: str
    y_axis: str
    delays: tuple[tuple[str, float, float, float], ...]  # (device, scale, offset, weight)
    delay_zero: float = 0.0
    #: every device the state depends on, in the order :meth:`state_from` takes their values
    names: tuple[str, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "names", (
            self.shutter, self.pump, self.energy, self.attenuator, self.gain, self.theta,
            self.x_axis, self.y_axis, *(d for d, _, _, _ in self.delays)))

    @classmethod
    def from_profile(cls, profile: Any, x_axis: str, y_axis: str) -> RoleMap:
        roles = dict(profile.raw.get("roles", {}) or {})
        timing = dict(dict(profile.physics).get("timing", {}) or {})
        errors = {str(k): float(v) for k, v in dict(timing.get("stage_errors", {})).items()}
        zeros = {str(k): float(v) for k, v in dict(timing.get("zero_offsets_ps", {})).items()}
        devs = profile.devices
        shutter = devs[roles["shutter"]]
        pump = devs[roles["pump"]]
        att = devs[roles["attenuator"]]
        delays = []
        zero = 0.0
        for name in roles.get("delays", []):
            if devs[name].kind == "pseudo":
                comps = dict(devs[name].options["components"])
                for axis, comp in comps.items():
                    weight = (1.0 + errors.get(str(axis), 0.0)) / len(comps)
                    delays.append((str(axis), float(comp["scale"]),
                                   float(comp.get("offset", 0.0)), weight))
                    zero += weight * zeros.get(name, 0.0)
            else:
                delays.append((name, 1.0, 0.0, 1.0))
                zero += zeros.get(name, 0.0)
        return cls(
            shutter=shutter.name, open_index=list(shutter.limits.choices).index("open"),
            pump=pump.name, on_code=float(list(pump.limits.choices).index("on")),
            energy=roles["energy"], attenuator=att.name,
            thickness=np.asarray(att.limits.choices, dtype=np.float64),
            gain=devs[roles["pd_gain"]].name, theta=roles["theta"], x_axis=x_axis,
            y_axis=y_axis, delays=tuple(delays), delay_zero=zero)

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
            _, scale, offset, weight = self.delays[index - 8]
            if scale == 1.0 and offset == 0.0 and weight == 1.0:
                return value
            return weight * (value - offset) / scale
        if index == 0:
            return value == self.open_index
        if index == 1:
            return value == self.on_code
        if index == 3:
            return _lookup(self.thickness, value)
        return value

    def assemble(self, parts: list[Value], beam_on: Value) -> ShotState:
        """The state from every device's :meth:`part`."""
        delay: Value = -self.delay_zero
        for term in parts[8:]:
            delay = delay + term
        shutter, pump, energy, thickness, gain, theta, x, y = parts[:8]
        return ShotState(beam_on, shutter, pump, energy, thickness, gain, theta, x, y, delay)


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


def photodiode(profile: Any, physics: Physics) -> Photodiode:
    """The I0 chain of a profile (its ``roles: i0`` and ``pd_gain`` devices)."""
    roles = dict(profile.raw.get("roles", {}) or {})
    diode = profile.devices[roles["i0"]]
    gain = profile.devices[roles["pd_gain"]]
    return Photodiode.from_specs(diode.options, gain.options, tuple(gain.limits.choices),
                                 physics.pair_energy_ev, physics.si_photo, physics.attenuation)


class ShotModel:
    """Per-shot physics of one beamline (shared by the live world and the archive replay)."""

    def __init__(self, physics: Physics, pd: Photodiode, detectors: list[DetectorModel],
                 seed: int, divider: int, gate_shutter: bool, unix0: float = 0.0,
                 timing_tool: TimingTool | None = None) -> None:
        self.physics = physics
        self.unix0 = unix0  # Unix time of clock zero (event_time of the shots)
        self.pd = pd
        self.detectors = {d.name: d for d in detectors}
        self.timing_tool = timing_tool
        self.seed = seed
        self.gate_shutter = gate_shutter
        self.noise = NoiseBank(seed, physics.source, detectors, divider,
                               timing_tool is not None)
        self._trans: dict[tuple[float, float], float] = {}
        self._bragg: dict[float, tuple[float, float, float]] = {}

    def transmission(self, thickness: Value, energy: Value) -> Value:
        """Attenuator transmission (cached for constant settings)."""
        if isinstance(thickness, np.ndarray) or isinstance(energy, np.ndarray):
            return self.physics.attenuation.transmission(thickness, energy)
        key = (thickness, energy)
        got = self._trans.get(key)
        if got is None:
            got = self._trans[key] = float(self.physics.attenuation.transmission(*key))
        return got

    def bragg(self, energy: float) -> tuple[float, float, float]:
        """(kinematic Bragg angle in deg, refraction shift in urad, angle-axis scale) at
        ``energy``: the sample reflection peaks at the angle plus the shift, and the
        rocking-curve table (at the nominal energy) widens by the scale."""
        got = self._bragg.get(energy)
        if got is None:
            rc = self.physics.rocking
            ratio = rc.tan_ratio(energy)
            got = self._bragg[energy] = (
                float(bragg_angle_deg(energy, self.physics.d_spacing_angstrom)),
                rc.sample.refraction_shift_urad(energy) + rc.peak_offset_urad * ratio, ratio)
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
    """Per-shot data of one set of shots, each part (monitors, sample, each detector, flags,
    timing tool) computed on first use.

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
        self._factors: Any = None
        self._probe: Value = None
        self._data: dict[str, Any] = {}
        self._means: dict[str, float] = {}
        self._bragg: Value = None
        self._damaged: Value = False
        if acquired and plate is not None and not _scalar_false(self.pumped):
            self._sample()

    @property
    def factors(self) -> tuple[Value, Value, Value]:
        """Unit-mean (probe-colour SASE, probe, pump) pulse-energy factors of the shots."""
        if self._factors is None:
            self._factors = self.model.physics.source.factors(self._noise)
        return self._factors

    @property
    def probe_at_diode(self) -> Value:
        """Probe pulse energy behind the attenuator per shot (uJ), were X-rays let through."""
        if self._probe is None:
            model, st = self.model, self.state
            trans = model.transmission(st.thickness_um, st.energy_kev)
            self._probe = (model.physics.source.probe_pulse_energy_uj * trans) * self.factors[1]
        return self._probe

    @property
    def sample_uj(self) -> Value:
        """Probe energy reaching the sample per shot (0 without X-rays there)."""
        if _scalar_false(self.xray):
            return 0.0
        e = self.state.energy_kev
        pd_t = self.model.pd.transmission(e) if not isinstance(e, np.ndarray) else np.array(
            [self.model.pd.transmission(float(v)) for v in e])
        on = self.probe_at_diode * pd_t
        return on if self.xray is True else on * self.xray

    def _monitors(self) -> None:
        """I0 charge through the gain-switched 16-bit ADC, and the FEL pulse energy."""
        pd, st, noise = self.model.pd, self.state, self._noise
        src = self.model.physics.source
        uj = 0.0 if _scalar_false(self.xray_pd) else (
            self.probe_at_diode if self.xray_pd is True else self.probe_at_diode * self.xray_pd)
        energy = st.energy_kev if not isinstance(st.energy_kev, np.ndarray) else \
            float(st.energy_kev[0])
        q, sat = pd.charge(uj, energy, st.gain, noise[_PD_SHOT], noise[_PD_DARK],
                           noise[_PD_ADC])
        sase, _, pump = self.factors
        pulse = src.sase_pulse_energy_uj * sase
        if src.pump_from_bunch and not _scalar_false(st.pump_on):
            pulse = pulse + np.where(st.pump_on, src.pump_pulse_energy_uj * pump, 0.0) \
                if not self.scalar else pulse + src.pump_pulse_energy_uj * pump
        if st.beam_on is not True:
            pulse = pulse * st.beam_on
        self._data["pd_i0"] = q
        self._data["beam/pulse_energy"] = pulse
        self._data["_pd_saturated"] = sat

    def _timing_error(self) -> Value:
        """Each shot's arrival error: jitter plus the slow drift (ps)."""
        timing = self.model.physics.timing
        err = timing.jitter_rms_ps * self._noise[_JIT]
        if timing.drift_ps:
            t = self.model.unix0 + (float(self.times[0]) if self.scalar else self.times)
            err = err + timing.drift(t)
        return err

    # -- lazy parts ---------------------------------------------------------------------
    def _sample(self) -> Value:
        """Expected Bragg photons per shot reaching the detectors: the spot under the beam,
        its reflectivity, the pump's response."""
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
        energy = st.energy_kev if not isinstance(st.energy_kev, np.ndarray) else \
            float(st.energy_kev[0])
        theta_b, refraction, ratio = model.bragg(energy)
        pointing = ph.source.pointing_jitter_urad * self._noise[_POINT]
        delta = ((st.theta_deg - theta_b) * URAD_PER_DEG - refraction
                 - plate.offsets_urad(cells)) + pointing
        if ratio != 1.0:
            delta = delta / ratio
        pump = ph.pump
        response: Value = 0.0
        broadening: Value = 1.0
        if not _scalar_false(self.pumped):
            actual = st.delay_ps + self._timing_error()
            pump_uj = ph.source.pump_pulse_energy_uj * self.factors[2]
            response = pump.per_shot(actual, pump_uj)
            if not self.scalar:
                response = np.where(self.pumped, response, 0.0)
            if pump.strains_lattice:
                strain = pump.strain(actual, pump_uj)
                if not self.scalar:
                    strain = np.where(self.pumped, strain, 0.0)
                delta = delta - pump.shift_urad * strain
                broadening = 1.0 + pump.broadening * strain
        refl = plate.reflectivity(ph.rocking, delta, damaged, broadening)
        bragg = (self.sample_uj * photons_per_uj(energy)) * refl
        if not _scalar_false(self.pumped):
            bragg = bragg * (1.0 + response)
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
        t = model.unix0 + (float(self.times[0]) if self.scalar else self.times)
        self._data.update(det.shots_from(noise[ucols], noise[zcols], self._sample(),
                                         self.sample_uj, self.state.energy_kev, t))

    def _timing_tool(self) -> None:
        tt = self.model.timing_tool
        n, st, noise = self.n, self.state, self._noise
        seen = np.broadcast_to(np.asarray(self.xray_pd & st.pump_on, dtype=bool), (n,))
        err = np.broadcast_to(np.asarray(self._timing_error(), dtype=np.float64), (n,))
        sase = np.broadcast_to(np.asarray(self.factors[0], dtype=np.float64), (n,))

        def col(k: int) -> np.ndarray:
            return np.broadcast_to(np.asarray(noise[k], dtype=np.float64), (n,))

        self._data.update(tt.shots(err, seen, sase, col(_TT_POS), col(_TT_FWHM), col(_TT_AMP)))

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
        elif key.startswith("tt/") and self.model.timing_tool is not None:
            self._timing_tool()
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
        if self.model.timing_tool is not None and "tt/AMPL" not in self._data:
            self._timing_tool()
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
