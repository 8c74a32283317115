"""Simulated XFEL beamline: the embedded default backend of expctl.

expctl reaches it only through the ``expctl.backends`` entry point
(``sim = sim.backend:SimBackend``); tests and reduction acceptance may also
import :mod:`sim.truth` for the ground truth hidden in the data.
"""

from sim.backend import PROFILE_DIR, SimBackend, open_archive
from sim.beamline import SimBeamline

__all__ = ["PROFILE_DIR", "SimBackend", "SimBeamline", "open_archive"]
