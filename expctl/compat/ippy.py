"""SACLA's ``ippy.reconstruction``: a multi-sensor detector assembled into one image.

Each sensor is a dict as facility scripts build them from ``read_det_info``:

- ``img``: the sensor image (rows, cols), e.g. ``buffer.read_det_data(0)``;
- ``xPosPixel``, ``yPosPixel``: the outer corner of the sensor's pixel (0, 0)
  in units of its pixels, from the beam at the centre of the output:
  ``mp_pos_x / mp_pixelsize_x`` and ``−mp_pos_y / mp_pixelsize_y`` (the
  facility's example insists on the minus sign: image rows run downwards,
  the facility's y upwards);
- ``pixelSize``: the sensor pixel size in µm (``mp_pixelsize_x``);
- ``dScale``: a geometric scale of the sensor (positions and pixels), 1 normally;
- ``rotAngle``: ``mp_rotationangle`` in degrees;
- ``iScale``: intensity factor, e.g. ``mp_absgain`` to put sensors on one scale;
- ``mask``: pixels to use (True) or None; ``succeeded``: False skips the sensor.

The output shows the detector as seen from the sample (x right, zenith up).
Sensor pixel (row r, col c) covers the output around

    X = xPosPixel − (c + ½)·cosθ + (r + ½)·sinθ,   Y = yPosPixel − (c + ½)·sinθ − (r + ½)·cosθ

(θ = ``rotAngle``, canvas pixels from the centre, Y downwards): the facility's
pixel positions (:mod:`expctl.compat.geometry`, ``docs/geometry.md``) drawn
with rows running down.  In the analysis plan's terms (:class:`expctl.analysis.
assembly.AssemblyPlan`, whose gather this uses) that is a turn by θ + 180°, so
an image assembled here equals the one analysis steps produce.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from expctl.analysis.assembly import AssemblyPlan, SensorGeometry
from expctl.compat.errors import APIError

__all__ = ["MODES", "APIError", "reconstruction"]

#: Pixel mappings offered: 0 (or "nearest") takes the nearest sensor pixel.
MODES: tuple[int | str, ...] = (0, "nearest")
_KEYS = ("img", "xPosPixel", "yPosPixel", "pixelSize", "rotAngle")


def _geometry(k: int, sensor: Mapping[str, Any]) -> tuple[np.ndarray, SensorGeometry]:
    missing = [key for key in _KEYS if key not in sensor]
    if missing:
        raise APIError(f"reconstruction: sensor {k} lacks {', '.join(missing)}")
    img = np.asarray(sensor["img"], dtype=np.float32)
    if img.ndim != 2:
        raise APIError(f"reconstruction: sensor {k} image must be 2-D, got shape {img.shape}")
    mask = sensor.get("mask")
    if mask is not None:
        mask = np.asarray(mask, dtype=bool)
        if mask.shape != img.shape:
            raise APIError(f"reconstruction: sensor {k} mask shape {mask.shape} differs "
                           f"from its image {img.shape}")
        img = np.where(mask, img, np.float32(0.0))
    pixel = float(sensor["pixelSize"]) * float(sensor.get("dScale", 1.0))
    theta = float(sensor["rotAngle"])
    t = math.radians(theta)
    # the centre of pixel (0, 0): half a pixel in from its outer corner along fs and ss
    x0 = float(sensor["xPosPixel"]) - 0.5 * math.cos(t) + 0.5 * math.sin(t)
    y0 = float(sensor["yPosPixel"]) - 0.5 * math.sin(t) - 0.5 * math.cos(t)
    geometry = SensorGeometry(
        position_um=(x0 * pixel, y0 * pixel), rotation_deg=theta + 180.0,
        gain=float(sensor.get("iScale", 1.0)), shape=(int(img.shape[0]), int(img.shape[1])),
        pixel_um=pixel)
    return img, geometry


def reconstruction(sensors: Sequence[Mapping[str, Any]], width: int, height: int,
                   pixel_um: float, mode: int | str = 0) -> np.ndarray:
    """Assemble ``sensors`` onto a (height, width) float32 canvas of ``pixel_um`` pixels.

    The beam (lab origin) is at the canvas centre; pixels no sensor covers, and
    masked pixels, are 0.  Where sensors overlap the later one wins.
    """
    if mode not in MODES:
        raise APIError(f"reconstruction: unknown mode {mode!r}",
                       allowed=", ".join(map(repr, MODES)))
    width, height = int(width), int(height)
    if width < 1 or height < 1 or not pixel_um > 0:
        raise APIError(f"reconstruction: need a positive canvas, got {width} x {height} "
                       f"of {pixel_um} um pixels")
    used = [_geometry(k, s) for k, s in enumerate(sensors) if s.get("succeeded", True)]
    canvas = np.zeros((height, width), dtype=np.float32)
    if not used:
        return canvas
    shapes = {g.shape for _, g in used}
    if len(shapes) != 1:
        raise APIError(f"reconstruction: sensors must share one shape, got {sorted(shapes)}")
    plan = AssemblyPlan.from_sensors([g for _, g in used], pixel_um=float(pixel_um),
                                     shape=(height, width))
    return plan.assemble(np.stack([img for img, _ in used]), out=canvas)
