"""EPICS Channel Access backend: beamline devices as PVs, through caproto's threading client.

A profile maps device names to PV names (docs/epics.md); :class:`EpicsBackend`
connects them and builds devices that implement the expctl.devices protocols, so
the engine drives an EPICS beamline exactly as it drives the simulator.  Dry-runs
and estimates rehearse on the simulated twin the profile names (``twin:``).
"""

from expctl.epics.backend import PROFILE_DIR, EpicsBackend

__all__ = ["PROFILE_DIR", "EpicsBackend"]
