"""Simulated XFEL beamline: the embedded default backend of expctl.

expctl reaches it only through the ``expctl.backends`` entry point
(``sim = sim.backend:SimBackend``); tests and reduction acceptance may also
import :mod:`sim.truth` for the ground truth hidden in the data.  The package
itself imports nothing heavy: :class:`SimBeamline` loads on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sim.backend import PROFILE_DIR, SimBackend, open_archive

if TYPE_CHECKING:
    from sim.beamline import SimBeamline

__all__ = ["PROFILE_DIR", "SimBackend", "SimBeamline", "open_archive"]


def __getattr__(name: str) -> Any:
    if name == "SimBeamline":
        from sim.beamline import SimBeamline

        return SimBeamline
    raise AttributeError(f"module 'sim' has no attribute {name!r}")
