"""Detector frame reductions: pedestal, ROIs, photon counting, histograms, projections."""

from __future__ import annotations

from expctl.analysis.errors import AnalysisError

__all__ = ["adu_per_photon"]

#: mean energy to make one electron-hole pair in silicon (eV)
SILICON_PAIR_EV = 3.65


def adu_per_photon(energy_kev: float, absgain: float) -> float:
    """ADU one photon deposits: ``E / (3.65 eV · absgain)`` (≈152 at 10 keV, 18 e⁻/ADU).

    Args:
        energy_kev: photon energy in keV.
        absgain: detector conversion gain in electrons per ADU (``mp_absgain``).
    """
    if not (energy_kev > 0 and absgain > 0):
        raise AnalysisError(
            f"photon energy ({energy_kev} keV) and absgain ({absgain} e-/ADU) must be positive")
    return energy_kev * 1000.0 / (SILICON_PAIR_EV * absgain)
