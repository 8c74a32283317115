"""The vectorised shot model: every per-shot quantity from (seed, tag) variates and the state.

Variates come from :class:`~sim.noisebank.NoiseBank` (state-independent, drawn in
bulk per tag block), the state from :class:`~sim.shotstate.ShotState` (plain numbers
whenever a device is constant over the shots), so the per-shot arithmetic is a few
whole-array operations.  :class:`Shots` computes monitors at once and each detector
only when one of its columns is asked for.  The archive replays the same model
(monitors only) from the recorded state time line.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from sim.noisebank import (
    _JIT,
    _PD_ADC,
    _PD_DARK,
    _PD_SHOT,
    _POINT,
    _TT_AMP,
    _TT_FWHM,
    _TT_POS,
    NoiseBank,
)
from sim.physics.monitor import Photodiode
from sim.physics.optics import bragg_angle_deg, photons_per_uj
from sim.physics.timing import TimingTool
from sim.shotstate import ShotState, Value

if TYPE_CHECKING:
    from sim.physics.beamline import Physics
    from sim.physics.detector import DetectorModel
    from sim.physics.sample import Plate

__all__ = ["ShotModel", "Shots", "photodiode"]

URAD_PER_DEG = math.pi / 180.0 * 1e6


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
              acquired: bool, plate: Plate | None, plain: bool = False,
              damage: Mapping[int, float] | None = None) -> Shots:
        """The shots with ``tags`` at clock ``times`` (see :class:`Shots`); ``plain``: the
        state of one shot is in plain numbers already; ``damage``: the plate's damage
        record to judge them by (default: the plate's own, as it is now)."""
        noise = self.noise.one(int(tags[0])) if len(tags) == 1 else self.noise.rows(tags)
        return Shots(self, tags, times, state, noise, acquired, plate, plain, damage)

    def pulse_energy_of_shot(self, tag: int, beam_on: bool, pump_on: Any) -> float:
        """The FEL pulse energy (uJ) of the shot with ``tag``, from what it depends on alone
        (a beam-status read needs no device state but beam and pump on): the value
        :class:`Shots` gives that shot."""
        sase, _, pump = self.physics.source.factors(self.noise.one(tag))
        return float(pulse_energy(self.physics.source, sase, pump, beam_on, pump_on, True))


def pulse_energy(source: Any, sase: Value, pump: Value, beam_on: Value, pump_on: Value,
                 scalar: bool) -> Value:
    """FEL pulse energy per shot (uJ): SASE, plus the pump pulse when the bunch makes it,
    none without beam; ``sase`` and ``pump`` are the source's unit-mean factors."""
    pulse = source.sase_pulse_energy_uj * sase
    if source.pump_from_bunch and not _scalar_false(pump_on):
        pulse = pulse + np.where(pump_on, source.pump_pulse_energy_uj * pump, 0.0) \
            if not scalar else pulse + source.pump_pulse_energy_uj * pump
    if beam_on is not True:
        pulse = pulse * beam_on
    return pulse


_PHOTODIODE = frozenset({"pd_i0", "_pd_saturated"})


def _scalar_false(v: Value) -> bool:
    return not isinstance(v, np.ndarray) and not v


class Shots(Mapping[str, np.ndarray]):
    """Per-shot data of one set of shots, each part (monitors, sample, each detector, flags,
    timing tool) computed on first use.

    ``acquired`` shots pass the pulse picker (they expose the sample and are
    recorded); others are seen only by the upstream monitors.  Pumped, acquired
    shots damage their spot (recorded in the plate) as soon as they are made; the
    others are judged by ``damage``, the plate's damage record when they were taken
    (shots computed later see the same spots as damaged).
    One shot (a step-scan point) runs the same formulas on plain floats — its
    variates as a list, its state as numbers — which numpy would spend ~1 us per
    call on; the values are the same bits (numpy's transcendental functions are
    still used for them).
    """

    def __init__(self, model: ShotModel, tags: np.ndarray, times: np.ndarray, state: ShotState,
                 noise: np.ndarray | list[float], acquired: bool, plate: Plate | None,
                 plain: bool = False, damage: Mapping[int, float] | None = None) -> None:
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
        self._damage = damage
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

    def _photodiode(self) -> None:
        """I0 charge through the gain-switched 16-bit ADC."""
        pd, st, noise = self.model.pd, self.state, self._noise
        uj = 0.0 if _scalar_false(self.xray_pd) else (
            self.probe_at_diode if self.xray_pd is True else self.probe_at_diode * self.xray_pd)
        energy = st.energy_kev if not isinstance(st.energy_kev, np.ndarray) else \
            float(st.energy_kev[0])
        q, sat = pd.charge(uj, energy, st.gain, noise[_PD_SHOT], noise[_PD_DARK],
                           noise[_PD_ADC])
        self._data["pd_i0"] = q
        self._data["_pd_saturated"] = sat

    def _pulse_energy(self) -> None:
        sase, _, pump = self.factors
        st = self.state
        self._data["beam/pulse_energy"] = pulse_energy(
            self.model.physics.source, sase, pump, st.beam_on, st.pump_on, self.scalar)

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
        damaged = plate.damaged(cells, self.times, self._damage)
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
        if key in _PHOTODIODE:
            self._photodiode()
        elif key == "beam/pulse_energy":
            self._pulse_energy()
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
        self._photodiode()
        self._pulse_energy()
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
