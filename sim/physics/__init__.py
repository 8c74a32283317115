"""Pure physics models of the simulated beamline (numba kernels load only for images)."""

from expctl.pump_response import PumpResponse
from sim.physics.attenuation import Attenuation, foil_sums
from sim.physics.detector import DetectorModel, Sensor
from sim.physics.optics import Reflection, RockingCurve, bragg_angle_deg, fwhm_of
from sim.physics.sample import Damage, Plate
from sim.physics.source import BeamLoss, Source, SourceShots

__all__ = ["Attenuation", "BeamLoss", "Damage", "DetectorModel", "Plate", "PumpResponse",
           "Reflection", "RockingCurve", "Sensor", "Source", "SourceShots", "bragg_angle_deg",
           "foil_sums", "fwhm_of"]
