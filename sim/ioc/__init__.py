"""The simulated beamline served as an EPICS Channel Access IOC (caproto).

``python -m sim.ioc --profile bl3 --prefix BL3:`` (or ``expctl sim-ioc``) serves
the simulator's devices with the PV sets EPICS users know — motor records,
binary/multi-bit records, accelerator requests, a DAQ with lossless shot blocks —
so expctl's ``epics`` backend (and any CA client) can drive it over the network.
The PV interface is documented in docs/epics.md.
"""

from sim.ioc.server import SimIOC

__all__ = ["SimIOC"]
