"""Assembly of a multi-sensor detector (octal MPCCD) into one image.

Geometry convention (canvas pixels, x = column to the right, y = row down):
sensor pixel (row r, col c) lands at

    X = x0 + s·(c·cosθ − r·sinθ),   Y = y0 + s·(c·sinθ + r·cosθ)

where (x0, y0) is the sensor's ``position_um`` (centre of its first pixel, in
µm from the lab origin) divided by the canvas pixel size, θ its
``rotation_deg`` and s its pixel size over the canvas pixel size (ippy's
``dScale``).  Each canvas pixel takes the nearest sensor pixel (inverse
mapping, so no holes for any angle) times the sensor's ``gain`` (ippy's
``iScale``, e.g. absgain to put sensors on one scale).  A :class:`AssemblyPlan`
holds the per-sensor inverse affine maps and bounding boxes, computed once per
geometry; :meth:`AssemblyPlan.assemble` is the numba gather.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from expctl.analysis.errors import AnalysisError

__all__ = ["AssemblyPlan", "SensorGeometry"]


@dataclass(frozen=True, slots=True)
class SensorGeometry:
    """Where one sensor sits: ``position_um`` (x, y) of pixel (0, 0), rotation, gain, size."""

    position_um: tuple[float, float]
    rotation_deg: float = 0.0
    gain: float = 1.0
    shape: tuple[int, int] = (1024, 512)
    pixel_um: float = 50.0

    @classmethod
    def centered(cls, center_um: tuple[float, float], rotation_deg: float = 0.0,
                 gain: float = 1.0, shape: tuple[int, int] = (1024, 512),
                 pixel_um: float = 50.0) -> SensorGeometry:
        """A sensor given by the lab (x, y) of its centre, as stpy's ``mp_posx/posy`` give it."""
        ny, nx = shape
        t = math.radians(rotation_deg)
        cols, rows = (nx - 1) / 2.0 * pixel_um, (ny - 1) / 2.0 * pixel_um
        x = center_um[0] - (cols * math.cos(t) - rows * math.sin(t))
        y = center_um[1] - (cols * math.sin(t) + rows * math.cos(t))
        return cls((x, y), rotation_deg, gain, shape, pixel_um)

    def corners_um(self) -> np.ndarray:
        """Lab (x, y) of the four outer pixel-edge corners, µm."""
        ny, nx = self.shape
        t = math.radians(self.rotation_deg)
        cos_t, sin_t = math.cos(t), math.sin(t)
        rows = np.array([-0.5, -0.5, ny - 0.5, ny - 0.5])
        cols = np.array([-0.5, nx - 0.5, -0.5, nx - 0.5])
        x = self.position_um[0] + self.pixel_um * (cols * cos_t - rows * sin_t)
        y = self.position_um[1] + self.pixel_um * (cols * sin_t + rows * cos_t)
        return np.stack([x, y], axis=1)


@dataclass(frozen=True)
class AssemblyPlan:
    """Precomputed mapping of a sensor set onto a canvas.

    ``origin`` is the canvas pixel (y, x) of the lab origin (0, 0) µm.
    """

    sensors: tuple[SensorGeometry, ...]
    shape: tuple[int, int]
    origin: tuple[float, float]
    pixel_um: float
    inverse: np.ndarray
    gains: np.ndarray
    boxes: np.ndarray

    @classmethod
    def from_sensors(cls, sensors: Sequence[SensorGeometry], *, pixel_um: float = 50.0,
                     shape: tuple[int, int] | None = None,
                     origin: tuple[float, float] | None = None) -> AssemblyPlan:
        """Plan the assembly; the canvas defaults to the sensors' bounding box.

        Args:
            sensors: one geometry per sensor, in the order frames will come.
            pixel_um: canvas pixel size.
            shape: canvas (rows, cols); default: just large enough.
            origin: canvas pixel (y, x) of the lab origin; default: the canvas
                centre when ``shape`` is given, else so the bounding box fits.
        """
        if not sensors:
            raise AnalysisError("an assembly needs at least one sensor")
        if not pixel_um > 0:
            raise AnalysisError(f"canvas pixel size must be positive, got {pixel_um} um")
        shapes = {s.shape for s in sensors}
        if len(shapes) != 1:
            raise AnalysisError(f"all sensors must have one shape, got {sorted(shapes)}")
        corners = np.concatenate([s.corners_um() for s in sensors]) / pixel_um
        if shape is None:
            # the sensors' outer edges, with slack for round-off in the corners; the
            # lowest edge on the lower edge of canvas pixel 0, so sensors whose edges lie
            # on whole or on half pixels alike map one pixel onto one canvas pixel
            lo, hi = corners.min(axis=0), corners.max(axis=0)
            size = np.ceil(hi - lo - 1e-6)
            shape = (int(size[1]), int(size[0]))
            if origin is None:
                origin = (round(-2.0 * float(lo[1]) - 1.0) / 2.0,
                          round(-2.0 * float(lo[0]) - 1.0) / 2.0)
        elif origin is None:
            origin = ((shape[0] - 1) / 2.0, (shape[1] - 1) / 2.0)
        if shape[0] < 1 or shape[1] < 1:
            raise AnalysisError(f"canvas shape must be positive, got {shape}")
        inverse = np.empty((len(sensors), 6))
        boxes = np.empty((len(sensors), 4), dtype=np.int64)
        for k, s in enumerate(sensors):
            inverse[k] = _inverse_map(s, pixel_um, origin)
            c = s.corners_um() / pixel_um
            ys = c[:, 1] + origin[0]
            xs = c[:, 0] + origin[1]
            boxes[k] = (max(int(math.floor(ys.min())), 0), min(int(math.ceil(ys.max())) + 1,
                                                                shape[0]),
                        max(int(math.floor(xs.min())), 0), min(int(math.ceil(xs.max())) + 1,
                                                                shape[1]))
        gains = np.array([s.gain for s in sensors], dtype=np.float32)
        return cls(tuple(sensors), (int(shape[0]), int(shape[1])),
                   (float(origin[0]), float(origin[1])), float(pixel_um), inverse, gains, boxes)

    def assemble(self, frames: Any, *, out: np.ndarray | None = None,
                 fill: float = 0.0) -> np.ndarray:
        """One float32 canvas from ``frames`` (sensors, rows, cols); uncovered pixels = ``fill``."""
        f = np.ascontiguousarray(frames)
        expected = (len(self.sensors), *self.sensors[0].shape)
        if f.shape != expected:
            raise AnalysisError(f"frames shape {f.shape} does not match the plan's {expected}")
        if out is None:
            out = np.full(self.shape, fill, dtype=np.float32)
        elif out.shape != self.shape or out.dtype != np.float32:
            raise AnalysisError(f"out must be float32 {self.shape}, got {out.dtype} {out.shape}")
        else:
            out.fill(fill)
        from expctl.analysis import _detector_kernels  # numba: only on first use

        _detector_kernels.assemble(f, self.inverse, self.gains, self.boxes, out)
        return out

    def covered(self) -> np.ndarray:
        """Boolean canvas of the pixels some sensor covers (for masks in later analysis)."""
        ones = np.ones((len(self.sensors), *self.sensors[0].shape), dtype=np.float32)
        gains = np.ones_like(self.gains)
        out = np.zeros(self.shape, dtype=np.float32)
        from expctl.analysis import _detector_kernels

        _detector_kernels.assemble(ones, self.inverse, gains, self.boxes, out)
        return out > 0


def _inverse_map(s: SensorGeometry, pixel_um: float, origin: tuple[float, float]
                 ) -> tuple[float, float, float, float, float, float]:
    """Coefficients (a0, a1, a2, b0, b1, b2): row = a0 + a1·Y + a2·X, col = b0 + b1·Y + b2·X."""
    t = math.radians(s.rotation_deg)
    cos_t, sin_t = math.cos(t), math.sin(t)
    scale = s.pixel_um / pixel_um
    x0 = s.position_um[0] / pixel_um + origin[1]
    y0 = s.position_um[1] / pixel_um + origin[0]
    a1, a2 = cos_t / scale, -sin_t / scale
    b1, b2 = sin_t / scale, cos_t / scale
    return (-(a1 * y0 + a2 * x0), a1, a2, -(b1 * y0 + b2 * x0), b1, b2)
