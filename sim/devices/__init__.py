"""Simulated devices; each computes its completion times analytically on the injected clock."""

from sim.devices.accelerator import SimAcceleratorParameter
from sim.devices.daq import SimDAQ
from sim.devices.detector import SimMPCCD
from sim.devices.discrete import SimAttenuator, SimDiscrete, SimSwitch
from sim.devices.monitors import SimBeamMonitor, SimPhotodiode
from sim.devices.motor import SimMotor, Trajectory, move_time, positions
from sim.devices.step import Step

__all__ = ["SimAcceleratorParameter", "SimAttenuator", "SimBeamMonitor", "SimDAQ", "SimDiscrete",
           "SimMPCCD", "SimMotor", "SimPhotodiode", "SimSwitch", "Step", "Trajectory",
           "move_time", "positions"]
