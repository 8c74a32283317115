"""Quick analysis: peak finding and detector reductions that steer procedures.

Pure functions over numpy arrays returning small result dataclasses.  numba is
imported only inside the functions that need it, so importing this package is
cheap (CLI start-up, validation and dry-runs never pay for it).
"""

from expctl.analysis.detector import adu_per_photon
from expctl.analysis.errors import AnalysisError
from expctl.analysis.peaks import (
    FLAGS_UNUSABLE,
    PeakResult,
    find_peak,
    normalize_by_i0,
    peak_cen,
    peak_com,
    peak_max,
)

__all__ = [
    "FLAGS_UNUSABLE",
    "AnalysisError",
    "PeakResult",
    "adu_per_photon",
    "find_peak",
    "normalize_by_i0",
    "peak_cen",
    "peak_com",
    "peak_max",
]
