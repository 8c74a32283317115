"""Quick analysis: peak finding, detector reductions and binning that steer procedures.

Pure functions over numpy arrays returning small result dataclasses.  numba is
imported only inside the functions that need it (fits, detector kernels), and
each submodule only when one of its names is first used (PEP 562), so importing
this package is cheap: CLI start-up, validation and dry-runs never pay for it.
Synthetic test data lives in :mod:`expctl.testing.synthetic_data`.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
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

#: public name -> the submodule that defines it (imported on first use)
_WHERE = {
    "AnalysisError": "errors",
    "AssemblyPlan": "assembly",
    "AzimuthalBins": "azimuthal",
    "AzimuthalResult": "azimuthal",
    "BinnedResult": "binning",
    "DarkFrame": "runsums",
    "DetectorLayout": "runsums",
    "FLAGS_UNUSABLE": "peaks",
    "FLAGS_UNUSABLE_SUMS": "runsums",
    "FrameReduction": "detector",
    "HistogramResult": "detector",
    "I0Error": "errors",
    "OnOffResult": "binning",
    "PeakResult": "peaks",
    "ProjectionResult": "detector",
    "Roi": "detector",
    "RoiStats": "detector",
    "RunSumResult": "runsums",
    "RunSums": "runsums",
    "SensorGeometry": "assembly",
    "adu_histogram": "detector",
    "adu_per_photon": "detector",
    "bin_sums": "binning",
    "count_photons": "detector",
    "dark_frame": "runsums",
    "dark_subtracted_sum": "runsums",
    "edges_from_centers": "binning",
    "find_edge": "peaks",
    "find_peak": "peaks",
    "normalize_by_i0": "peaks",
    "peak_cen": "peaks",
    "peak_com": "peaks",
    "peak_max": "peaks",
    "photon_image": "detector",
    "project": "detector",
    "reduce_frames": "detector",
    "roi_stats": "detector",
    "run_sums": "runsums",
    "scan_stats": "scanstats",
    "ScanStatsResult": "scanstats",
    "split_on_off": "binning",
    "subtract_pedestal": "detector",
    "window_mask": "binning",
}


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


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
    "ScanStatsResult",
    "Roi",
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
