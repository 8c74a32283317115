"""expctl — experiment control for pulsed X-ray beamlines.

Kept import-light on purpose: the CLI must start fast, so heavy modules
(numba, h5py, matplotlib) are imported only where they are used.
"""

__version__ = "0.1.0"
