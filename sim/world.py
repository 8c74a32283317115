"""The simulated beamline's shared physical state and its vectorised shot model.

Devices hold their own command state (trajectories, switch times); the world
knows which device plays which role (``roles:`` in the profile) and turns the
state at a set of shot times into every per-shot quantity in one vectorised
call: source pulses, attenuator transmission, I0 charge through the gain-switched
ADC, the rocking-curve reflectivity of the spot under the beam, pump response
and damage, detector ROI reductions.  Randomness is keyed by (seed, tag), so a
shot is the same whichever path asks for it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

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
from sim.physics.attenuation import Attenuation
from sim.physics.optics import RockingCurve, bragg_angle_deg
from sim.physics.pump import PumpResponse
from sim.physics.rand import normals
from sim.physics.sample import Plate
from sim.physics.source import BeamLoss, Source

if TYPE_CHECKING:
    from sim.devices.daq import SimDAQ
    from sim.devices.detector import SimMPCCD
    from sim.devices.discrete import SimAttenuator, SimSwitch

__all__ = ["Physics", "SimWorld", "Window"]

STREAM_PD = 600
STREAM_JITTER = 700
URAD_PER_DEG = math.pi / 180.0 * 1e6


@dataclass(frozen=True)
class Physics:
    """Every physics model of a profile, built once per beamline."""

    source: Source
    beam_loss_rate_per_hour: float
    beam_loss_mean_duration_s: float
    attenuation: Attenuation
    rocking: RockingCurve
    d_spacing_angstrom: float
    bragg_photons_per_uj: float
    pump: PumpResponse
    pair_energy_ev: float

    @classmethod
    def from_profile(cls, profile: Profile) -> Physics:
        ph = profile.physics
        try:
            src = dict(ph.get("source", {}))
            loss = dict(src.pop("beam_loss", {}) or {})
            sample = ph.get("sample", {})
            return cls(
                source=Source(**src),
                beam_loss_rate_per_hour=float(loss.get("rate_per_hour", 0.0)),
                beam_loss_mean_duration_s=float(loss.get("mean_duration_s", 60.0)),
                attenuation=Attenuation(**dict(ph.get("attenuation", {}))),
                rocking=RockingCurve(float(sample.get("intrinsic_fwhm_urad", 28.6)),
                                     float(sample.get("intrinsic_lorentz_fraction", 0.5)),
                                     float(sample.get("mosaic_fwhm_urad", 0.0))),
                d_spacing_angstrom=float(sample.get("d_spacing_angstrom", 3.1356)),
                bragg_photons_per_uj=float(sample.get("bragg_photons_per_uj", 1000.0)),
                pump=PumpResponse(**{k: float(v) for k, v in
                                     dict(ph.get("pump_response", {})).items()}),
                pair_energy_ev=float(dict(ph.get("detector", {})).get("pair_energy_ev", 3.65)),
            )
        except TypeError as exc:
            raise BackendError(f"profile {profile.name}: bad physics parameter: {exc}") from None


@dataclass
class Window:
    """The shots of one detector/monitor acquisition; their data is computed on first use.

    Triggers stay cheap (tags and a deadline); the shot model runs when a
    reading is asked for, or before the next state change so that the shots
    see the state they were taken in (and register any damage they do).
    """

    key: tuple[int, int]
    tags: np.ndarray
    times: np.ndarray
    version: int
    data: Mapping[str, np.ndarray] | None = None


class SimWorld:
    """Shared state of one simulated beamline (devices register into it)."""

    def __init__(self, profile: Profile, clock: Clock, timeline: Timeline, seed: int) -> None:
        self.profile = profile
        self.clock = clock
        self.timeline = timeline
        self.seed = seed
        self.physics = Physics.from_profile(profile)
        self.attenuation = self.physics.attenuation
        self.beam_loss = BeamLoss(seed, self.physics.beam_loss_rate_per_hour,
                                  self.physics.beam_loss_mean_duration_s)
        self.faults = SimFaults({n: s.kind for n, s in profile.devices.items()}, clock.now,
                                self.beam_loss, timeline.offset_ticks / timeline.tag_rate_hz)
        raw_daq = dict(profile.raw.get("daq", {}) or {})
        self.gate_shutter = bool(raw_daq.get("gate_shutter", True))
        self.require_beam = bool(raw_daq.get("require_beam", True))
        self.timeout_margin = float(raw_daq.get("timeout_margin", 10.0))
        self.roles: dict[str, Any] = dict(profile.raw.get("roles", {}) or {})
        self.devices: dict[str, Any] = {}
        self.detectors: list[SimMPCCD] = []
        self.plate: Plate | None = None
        self.daq: SimDAQ | None = None
        self._version = 0
        self._window: Window | None = None
        self._current: tuple[int, int, Mapping[str, np.ndarray]] | None = None

    # -- wiring -------------------------------------------------------------------------
    def role(self, role: str) -> Any:
        """The device playing ``role`` (``theta``, ``shutter`` …), per the profile's roles."""
        name = self.roles.get(role)
        if name is None or name not in self.devices:
            raise BackendError(f"profile {self.profile.name}: no device for role {role!r}",
                               hint="add it under 'roles:' in the profile")
        return self.devices[name]

    def before_change(self, device: str) -> None:
        """Called by a device about to change: shots up to now are taken with the old state."""
        if self.daq is not None:
            self.daq.sync()
        self._expose_window()
        self._version += 1
        self._current = None

    # -- small queries ------------------------------------------------------------------------
    def probe_energy_kev(self) -> float:
        return float(self.role("energy").position)

    def beam_on_now(self) -> bool:
        t = self.timeline.facility_time(self.clock.now())
        return bool(self.beam_loss.beam_on(np.asarray([t]))[0])

    # -- the shot model -------------------------------------------------------------------------
    def shots(self, times: np.ndarray, tags: np.ndarray, *, acquired: bool
              ) -> dict[str, np.ndarray]:
        """Every per-shot quantity of the shots at clock ``times`` with ``tags``.

        ``acquired`` shots pass the pulse picker (they expose the sample and are
        recorded); others are seen only by the upstream monitors.  Pumped,
        acquired shots damage their spot (recorded in the plate).
        """
        ph, seed, tl = self.physics, self.seed, self.timeline
        times = np.asarray(times, dtype=np.float64)
        tags = np.asarray(tags, dtype=np.int64)
        n = len(tags)
        beam_on = self.beam_loss.beam_on(tl.facility_time(times))
        src = ph.source.shots(seed, tags)
        shutter = self.role("shutter")
        open_idx = shutter.choices.index("open")
        xray_pd = beam_on & (shutter.index_at(times) == open_idx)
        xray = xray_pd & (acquired or not self.gate_shutter)
        pump = self.role("pump")
        pump_on = pump.values_at(times) == pump.code("on")
        laser = beam_on & pump_on
        pumped = xray & pump_on
        energy = self.role("energy").positions_at(times)
        att: SimAttenuator = self.role("attenuator")
        trans = ph.attenuation.transmission(att.thickness_at(times), energy)
        probe_on_sample = src.probe_uj * trans
        # I0 monitor through the gain-switched 16-bit ADC
        pd = self._pd
        gain: SimSwitch = self.role("pd_gain")
        fs = np.asarray(self._full_scale)[gain.index_at(times)]
        q = pd["charge_per_uj"] * probe_on_sample * xray_pd
        q = q + pd["dark_pc"] * normals(seed, tags, STREAM_PD)
        q = q + pd["adc_noise"] * fs * normals(seed, tags, STREAM_PD + 2)
        lsb = fs / 65535.0
        q = np.clip(np.floor(q / lsb + 0.5) * lsb, 0.0, fs)
        # the spot under the beam and its reflectivity
        plate = self.plate
        x = self.devices[plate.x_axis].positions_at(times)
        y = self.devices[plate.y_axis].positions_at(times)
        cells = plate.cells(x, y)
        if acquired and pumped.any():
            plate.expose(cells, times, pumped)
        damaged = plate.damaged(cells, times)
        theta = self.role("theta").positions_at(times)
        delta = ((theta - bragg_angle_deg(energy, ph.d_spacing_angstrom)) * URAD_PER_DEG
                 - plate.offsets_urad(cells) + src.pointing_urad)
        refl = plate.reflectivity(ph.rocking, delta, damaged)
        delay = self._nominal_delay(times)
        actual = delay + ph.pump.jitter_rms_ps * normals(seed, tags, STREAM_JITTER)
        response = np.where(pumped, ph.pump.per_shot(actual), 0.0)
        sample_uj = probe_on_sample * xray
        bragg = sample_uj * ph.bragg_photons_per_uj * refl * (1.0 + response)
        data: dict[str, np.ndarray] = {
            "tag": tags,
            "event_time": np.asarray(tl.unix(times), dtype=np.float64),
            "lightStatus/xray": xray.astype(np.int8),
            "lightStatus/laser": laser.astype(np.int8),
            "pd_i0": q,
            "beam/pulse_energy": (src.sase_uj + np.where(pump_on, src.pump_uj, 0.0)) * beam_on,
            "_pd_saturated": (q >= fs).astype(np.float64),
            "_beam": beam_on.astype(np.float64),
            "_delay_ps": delay,
            "_damaged": damaged.astype(np.int8),
        }
        for det in self.detectors:
            data.update(det.model.shots(seed, tags, bragg, sample_uj, energy))
        for name, dev in self.devices.items():
            data[f"_state/{name}"] = self._state_of(dev, times, n)
        return data

    def _state_of(self, dev: Any, times: np.ndarray, n: int) -> np.ndarray:
        if hasattr(dev, "positions_at"):
            return dev.positions_at(times)
        if hasattr(dev, "recorded_at"):
            return dev.recorded_at(times)
        if hasattr(dev, "values_at"):
            return np.asarray(dev.values_at(times), dtype=np.float64) * np.ones(n)
        return np.zeros(n)

    def _nominal_delay(self, times: np.ndarray) -> np.ndarray:
        total = np.zeros(len(times))
        for name in self.roles.get("delays", []):
            dev = self.devices[name]
            if hasattr(dev, "values_at"):
                total = total + dev.values_at(times)
            else:  # a pseudo-axis: invert its first component
                axis, scale, offset = next(iter(dev.components.values()))
                total = total + (axis.positions_at(times) - offset) / scale
        return total

    @property
    def _pd(self) -> dict[str, float]:
        spec = self.profile.devices[self.roles["i0"]]
        return {"charge_per_uj": float(spec.options.get("charge_per_uj", 1.0)),
                "dark_pc": float(spec.options.get("dark_pc", 0.0)),
                "adc_noise": float(self.profile.devices[self.roles["pd_gain"]].options.get(
                    "adc_noise", 0.0))}

    @property
    def _full_scale(self) -> list[float]:
        gain = self.role("pd_gain")
        table = self.profile.devices[gain.name].options["full_scale_pc"]
        return [float(table[s]) for s in gain.states]

    # -- acquisitions -------------------------------------------------------------------
    def trigger(self, device: str, shots: int) -> Status:
        """Acquire the next ``shots`` beam shots for ``device`` (shared by simultaneous ones)."""
        if int(shots) < 1:
            raise LimitError(f"{device} cannot integrate {shots} shots", device=device,
                             allowed="1 or more shots")
        now = self.clock.now()
        tl = self.timeline
        tags = tl.beam_tags_after(now, int(shots))
        key = (int(tags[0]), int(shots))
        if self._window is None or self._window.key != key:
            self._expose_window()
            self._window = Window(key, tags, tl.time_of(tags), self._version)
        window = self._window
        end = float(window.times[-1])
        if (fault := self.faults.take("timeout", device)) is not None:
            after = float(fault.get("after", 10.0))
            return Status(device, now, now + after, error=DeviceTimeoutError(
                f"{device} did not deliver within {after:g} s", device=device))
        if (drop := self.faults.dropout_time([device])) is not None and drop[1] <= end:
            when = max(now, drop[1])
            return Status(device, now, when, error=DetectorDropoutError(
                f"{device} stopped delivering frames", device=device,
                hint="Check the detector DAQ; clear the fault to continue."))
        if self.require_beam:
            lost = np.nonzero(~self.beam_loss.beam_on(tl.facility_time(window.times)))[0]
            if len(lost):
                when = max(now, float(window.times[lost[0]]))
                return Status(device, now, when, error=BeamLossError(
                    f"no X-ray beam during the {device} acquisition (tag {int(tags[lost[0]])})",
                    device=device, hint="Wait for the beam to return, then repeat."))
        return Status(device, now, end, timeout=end - now + self.timeout_margin)

    def _materialise(self) -> None:
        w = self._window
        if w is not None and w.data is None:
            w.data = self.shots(w.times, w.tags, acquired=True)

    def _expose_window(self) -> None:
        """Before the state moves on: run the pending window's shots if they can damage."""
        w = self._window
        if w is None or w.data is not None:
            return
        pump = self.role("pump")
        shutter = self.role("shutter")
        if (np.any(pump.values_at(w.times) == pump.code("on"))
                and np.any(shutter.index_at(w.times) == shutter.choices.index("open"))):
            self._materialise()

    def latest_shots(self) -> Mapping[str, np.ndarray]:
        """Shots of the last acquisition if nothing changed since, else the latest shot."""
        w = self._window
        if w is not None and w.version == self._version:
            self._materialise()
            return w.data  # type: ignore[return-value]
        now = self.clock.now()
        tl = self.timeline
        tag = tl.tag_at(now)
        tag -= tag % tl.divider
        if self._current is None or self._current[:2] != (tag, self._version):
            tags = np.asarray([tag], dtype=np.int64)
            self._current = (tag, self._version,
                             self.shots(tl.time_of(tags), tags, acquired=False))
        return self._current[2]
