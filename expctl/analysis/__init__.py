"""Quick analysis: peak finding, detector reductions and binning that steer procedures.

Pure functions over numpy arrays returning small result dataclasses.  numba is
imported only inside the functions that need it (fits, detector kernels), so
importing this package is cheap: CLI start-up, validation and dry-runs never
pay for it.  Synthetic test data lives in :mod:`expctl.testing.synthetic_data`.
"""

from expctl.analysis.assembly import AssemblyPlan, SensorGeometry
from expctl.analysis.azimuthal import AzimuthalBins, AzimuthalResult
from expctl.analysis.binning import (
    BinnedResult,
    OnOffResult,
    bin_sums,
    edges_from_centers,
    split_on_off,
    window_mask,
)
from expctl.analysis.detector import (
    FrameReduction,
    HistogramResult,
    ProjectionResult,
    Roi,
    RoiStats,
    adu_histogram,
    adu_per_photon,
    count_photons,
    photon_image,
    project,
    reduce_frames,
    roi_stats,
    subtract_pedestal,
)
from expctl.analysis.errors import AnalysisError, I0Error
from expctl.analysis.peaks import (
    FLAGS_UNUSABLE,
    PeakResult,
    find_edge,
    find_peak,
    normalize_by_i0,
    peak_cen,
    peak_com,
    peak_max,
)
from expctl.analysis.runsums import (
    FLAGS_UNUSABLE_SUMS,
    DarkFrame,
    DetectorLayout,
    RunSumResult,
    RunSums,
    dark_frame,
    dark_subtracted_sum,
    run_sums,
)
from expctl.analysis.scanstats import ScanStatsResult, scan_stats

__all__ = [
    "FLAGS_UNUSABLE",
    "FLAGS_UNUSABLE_SUMS",
    "AnalysisError",
    "I0Error",
    "AssemblyPlan",
    "AzimuthalBins",
    "AzimuthalResult",
    "BinnedResult",
    "DarkFrame",
    "DetectorLayout",
    "FrameReduction",
    "HistogramResult",
    "OnOffResult",
    "PeakResult",
    "ProjectionResult",
    "RunSumResult",
    "RunSums",
    "Roi",
    "ScanStatsResult",
    "RoiStats",
    "SensorGeometry",
    "adu_histogram",
    "adu_per_photon",
    "bin_sums",
    "count_photons",
    "dark_frame",
    "dark_subtracted_sum",
    "edges_from_centers",
    "find_edge",
    "find_peak",
    "normalize_by_i0",
    "peak_cen",
    "peak_com",
    "peak_max",
    "photon_image",
    "project",
    "reduce_frames",
    "roi_stats",
    "run_sums",
    "scan_stats",
    "split_on_off",
    "subtract_pedestal",
    "window_mask",
]
