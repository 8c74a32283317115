"""The crystal plate: spot cells, per-spot Bragg offsets, pump damage.

The plate is divided into square cells of ``pitch`` (larger than the damage
radius, so spots are independent); each cell has its own Bragg-angle offset
(strain / mosaic tilt), a pure function of the seed and the cell, drawn from a
normal distribution of rms ``spot_offset_rms_urad`` clipped at
``spot_offset_clip_urad``.  The spot grid users step through is the set of
cell centres at least ``margin`` from the plate edge.  A pumped shot damages
its cell: later shots there see a weaker, broader, shifted reflection.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from expctl.devices.protocols import SpotGrid
from sim.physics.optics import RockingCurve
from sim.physics.rand import normals

__all__ = ["Damage", "Plate"]

STREAM_SPOT = 500
_CELL_BIAS = 1 << 20


@dataclass(frozen=True, slots=True)
class Damage:
    """What a pump shot leaves behind (profile ``physics.sample.damage``)."""

    intensity_factor: float = 0.25
    broadening: float = 4.0
    shift_urad: float = 40.0


@dataclass
class Plate:
    """Geometry and per-cell properties of the sample plate.

    Args:
        seed: profile seed.
        x_axis, y_axis: stage motors carrying the plate.
        plate_mm: (x0, x1, y0, y1) plate extent in stage coordinates.
        pitch_mm: cell size = spot spacing.
        margin_mm: minimum distance of a grid spot from the plate edge.
        offset_rms_urad, offset_clip_urad: per-spot Bragg offset distribution.
        damage: damage model.
    """

    seed: int
    x_axis: str
    y_axis: str
    plate_mm: tuple[float, float, float, float]
    pitch_mm: float
    margin_mm: float
    offset_rms_urad: float
    offset_clip_urad: float
    damage: Damage = field(default_factory=Damage)
    damaged_at: dict[int, float] = field(default_factory=dict)
    _offsets: dict[int, float] = field(default_factory=dict, repr=False, compare=False)
    #: told after a shot damaged a cell for the first time (persists the sample's damage)
    on_damage: Callable[[], None] | None = field(default=None, repr=False, compare=False)

    @classmethod
    def from_profile(cls, seed: int, grid: Mapping[str, Any], sample: Mapping[str, Any]
                     ) -> Plate:
        return cls(seed=seed, x_axis=str(grid["x_axis"]), y_axis=str(grid["y_axis"]),
                   plate_mm=tuple(float(v) for v in grid["plate_mm"]),  # type: ignore[arg-type]
                   pitch_mm=float(grid["pitch_mm"]), margin_mm=float(grid["margin_mm"]),
                   offset_rms_urad=float(sample.get("spot_offset_rms_urad", 0.0)),
                   offset_clip_urad=float(sample.get("spot_offset_clip_urad", math.inf)),
                   damage=Damage(**dict(sample.get("damage", {}))))

    def grid(self) -> SpotGrid:
        """Spot centres at least ``margin`` inside the plate, on the cell lattice."""
        return SpotGrid.on_plate(self.x_axis, self.y_axis, self.plate_mm, self.pitch_mm,
                                 self.margin_mm)

    def cells(self, x: np.ndarray | float, y: np.ndarray | float) -> np.ndarray | int:
        """Integer cell keys of stage positions (cell (0, 0) holds grid spot 0).

        Plain numbers give a plain ``int`` (a stage at rest during the shots).
        """
        x0, _, y0, _ = self.plate_mm
        if np.ndim(x) == 0 and np.ndim(y) == 0:
            col = math.floor((float(x) - (x0 + self.margin_mm)) / self.pitch_mm + 0.5)
            row = math.floor((float(y) - (y0 + self.margin_mm)) / self.pitch_mm + 0.5)
            return ((row + _CELL_BIAS) << 21) + (col + _CELL_BIAS)
        col = np.floor((np.asarray(x) - (x0 + self.margin_mm)) / self.pitch_mm + 0.5)
        row = np.floor((np.asarray(y) - (y0 + self.margin_mm)) / self.pitch_mm + 0.5)
        return ((row.astype(np.int64) + _CELL_BIAS) << 21) + (col.astype(np.int64) + _CELL_BIAS)

    def cell_of_index(self, index: int) -> int:
        """Cell key of grid spot ``index`` (row-major over ys, then xs)."""
        row, col = divmod(index, len(self.grid().xs))
        return ((row + _CELL_BIAS) << 21) + (col + _CELL_BIAS)

    def offsets_urad(self, cells: np.ndarray | int) -> np.ndarray | float:
        """Bragg offset of each cell (urad): a pure function of seed and cell."""
        if np.ndim(cells) == 0:
            got = self._offsets.get(int(cells))
            if got is None:
                got = self._offsets[int(cells)] = float(
                    self.offsets_urad(np.asarray([cells], dtype=np.int64))[0])
            return got
        z = normals(self.seed, np.asarray(cells, dtype=np.int64), STREAM_SPOT)
        lim = self.offset_clip_urad
        return np.clip(z * self.offset_rms_urad, -lim, lim)

    def expose(self, cells: np.ndarray | int, times: np.ndarray,
               pumped: np.ndarray | bool) -> None:
        """Record the pumped shots: their cells are damaged from then on."""
        hit = np.broadcast_to(pumped, np.shape(times))
        cells = np.broadcast_to(np.asarray(cells, dtype=np.int64), np.shape(times))
        new = False
        for cell, t in zip(cells[hit].tolist(), times[hit].tolist(), strict=True):
            if t < self.damaged_at.get(cell, math.inf):
                new = new or cell not in self.damaged_at
                self.damaged_at[cell] = t
        if new and self.on_damage is not None:
            self.on_damage()

    def damaged(self, cells: np.ndarray | int, times: np.ndarray,
                record: Mapping[int, float] | None = None) -> np.ndarray | bool:
        """True for shots hitting a cell damaged strictly before them (a bool if all agree);
        ``record``: the damage record to look in (default: :attr:`damaged_at` now)."""
        damaged_at = self.damaged_at if record is None else record
        if not damaged_at:
            return False
        if np.ndim(cells) == 0:
            when = damaged_at.get(int(cells), math.inf)
            if when < times[0]:
                return True
            if when >= times[-1]:
                return False
            return when < times
        when = np.array([damaged_at.get(c, math.inf) for c in cells.tolist()])
        return when < times

    def reflectivity(self, rocking: RockingCurve, delta_urad: np.ndarray,
                     damaged: np.ndarray, broadening: np.ndarray | float = 1.0) -> np.ndarray:
        """Reflectivity of each shot with damage applied; ``broadening`` widens the curve
        further (a strained lattice), keeping its integral."""
        dmg = self.damage
        if damaged is True:  # every shot on a damaged cell (one shot: plain floats)
            b = dmg.broadening * broadening
            return rocking(delta_urad - dmg.shift_urad, b) * (dmg.intensity_factor
                                                              * dmg.broadening)
        if damaged is False or not np.any(damaged):
            return rocking(delta_urad, broadening)
        shift = np.where(damaged, dmg.shift_urad, 0.0)
        broad = np.where(damaged, dmg.broadening, 1.0)
        scale = np.where(damaged, dmg.intensity_factor * dmg.broadening, 1.0)
        return rocking(delta_urad - shift, broad * broadening) * scale
