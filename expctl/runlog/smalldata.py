"""The LCLS smalldata conventions a run file follows, so smalldata users' tools open it.

What the run writer adds to the per-shot columns a DAQ hands over (the whole
layout is one table in docs/runfiles.md):

* ``fiducials`` — a hard link to ``tag``: smalldata readers count shots and
  match events by it; here it is the facility tag, not an LCLS 360 Hz fiducial
  (its attributes say so).
* ``event_time`` — ``uint64`` ``seconds << 32 | nanoseconds`` (UTC), as
  ``event_time >> 32`` in smalldata readers expects.
* ``scan/varStep`` — the index of the scan value the run was taken at (0 outside
  a scan: a run is one step).
* ``damage/<det>`` — 1 where detector ``det`` delivered every reduction of the
  shot (finite values), 0 where it did not: smalldata cuts keep 0.5 … 1.5.
* conventional names as hard links (no copies): the I0 monitor also as
  ``ipm_<name>/sum``, the FEL pulse energy also as ``gas_detector/energy``.
* ``Sums/<det>_<key>`` — per-run sums: of each additive detector reduction
  (``ROI_0_sum``, ``photon_nPhot``, ``ROI_0_nsat``) and, when full frames were
  recorded, of the frames (``<det>_raw``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from expctl.devices.profile import Profile

__all__ = ["EVENT_TIME_ENCODING", "SmallDataConfig", "additive", "damage", "is_detector_key",
           "pack_event_time", "unpack_event_time"]

#: What ``event_time`` holds (its ``encoding`` attribute).
EVENT_TIME_ENCODING = "seconds << 32 | nanoseconds since 1970-01-01 UTC (uint64)"
#: Detector reductions (``<det>/<key>``) by the smalldata names that mark them.
_DETECTOR_PREFIXES = ("ROI_", "photon_")
#: Reductions whose per-run sum means nothing (a sum of maxima).
_NOT_ADDITIVE = ("_max", "_min", "_mean", "_com")
#: The profile's ``physics.timing`` keys a run file carries as configuration: the declared
#: mechanism and jitter, not where time zero lies (what the data are taken to find out).
TIMING_KEYS = ("mechanism", "jitter_rms_ps", "drift_ps")


@dataclass(frozen=True, slots=True)
class SmallDataConfig:
    """What a beamline profile tells the run writer.

    Args:
        aliases: conventional names linked to a column (``{"ipm_pd_i0/sum": "pd_i0"}``);
            a name whose column a run does not have is left out.
        user_config: written under ``UserDataCfg/`` with every run (``timing``).
        device_units: each device's unit: ``epicsOnce/`` values are logged from it.
    """

    aliases: Mapping[str, str] = field(default_factory=dict)
    user_config: Mapping[str, Any] = field(default_factory=dict)
    device_units: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def from_profile(cls, profile: Profile) -> SmallDataConfig:
        """The I0 monitor (role ``i0``) as ``ipm_<name>/sum``, the beam's pulse energy as
        ``gas_detector/energy``, the declared timing as ``UserDataCfg/timing`` and the
        detectors' declared background columns as ``UserDataCfg/backgrounds`` (JSON)."""
        aliases: dict[str, str] = {}
        if profile.roles.i0:
            aliases[f"ipm_{profile.roles.i0}/sum"] = profile.roles.i0
        if profile.roles.beam:
            aliases["gas_detector/energy"] = f"{profile.roles.beam}/pulse_energy"
        timing = profile.physics.get("timing") if isinstance(profile.physics, Mapping) else None
        user: dict[str, Any] = {}
        if isinstance(timing, Mapping):
            declared = {k: timing[k] for k in TIMING_KEYS if k in timing}
            if declared:
                user["timing"] = declared
        backgrounds = declared_backgrounds(profile)
        if backgrounds:
            user["backgrounds"] = json.dumps(backgrounds, sort_keys=True)
        return cls(aliases=aliases, user_config=user,
                   device_units={name: spec.units for name, spec in profile.devices.items()})


def declared_backgrounds(profile: Profile) -> dict[str, str]:
    """Each detector signal's background column, as the profile's detectors declare them
    (``backgrounds: {ROI_0_sum: ROI_1_sum}``: a box of the same size off the Bragg spot,
    holding the diffuse scatter and the pedestal drift), by full column name."""
    found: dict[str, str] = {}
    for name, spec in profile.devices.items():
        pairs = spec.options.get("backgrounds")
        if isinstance(pairs, Mapping):
            found.update({f"{name}/{sig}": f"{name}/{bg}" for sig, bg in pairs.items()})
    return found


def pack_event_time(seconds: np.ndarray) -> np.ndarray:
    """Unix seconds (float) as ``uint64`` ``seconds << 32 | nanoseconds``."""
    t = np.asarray(seconds, dtype=np.float64)
    whole = np.floor(t)
    nanos = np.minimum(np.rint((t - whole) * 1e9), 999_999_999)
    return (whole.astype(np.uint64) << np.uint64(32)) | nanos.astype(np.uint64)


def unpack_event_time(packed: np.ndarray) -> np.ndarray:
    """``uint64`` ``seconds << 32 | nanoseconds`` as Unix seconds (float)."""
    p = np.asarray(packed, dtype=np.uint64)
    return (p >> np.uint64(32)).astype(np.float64) + (p & np.uint64(0xFFFFFFFF)) * 1e-9


def is_detector_key(key: str) -> bool:
    """Whether a column ``<det>/<key>`` is a detector reduction (``mpccd/ROI_0_sum``)."""
    _, sep, leaf = key.partition("/")
    return bool(sep) and "/" not in leaf and leaf.startswith(_DETECTOR_PREFIXES)


def additive(key: str) -> bool:
    """Whether a detector reduction adds up over shots (not a maximum, minimum, mean)."""
    return is_detector_key(key) and not key.endswith(_NOT_ADDITIVE)


def damage(columns: Mapping[str, np.ndarray], n: int) -> dict[str, np.ndarray]:
    """``damage/<det>`` per detector: 1 where all its reductions of the shot are finite."""
    present: dict[str, np.ndarray] = {}
    for key, values in columns.items():
        if not is_detector_key(key):
            continue
        det = key.partition("/")[0]
        arr = np.asarray(values)
        ok = np.isfinite(arr) if arr.dtype.kind == "f" else np.ones(n, dtype=bool)
        if ok.ndim > 1:
            ok = ok.reshape(n, -1).all(axis=1)
        present[det] = present.get(det, np.ones(n, dtype=bool)) & ok
    return {f"damage/{det}": ok.astype(np.uint8) for det, ok in present.items()}
