"""SACLA's ``dbpy`` over the facility archive: run table and synchronous 0-D database.

Same names, argument order (beamline number first) and return types as the
facility module, so analysis scripts run unchanged after
:func:`expctl.compat.install`.  Every call reads the archive afresh, so a run
another process is taking shows status 2 and its tags so far.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from expctl.compat._lookup import as_api_error, index_arg, tag_array
from expctl.compat.errors import APIError
from expctl.compat.facility import current_archive
from expctl.devices.protocols import RunRecord

__all__ = [
    "APIError",
    "read_comment",
    "read_config_photonenergy",
    "read_detidlist",
    "read_end_tagnumber",
    "read_equiplist",
    "read_hightagnumber",
    "read_runinfo",
    "read_runnumber_newest",
    "read_runstatus",
    "read_start_tagnumber",
    "read_starttime",
    "read_stoptime",
    "read_syncdatalist",
    "read_syncdatalist_float",
    "read_taglist_byrun",
]

#: What the facility writes instead of a number (dbpy strings; NaN / inf as floats).
NOT_CONVERGED = "not-converged"
SATURATED = "saturated"


def _record(bl: int, run: int) -> RunRecord:
    bl, run = index_arg("beamline", bl), index_arg("run", run)
    with as_api_error(f"no run {run} on BL{bl}"):
        return current_archive().run_record(bl, run)


def _tags(bl: int, run: int) -> np.ndarray:
    with as_api_error(f"no run {run} on BL{bl}"):
        return current_archive().tags(bl, run)


def read_runnumber_newest(bl: int) -> int:
    """The newest run of beamline ``bl`` (running or not); polled to catch new runs."""
    bl = index_arg("beamline", bl)
    newest = int(current_archive().newest_run(bl))
    if newest <= 0:
        raise APIError(f"no run on BL{bl} yet")
    return newest


def read_runstatus(bl: int, run: int) -> int:
    """-1 the run does not exist, 0 stopped (ready to read), 1 paused, 2 running."""
    try:
        return int(_record(bl, run).status)
    except APIError:
        return -1


def read_runinfo(bl: int, run: int) -> dict[str, Any]:
    """The run table entry; ``stoptime`` is None while the run is still going."""
    rec = _record(bl, run)
    tags = _tags(rec.beamline, rec.run)
    end = rec.end_tag if rec.end_tag is not None else int(tags[-1]) if len(tags) else rec.start_tag
    return {
        "runnumber": rec.run,
        "starttime": rec.start_time,
        "stoptime": rec.stop_time,
        "total_tagnumber": len(tags),
        "start_tagnumber": rec.start_tag,
        "end_tagnumber": end,
        "hightagnumber": rec.hightag,
        "comment": rec.comment,
        "runtype": rec.runtype,
        "stationnumber": rec.station,
        "runstatus": rec.status,
    }


def read_hightagnumber(bl: int, run: int) -> int:
    """The high tag (year + period, e.g. 202601) all tags of the run share."""
    return _record(bl, run).hightag


def read_start_tagnumber(bl: int, run: int) -> tuple[int, int]:
    """``(hightag, first tag)`` of the run."""
    rec = _record(bl, run)
    return rec.hightag, rec.start_tag


def read_end_tagnumber(bl: int, run: int) -> tuple[int, int]:
    """``(hightag, last tag)`` of the run (the last tag so far while it runs)."""
    info = read_runinfo(bl, run)
    return info["hightagnumber"], info["end_tagnumber"]


def read_taglist_byrun(bl: int, run: int) -> tuple[int, ...]:
    """Tags of the run's shots in order, as a tuple of ints."""
    rec = _record(bl, run)
    return tuple(_tags(rec.beamline, rec.run).tolist())


def read_starttime(bl: int, run: int) -> float:
    """Start of the run, seconds since the Unix epoch."""
    return _record(bl, run).start_time


def read_stoptime(bl: int, run: int) -> float:
    """End of the run, seconds since the Unix epoch; APIError while it is still going."""
    rec = _record(bl, run)
    if rec.stop_time is None:
        raise APIError(f"run {rec.run} on BL{rec.beamline} has not stopped "
                       f"(status {rec.status})")
    return rec.stop_time


def read_comment(bl: int, run: int) -> str:
    """The comment the run was started with."""
    return _record(bl, run).comment


def read_detidlist(bl: int, run: int) -> tuple[str, ...]:
    """Facility ids of the detector sensors recorded in the run."""
    rec = _record(bl, run)
    with as_api_error(f"no detectors for run {rec.run} on BL{rec.beamline}"):
        return tuple(current_archive().detector_ids(rec.beamline, rec.run))


def read_config_photonenergy(bl: int, run: int) -> float:
    """The configured photon energy of the run in keV (scripts multiply by 1000)."""
    rec = _record(bl, run)
    return float(current_archive().photon_energy_kev(rec.beamline, rec.run))


def read_equiplist() -> tuple[str, ...]:
    """Every equipment name of the synchronous database, sorted."""
    return tuple(sorted(current_archive().equipment()))


def _sync(equip: str, hightag: int, tags: object) -> np.ndarray:
    hightag = index_arg("hightag", hightag)
    arr = tag_array(tags)
    with as_api_error(f"{equip} at high tag {hightag}"):
        return np.asarray(current_archive().sync_values(equip, hightag, arr), dtype=np.float64)


def read_syncdatalist_float(equip: str, hightag: int, tags: object) -> tuple[float, ...]:
    """Values of ``equip`` for ``tags`` (in that order) as floats; NaN if not converged."""
    return tuple(_sync(equip, hightag, tags).tolist())


def read_syncdatalist(equip: str, hightag: int, tags: object) -> tuple[str, ...]:
    """Values of ``equip`` for ``tags`` as the facility's strings, units attached.

    ``"12.5pC"``; integral status signals as ``"1"``; ``"not-converged"`` for
    NaN and ``"saturated"`` for an infinite reading.  ``float()`` of the number
    part gives back exactly :func:`read_syncdatalist_float`'s value.
    """
    values = _sync(equip, hightag, tags)
    info = current_archive().equipment()[equip]
    units = info.units
    counts = info.dtype in {"int", "bool", "status"} or not units
    return tuple(_format(v, units, counts) for v in values.tolist())


def _format(value: float, units: str, counts: bool) -> str:
    if math.isnan(value):
        return NOT_CONVERGED
    if math.isinf(value):
        return SATURATED
    if counts and value.is_integer():
        return f"{int(value)}{units}"
    return f"{value!r}{units}"
