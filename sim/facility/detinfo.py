"""stpy's ``read_det_info`` for a simulated MPCCD sensor, in SACLA's published conventions.

The profile gives each sensor's *centre* (``pos_um``, x and y in the facility
frame, z the distance from the sample) and its in-plane rotation; the facility
reports the *outer corner of pixel (0, 0)* instead (``mp_posx``, ``mp_posy``).
The facility frame and signs are those public SACLA tools read them with
(Cheetah's ``prepare-cheetah-sacla-api2``, dxtbx's SACLA MPCCD format):

* seen from the sample looking downstream, ``+x`` points right and ``+y`` up
  (CrystFEL's lab frame has ``x_CrystFEL = −x``, ``y_CrystFEL = y``);
* pixel (column c, row r) — corner offsets ``(c, r)`` in pixels — sits at
  ``x = posx − p·(c·cosθ − r·sinθ)``, ``y = posy + p·(c·sinθ + r·cosθ)``
  with θ = ``mp_rotationangle``;

so facility users assemble with ``xPosPixel = mp_posx / p`` and
``yPosPixel = −mp_posy / p`` (rows of the assembled image run downwards).
``docs/geometry.md`` derives this and shows the assembled layout.
"""

from __future__ import annotations

import math
from typing import Any

from sim.physics.detector import COLS, PIXEL_UM, ROWS, DetectorModel

__all__ = ["corner_um", "det_info"]


def corner_um(centre_um: tuple[float, float], rotation_deg: float) -> tuple[float, float]:
    """Facility ``(mp_posx, mp_posy)`` of a sensor whose centre is at ``centre_um``."""
    t = math.radians(rotation_deg)
    c, r = COLS / 2.0, ROWS / 2.0  # the centre, in pixel widths from the outer corner
    x = centre_um[0] + PIXEL_UM * (c * math.cos(t) - r * math.sin(t))
    y = centre_um[1] - PIXEL_UM * (c * math.sin(t) + r * math.cos(t))
    return round(x, 6), round(y, 6)  # exact multiples of the pixel for right angles


def det_info(model: DetectorModel, sensor: int, energy_kev: float) -> dict[str, Any]:
    """``read_det_info`` keys of one sensor (both spellings scripts use): µm, degrees, e⁻/ADU."""
    s = model.sensors[sensor]
    x0, y0 = corner_um((s.pos_um[0], s.pos_um[1]), s.rotation_deg)
    info: dict[str, Any] = {
        "detector_id": model.sensor_ids[sensor], "xsize": COLS, "ysize": ROWS,
        "mp_absgain": s.absgain, "mp_rotationangle": s.rotation_deg,
        "photon_energy_kev": energy_kev,
    }
    for key, value in (("pixelsizex", PIXEL_UM), ("pixelsizey", PIXEL_UM), ("posx", x0),
                       ("posy", y0), ("posz", s.pos_um[2])):
        info[f"mp_{key}"] = value
        info[f"mp_{key[:-1]}_{key[-1]}"] = value
    return info
