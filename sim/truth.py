"""Ground truth the simulator hides in its data, for tests and reduction acceptance.

Everything here is derived from the profile (and its seed) exactly as the
simulator derives it, so a test can compare what analysis recovers with what
the simulator put in.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from expctl.devices.profile import Profile
from sim.physics.optics import bragg_angle_deg
from sim.physics.sample import Plate
from sim.world import Physics

__all__ = ["GroundTruth", "bragg_angle", "ground_truth", "spot_bragg_offset", "spot_peak_theta"]


@dataclass(frozen=True, slots=True)
class GroundTruth:
    """The hidden parameters of a profile.

    Attributes:
        t0_ps, amplitude, tau_ps, jitter_rms_ps: pump response ``dI/I``.
        rocking_fwhm_urad: FWHM of the rocking curve (intrinsic (x) mosaic), undamaged spot.
        bragg_angle_deg: Bragg angle at the nominal photon energy (no spot offset).
        photon_energy_kev: nominal probe photon energy.
        adu_per_photon: single-photon signal of the (first) mpccd sensor at that energy.
    """

    t0_ps: float
    amplitude: float
    tau_ps: float
    jitter_rms_ps: float
    rocking_fwhm_urad: float
    bragg_angle_deg: float
    photon_energy_kev: float
    adu_per_photon: float


def ground_truth(profile: Profile) -> GroundTruth:
    """The profile's pump response, rocking width and Bragg angle."""
    ph = Physics.from_profile(profile)
    e = ph.source.photon_energy_kev
    absgain = None
    for spec in profile.devices.values():
        if spec.kind == "mpccd":
            absgain = float(spec.options["sensors"][0]["absgain"])
            break
    return GroundTruth(
        t0_ps=ph.pump.t0_ps, amplitude=ph.pump.amplitude, tau_ps=ph.pump.tau_ps,
        jitter_rms_ps=ph.pump.jitter_rms_ps, rocking_fwhm_urad=ph.rocking.fwhm_urad,
        bragg_angle_deg=float(bragg_angle_deg(e, ph.d_spacing_angstrom)),
        photon_energy_kev=e,
        adu_per_photon=float("nan") if absgain is None else e * 1e3 / (ph.pair_energy_ev
                                                                       * absgain),
    )


def _plate(profile: Profile) -> Plate:
    grid = next(iter(profile.spot_grids.values()))
    return Plate.from_profile(profile.seed, grid.as_dict(),
                              profile.physics.get("sample", {}))


def spot_bragg_offset(profile: Profile, index: int) -> float:
    """Bragg-angle offset (urad) of grid spot ``index`` of the profile's sample grid."""
    plate = _plate(profile)
    return float(plate.offsets_urad(np.asarray([plate.cell_of_index(index)]))[0])


def bragg_angle(profile: Profile) -> float:
    """Bragg angle (deg) at the nominal photon energy, without any spot offset."""
    return ground_truth(profile).bragg_angle_deg


def spot_peak_theta(profile: Profile, index: int) -> float:
    """Theta (deg) at which an undamaged spot ``index`` reflects most strongly."""
    return bragg_angle(profile) + math.degrees(spot_bragg_offset(profile, index) * 1e-6)
