"""Every physics model of a beamline, built once from its profile (see sim/PHYSICS.md)."""

from __future__ import annotations

from dataclasses import dataclass

from expctl.devices.profile import Profile
from expctl.errors import BackendError
from expctl.pump_response import PumpResponse
from sim.physics.attenuation import Attenuation
from sim.physics.optics import RockingCurve
from sim.physics.source import Source
from sim.physics.timing import Timing, TimingTool

__all__ = ["Physics", "timing_tool"]


@dataclass(frozen=True)
class Physics:
    """Every physics model of a profile, built once per beamline (see sim/PHYSICS.md)."""

    source: Source
    beam_loss_rate_per_hour: float
    beam_loss_mean_duration_s: float
    attenuation: Attenuation
    si_photo: Attenuation
    rocking: RockingCurve
    d_spacing_angstrom: float
    pump: PumpResponse
    timing: Timing
    pair_energy_ev: float

    @classmethod
    def from_profile(cls, profile: Profile) -> Physics:
        ph = profile.physics
        try:
            src = dict(ph.get("source", {}))
            loss = dict(src.pop("beam_loss", {}) or {})
            att = dict(ph.get("attenuation", {}))
            energy = float(src.get("photon_energy_kev", 10.0))
            rocking = RockingCurve.from_profile(ph, energy)
            source = Source(**src, mono_passband_zeta=rocking.passband_zeta)
            pump = {k: (None if v is None else float(v))
                    for k, v in dict(ph.get("pump_response", {})).items()}
            pump.setdefault("reference_uj", source.pump_pulse_energy_uj)
            return cls(
                source=source,
                beam_loss_rate_per_hour=float(loss.get("rate_per_hour", 0.0)),
                beam_loss_mean_duration_s=float(loss.get("mean_duration_s", 60.0)),
                attenuation=Attenuation(float(att.get("length_um_at_10kev", 127.2)),
                                        float(att.get("energy_exponent", 2.90))),
                si_photo=Attenuation(float(att.get("photo_length_um_at_10kev", 130.3)),
                                     float(att.get("photo_energy_exponent", 2.94))),
                rocking=rocking,
                d_spacing_angstrom=rocking.sample.d_spacing_angstrom,
                pump=PumpResponse(**pump),
                timing=Timing.from_options(dict(ph.get("timing", {}) or {}), profile.seed),
                pair_energy_ev=float(dict(ph.get("detector", {})).get("pair_energy_ev", 3.65)),
            )
        except (TypeError, ValueError) as exc:
            raise BackendError(f"profile {profile.name}: bad physics parameter: {exc}") from None


def timing_tool(profile: Profile) -> TimingTool | None:
    """The profile's timing tool (a device of kind ``timing_tool``), if it has one."""
    for spec in profile.devices.values():
        if spec.kind == "timing_tool":
            return TimingTool.from_options(spec.name, spec.options)
    return None
