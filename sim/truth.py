"""Ground truth the simulator hides in its data, for tests and reduction acceptance.

Everything here is derived from the profile (and its seed) exactly as the
simulator derives it, so a test can compare what analysis recovers with what
the simulator put in.  Times are quoted as a reduction sees them: on the
nominal axis of the delay device a sequence scans (``delay_axis``; the other
delay devices where the profile starts them), so ``t0_ps`` includes the zero
offsets and ``tau_ps`` the stage scale errors.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from expctl.devices.profile import Profile
from expctl.pump_response import PumpResponse
from sim.physics.beamline import Physics
from sim.physics.optics import photons_per_uj
from sim.physics.sample import Plate
from sim.shotmodel import photodiode
from sim.shotstate import RoleMap

__all__ = ["GroundTruth", "bragg_angle", "ground_truth", "spot_bragg_offset", "spot_peak_theta"]


@dataclass(frozen=True)
class GroundTruth:
    """The hidden parameters of a profile.

    Attributes:
        t0_ps, amplitude, tau_ps, residual: pump response ``dI/I`` on ``delay_axis``
            (amplitude at the mean pump pulse energy).
        jitter_rms_ps: rms pump–probe timing jitter of the profile's mechanism.
        mechanism: ``two_colour`` or ``optical_laser``.
        delay_axis: the delay device the times are quoted on.
        rocking_fwhm_urad: FWHM of the rocking curve of an undamaged spot.
        peak_reflectivity: its peak: the fraction of the monochromatic probe reflected.
        bragg_angle_deg: kinematic Bragg angle at the nominal photon energy.
        refraction_urad: how far above it the reflection peaks (no spot offset).
        photon_energy_kev: nominal probe photon energy.
        probe_pulse_energy_uj: mean probe pulse energy reaching the attenuator.
        quantum_efficiency: of the (first) mpccd at the nominal energy.
        adu_per_photon: single-photon signal of the (first) mpccd sensor at that energy.
        i0_pc_per_uj: mean I0 charge per uJ of probe passing the diode (nominal gain).
        i0_gain_error, i0_offset_pc: the I0 amplifier's true gain and offset per range.
    """

    t0_ps: float
    amplitude: float
    tau_ps: float
    residual: float
    jitter_rms_ps: float
    mechanism: str
    delay_axis: str | None
    rocking_fwhm_urad: float
    peak_reflectivity: float
    bragg_angle_deg: float
    refraction_urad: float
    photon_energy_kev: float
    probe_pulse_energy_uj: float
    quantum_efficiency: float
    adu_per_photon: float
    i0_pc_per_uj: float
    i0_gain_error: dict[str, float] = field(default_factory=dict)
    i0_offset_pc: dict[str, float] = field(default_factory=dict)

    @property
    def peak_theta_deg(self) -> float:
        """Theta of the reflection's peak for a spot without Bragg offset."""
        return self.bragg_angle_deg + math.degrees(self.refraction_urad * 1e-6)

    @property
    def response(self) -> PumpResponse:
        """The pump response on :attr:`delay_axis` (for ``expected_response``)."""
        return PumpResponse(self.amplitude, self.t0_ps, self.tau_ps, self.residual)


def _axis_scale(profile: Profile, axis: str | None) -> tuple[float, float]:
    """(nominal delay of ``axis`` at which pump and probe coincide with the other delay
    devices at their initial settings, actual ps per nominal ps of ``axis``)."""
    if axis is None:
        return 0.0, 1.0
    grid = _grid(profile)
    roles = RoleMap.from_profile(profile, str(grid["x_axis"]), str(grid["y_axis"]))
    timing = dict(dict(profile.physics).get("timing", {}) or {})
    zeros = {str(k): float(v) for k, v in dict(timing.get("zero_offsets_ps", {})).items()}
    weight, rest = 1.0, 0.0
    for name in profile.roles.delays:
        spec = profile.devices[name]
        comps = dict(spec.options.get("components", {})) if spec.kind == "pseudo" else {}
        w = sum(wk for d, _, _, wk in roles.delays if d in comps) if comps else 1.0
        if name == axis:
            weight = w
            continue
        if comps:  # a pseudo-axis starts where its first stage stands
            stage, comp = next(iter(comps.items()))
            start = (float(profile.devices[stage].options.get("initial", 0.0))
                     - float(comp.get("offset", 0.0))) / float(comp["scale"])
        else:
            start = float(spec.options.get("initial", 0.0))
        rest += w * (start - zeros.get(name, 0.0))
    return zeros.get(axis, 0.0) - rest / weight, weight


def ground_truth(profile: Profile, delay_axis: str | None = None) -> GroundTruth:
    """The profile's pump response, timing, rocking curve, flux and monitor truth.

    Args:
        profile: the beamline profile.
        delay_axis: the delay device times are quoted on (default: the last of the
            profile's ``roles: delays``, the one sequences scan).
    """
    ph = Physics.from_profile(profile)
    src = ph.source
    e = src.photon_energy_kev
    delays = list(profile.roles.delays)
    axis = delay_axis if delay_axis is not None else (delays[-1] if delays else None)
    zero, weight = _axis_scale(profile, axis)
    absgain, qe = math.nan, math.nan
    for spec in profile.devices.values():
        if spec.kind == "mpccd":
            absgain = float(spec.options["sensors"][0]["absgain"])
            qe = ph.si_photo.absorbed(float(spec.options.get("sensor_thickness_um", 50.0)), e)
            break
    pd = photodiode(profile, ph)
    gains = tuple(profile.devices[profile.roles.require("pd_gain")].limits.choices)
    return GroundTruth(
        t0_ps=zero + ph.pump.t0_ps / weight, amplitude=ph.pump.amplitude,
        tau_ps=ph.pump.tau_ps / weight, residual=ph.pump.residual,
        jitter_rms_ps=ph.timing.jitter_rms_ps, mechanism=ph.timing.mechanism, delay_axis=axis,
        rocking_fwhm_urad=ph.rocking.fwhm_urad, peak_reflectivity=ph.rocking.peak,
        bragg_angle_deg=float(ph.rocking.sample.bragg_deg(e)),
        refraction_urad=ph.rocking.sample.refraction_shift_urad(e) + ph.rocking.peak_offset_urad,
        photon_energy_kev=e, probe_pulse_energy_uj=src.probe_pulse_energy_uj,
        quantum_efficiency=qe,
        adu_per_photon=e * 1e3 / (ph.pair_energy_ev * absgain),
        i0_pc_per_uj=pd.pc_per_uj(e),
        i0_gain_error={g: float(v) for g, v in zip(gains, pd.gain_error, strict=True)},
        i0_offset_pc={g: float(v) for g, v in zip(gains, pd.offset_pc, strict=True)},
    )


def probe_photons(profile: Profile) -> float:
    """Mean probe photons per pulse reaching the attenuator."""
    truth = ground_truth(profile)
    return truth.probe_pulse_energy_uj * photons_per_uj(truth.photon_energy_kev)


def _grid(profile: Profile) -> dict:
    return next(iter(profile.spot_grids.values())).as_dict()


def _plate(profile: Profile) -> Plate:
    return Plate.from_profile(profile.seed, _grid(profile), profile.physics.get("sample", {}))


def spot_bragg_offset(profile: Profile, index: int) -> float:
    """Bragg-angle offset (urad) of grid spot ``index`` of the profile's sample grid."""
    plate = _plate(profile)
    return float(plate.offsets_urad(np.asarray([plate.cell_of_index(index)]))[0])


def bragg_angle(profile: Profile) -> float:
    """Kinematic Bragg angle (deg) at the nominal photon energy (no refraction, no offset)."""
    return ground_truth(profile).bragg_angle_deg


def spot_peak_theta(profile: Profile, index: int) -> float:
    """Theta (deg) at which an undamaged spot ``index`` reflects most strongly."""
    return ground_truth(profile).peak_theta_deg + math.degrees(
        spot_bragg_offset(profile, index) * 1e-6)
