"""X-ray attenuation in silicon: attenuator foils, and what a Si sensor absorbs.

Both follow a power law ``lambda(E) = lambda_10 * (E / 10 keV)**n`` fitted to
xraydb's Elam tables from 6 to 14 keV (within 1.5 %, well above the Si K edge at
1.839 keV).  A foil removes photons by every process (total attenuation:
``lambda_10 = 127.2 um``, ``n = 2.90``); a sensor collects charge only from
photoabsorption (``lambda_10 = 130.3 um``, ``n = 2.94``), so its quantum
efficiency is ``1 - exp(-t / lambda_photo)``.  The numbers are profile parameters.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations

import numpy as np

__all__ = ["Attenuation", "foil_sums"]

SI_K_EDGE_KEV = 1.839


@dataclass(frozen=True, slots=True)
class Attenuation:
    """Attenuation-length model of one foil material.

    Args:
        length_um_at_10kev: attenuation length at 10 keV in um.
        energy_exponent: power-law exponent of its energy dependence.
    """

    length_um_at_10kev: float = 127.2
    energy_exponent: float = 2.90

    def length_um(self, energy_kev: float | np.ndarray) -> float | np.ndarray:
        """Attenuation length (1/e) in um at ``energy_kev``."""
        e = np.asarray(energy_kev, dtype=np.float64)
        if np.any(e <= SI_K_EDGE_KEV):
            raise ValueError(f"attenuation model is valid above the Si K edge "
                             f"({SI_K_EDGE_KEV} keV), got {energy_kev} keV")
        out = self.length_um_at_10kev * (e / 10.0) ** self.energy_exponent
        return float(out) if out.ndim == 0 else out

    def transmission(self, thickness_um: float | np.ndarray,
                     energy_kev: float | np.ndarray) -> float | np.ndarray:
        """Fraction of photons transmitted through ``thickness_um`` of the material."""
        out = np.exp(-np.asarray(thickness_um, dtype=np.float64) / self.length_um(energy_kev))
        return float(out) if np.ndim(out) == 0 else out

    def absorbed(self, thickness_um: float, energy_kev: float) -> float:
        """Fraction absorbed in ``thickness_um`` (a sensor's quantum efficiency, for the
        photoabsorption length)."""
        return float(-np.expm1(-thickness_um / float(self.length_um(energy_kev))))


def foil_sums(foils: list[float]) -> list[float]:
    """Every thickness a foil set can make (sorted, unique): the attenuator's choices."""
    sums = {0.0}
    for n in range(1, len(foils) + 1):
        sums.update(float(sum(c)) for c in combinations(foils, n))
    return sorted(sums)
