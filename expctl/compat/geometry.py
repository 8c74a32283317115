"""A SACLA multi-sensor detector as ``read_det_info`` describes it, and its CrystFEL ``.geom``.

The facility gives per sensor the outer corner of pixel (0, 0) (``mp_posx``,
``mp_posy``, ``mp_posz``, µm), the pixel size and an in-plane rotation θ
(``mp_rotationangle``, degrees).  Public SACLA tools (Cheetah's
``prepare-cheetah-sacla-api2``, dxtbx's MPCCD format) read them in CrystFEL's
lab frame (x left and y up seen from the sample, z along the beam) as

    corner = (−mp_posx, mp_posy) / p,  fs = (cosθ, sinθ),  ss = (−sinθ, cosθ)

in pixel widths p; this module writes exactly that, so a ``.geom`` exported
here equals the one those tools write for the same run.  ``docs/geometry.md``
has the frames, signs and the ippy convention that agrees with it.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from expctl.compat.errors import APIError
from expctl.devices.protocols import FacilityArchive

__all__ = ["SensorInfo", "crystfel_geom", "detector_groups", "read_detector"]

#: Electron–hole pair energy in silicon (eV): ADU = photons · E / (3.65 · absgain).
PAIR_ENERGY_EV = 3.65

_SPELLINGS = {  # facility key -> the other spelling public scripts use
    "mp_pixelsizex": "mp_pixelsize_x", "mp_pixelsizey": "mp_pixelsize_y",
    "mp_posx": "mp_pos_x", "mp_posy": "mp_pos_y", "mp_posz": "mp_pos_z",
    "mp_rotationangle": "mp_rotation_angle",
}


def _value(info: Mapping[str, Any], key: str, sensor: str) -> float:
    for name in (key, _SPELLINGS.get(key, key)):
        if name in info:
            return float(info[name])
    raise APIError(f"detector {sensor}: det_info lacks {key} (or {_SPELLINGS.get(key, key)})")


@dataclass(frozen=True, slots=True)
class SensorInfo:
    """One sensor's geometry and gain, in the facility's units (µm, degrees, e⁻/ADU)."""

    sensor_id: str
    xsize: int
    ysize: int
    pixel_um: tuple[float, float]
    corner_um: tuple[float, float, float]
    rotation_deg: float
    absgain: float

    @classmethod
    def from_det_info(cls, sensor_id: str, info: Mapping[str, Any]) -> SensorInfo:
        """From ``read_det_info``'s dict (either key spelling)."""
        return cls(sensor_id=sensor_id, xsize=int(_value(info, "xsize", sensor_id)),
                   ysize=int(_value(info, "ysize", sensor_id)),
                   pixel_um=(_value(info, "mp_pixelsizex", sensor_id),
                             _value(info, "mp_pixelsizey", sensor_id)),
                   corner_um=(_value(info, "mp_posx", sensor_id),
                              _value(info, "mp_posy", sensor_id),
                              _value(info, "mp_posz", sensor_id)),
                   rotation_deg=_value(info, "mp_rotationangle", sensor_id),
                   absgain=_value(info, "mp_absgain", sensor_id))

    def crystfel_panel(self) -> dict[str, float]:
        """Corner (pixel widths) and fast/slow-scan unit vectors in CrystFEL's lab frame."""
        t = math.radians(self.rotation_deg)
        cos_t, sin_t = math.cos(t), math.sin(t)
        return {"corner_x": -self.corner_um[0] / self.pixel_um[0] + 0.0,
                "corner_y": self.corner_um[1] / self.pixel_um[1] + 0.0,
                "fs_x": _clean(cos_t), "fs_y": _clean(sin_t), "ss_x": _clean(-sin_t),
                "ss_y": _clean(cos_t)}


def _clean(v: float) -> float:
    """cos/sin of right angles as exact 0 and ±1 (no ``6e-17x`` in the file)."""
    return 0.0 if abs(v) < 1e-12 else round(v, 12) + 0.0  # + 0.0: no negative zero


def detector_groups(sensor_ids: Sequence[str]) -> dict[str, list[str]]:
    """Sensor ids grouped by detector (``MPCCD-8N0-3-002-1`` … ``-8`` → ``MPCCD-8N0-3-002``)."""
    groups: dict[str, list[str]] = {}
    for sid in sensor_ids:
        match = re.fullmatch(r"(.+)-(\d+)", sid)
        stem = match.group(1) if match else sid
        groups.setdefault(stem, []).append(sid)
    for members in groups.values():
        members.sort(key=lambda s: int(s.rsplit("-", 1)[-1]) if s[-1].isdigit() else 0)
    return groups


def read_detector(archive: FacilityArchive, beamline: int, run: int,
                  detector: str | None = None) -> tuple[str, list[SensorInfo]]:
    """The sensors of one detector recorded in ``run``: ``(detector id, sensors in order)``.

    Args:
        archive: the facility archive.
        beamline, run: which run.
        detector: a detector id (``MPCCD-8N0-3-002``); default: the run's only
            multi-sensor detector, or its only detector.
    """
    try:
        ids = archive.detector_ids(beamline, run)
    except KeyError:
        raise APIError(f"no run {run} on BL{beamline} in the facility archive") from None
    groups = detector_groups(ids)
    if detector is None:
        multi = [stem for stem, members in groups.items() if len(members) > 1]
        choices = multi if len(multi) == 1 else list(groups) if len(groups) == 1 else []
        if not choices:
            raise APIError(f"run {run} recorded several detectors; say which",
                           allowed=", ".join(groups) or "none")
        detector = choices[0]
    if detector not in groups:
        raise APIError(f"detector {detector} was not recorded in run {run} on BL{beamline}",
                       allowed=", ".join(groups) or "none")
    sensors = []
    for sid in groups[detector]:
        try:
            info = archive.detector_info(sid, beamline, run)
        except KeyError as exc:
            raise APIError(f"detector {sid} in run {run}: {exc.args[0] if exc.args else exc}"
                           ) from None
        sensors.append(SensorInfo.from_det_info(sid, info))
    return detector, sensors


def crystfel_geom(sensors: Sequence[SensorInfo], *, photon_energy_ev: float,
                  detector: str = "", run: int | None = None,
                  data_path: str = "/data/data") -> str:
    """CrystFEL geometry text: one panel per sensor, stacked along slow scan as read.

    The data layout is the one SACLA's Cheetah tools write for "tiled but not
    reassembled" images: frames × (sensors·ysize) × xsize under ``data_path``,
    sensor k in rows ``k·ysize … (k+1)·ysize − 1``, in raw ADU — so each
    panel's ``adu_per_eV`` is ``1 / (3.65 · absgain)``.  ``clen`` is the mean
    ``mp_posz``; refine it (and the corners) against data as usual.
    """
    if not sensors:
        raise APIError("a geometry needs at least one sensor")
    pixels = {s.pixel_um for s in sensors}
    if len(pixels) != 1 or len(set(next(iter(pixels)))) != 1:
        raise APIError(f"CrystFEL needs one square pixel size for all panels, got "
                       f"{sorted(pixels)} um")
    pixel_um = next(iter(pixels))[0]
    clen_m = sum(s.corner_um[2] for s in sensors) / len(sensors) * 1e-6
    what = f"{detector} " if detector else ""
    lines = [
        f"; CrystFEL geometry of {what}{f'in run {run} ' if run is not None else ''}"
        f"written by expctl from read_det_info",
        "; corner = (-mp_posx, mp_posy) / pixel, fs = (cos r, sin r), ss = (-sin r, cos r),",
        "; r = mp_rotationangle (as Cheetah's prepare-cheetah-sacla-api2); see docs/geometry.md",
        "",
        f"photon_energy = {photon_energy_ev:.4f}",
        f"clen = {clen_m:.6f}  ; mean mp_posz",
        f"res = {1e6 / pixel_um:.6f}  ; pixels per metre ({pixel_um:g} um pixels)",
        f"data = {data_path}",
        "dim0 = %",
        "dim1 = ss",
        "dim2 = fs",
        "",
    ]
    names = [f"q{k + 1}" for k in range(len(sensors))]
    lines += [f"rigid_group_{name} = {name}" for name in names]
    lines += [f"rigid_group_collection_independent = {','.join(names)}", ""]
    row = 0
    for name, s in zip(names, sensors, strict=True):
        p = s.crystfel_panel()
        lines += [
            f"; sensor {s.sensor_id}: mp_posx {s.corner_um[0]:g} um, mp_posy "
            f"{s.corner_um[1]:g} um, mp_rotationangle {s.rotation_deg:g} deg, "
            f"absgain {s.absgain:g} e/ADU",
            f"{name}/min_fs = 0",
            f"{name}/max_fs = {s.xsize - 1}",
            f"{name}/min_ss = {row}",
            f"{name}/max_ss = {row + s.ysize - 1}",
            f"{name}/fs = {p['fs_x']:+.6f}x {p['fs_y']:+.6f}y",
            f"{name}/ss = {p['ss_x']:+.6f}x {p['ss_y']:+.6f}y",
            f"{name}/corner_x = {p['corner_x']:.4f}",
            f"{name}/corner_y = {p['corner_y']:.4f}",
            f"{name}/adu_per_eV = {1.0 / (PAIR_ENERGY_EV * s.absgain):.8g}",
            "",
        ]
        row += s.ysize
    return "\n".join(lines)
