"""Dark-subtracted detector sums of a run just taken, read through the facility archive.

The dbpy/stpy habit at the beamline: take a dark run (shutter closed), take a
short run, average the dark frames into a pedestal, subtract it from every
frame, sum the ROIs and count photons — and decide the next step from the
numbers (is the Bragg signal strong enough, is the detector saturating?).
:func:`run_sums` does that per shot; :func:`dark_subtracted_sum` condenses it
into a :class:`RunSumResult` a sequence can test (``${ref_sum.roi0_photons}``).

Detector layout (sensor ids, ROIs) comes from the DAQ's reduction settings
(``RunControl.config()["detectors"][name]``: ``sensor_ids`` and ``rois`` as
``[sensor, row0, row1, col0, col1)``), gains and photon energy from the
archive per run, so the sums agree with the DAQ's ``<det>/ROI_<k>_sum``.
Per-pixel work is :func:`~expctl.analysis.detector.reduce_frames` (numba);
frames are read in chunks so a long run never sits in memory whole.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from expctl.analysis.detector import adu_per_photon, reduce_frames
from expctl.analysis.errors import AnalysisError
from expctl.devices.protocols import FacilityArchive, RunRecord

__all__ = [
    "ADC_FULL_SCALE",
    "FLAGS_UNUSABLE_SUMS",
    "DarkFrame",
    "DetectorLayout",
    "RunSumResult",
    "RunSums",
    "dark_frame",
    "dark_subtracted_sum",
    "run_sums",
]

#: largest raw value of the 16-bit MPCCD ADC: a pixel there is saturated
ADC_FULL_SCALE = 65535.0
#: frames read from the archive per call (2 MB each per sensor)
CHUNK = 16
#: flags after which the sums must not steer anything
FLAGS_UNUSABLE_SUMS = frozenset({"dark_missing", "no_shots", "saturated"})


@dataclass(frozen=True, slots=True)
class DetectorLayout:
    """Which facility sensors a detector has and where its ROIs lie.

    ``rois`` maps ROI names (``roi0``, ``roi1``) to ``(sensor, row0, row1, col0, col1)``
    with ``sensor`` an index into ``sensor_ids``.
    """

    name: str
    sensor_ids: tuple[str, ...]
    rois: Mapping[str, tuple[int, int, int, int, int]]

    @classmethod
    def from_config(cls, daq_config: Mapping[str, Any], detector: str,
                    roi: Sequence[int] | None = None) -> DetectorLayout:
        """The layout the DAQ reduces with; ``roi`` replaces ROI 0 (rows and columns,
        optionally preceded by the sensor index)."""
        dets = daq_config.get("detectors", {}) if isinstance(daq_config, Mapping) else {}
        if detector not in dets:
            raise AnalysisError(f"detector {detector!r} is not reduced by the DAQ "
                                f"(known: {', '.join(dets) or 'none'})")
        cfg = dets[detector]
        rois = {k: tuple(int(v) for v in box) for k, box in cfg["rois"].items()}
        if roi is not None:
            box = tuple(int(v) for v in roi)
            if len(box) == 4:
                box = (rois.get("roi0", (0,))[0], *box)
            if len(box) != 5:
                raise AnalysisError(f"roi must be [row0, row1, col0, col1] or "
                                    f"[sensor, row0, row1, col0, col1], got {list(roi)}")
            rois["roi0"] = box  # type: ignore[assignment]
        ids = tuple(str(s) for s in cfg["sensor_ids"])
        for key, (sensor, *_) in rois.items():
            if not 0 <= sensor < len(ids):
                raise AnalysisError(f"{detector} {key} names sensor {sensor}; the detector "
                                    f"has {len(ids)}")
        return cls(detector, ids, rois)  # type: ignore[arg-type]


def _run_ref(run: RunRecord | int, beamline: int | None, what: str) -> tuple[int, int]:
    if isinstance(run, RunRecord):
        return run.beamline, run.run
    if isinstance(run, int | np.integer) and not isinstance(run, bool) and run > 0:
        if beamline is None:
            raise AnalysisError(f"{what}: run number {run} needs the beamline number too")
        return int(beamline), int(run)
    raise AnalysisError(f"{what} must be a run record or a positive run number, got {run!r}")


def _tags(archive: FacilityArchive, beamline: int, run: int, max_shots: int | None
          ) -> np.ndarray:
    try:
        tags = np.asarray(archive.tags(beamline, run), dtype=np.int64)
    except KeyError as exc:
        raise AnalysisError(f"run {run} of beamline {beamline} is not in the facility "
                            f"archive ({exc.args[0] if exc.args else exc})") from None
    return tags if max_shots is None else tags[:max(int(max_shots), 0)]


def _chunks(archive: FacilityArchive, sensor: str, beamline: int, run: int,
            tags: np.ndarray, chunk: int) -> Any:
    for i in range(0, len(tags), chunk):
        yield np.asarray(archive.frames(sensor, beamline, run, tags[i:i + chunk]))


@dataclass(frozen=True, slots=True)
class DarkFrame:
    """Mean dark frame (the pedestal) of one sensor and its per-pixel rms (read noise)."""

    mean: np.ndarray
    rms: np.ndarray
    shots: int


def dark_frame(archive: FacilityArchive, sensor: str, beamline: int, run: int, *,
               max_shots: int | None = None, chunk: int = CHUNK) -> DarkFrame:
    """Average a dark run's frames of one sensor into a pedestal (float64 accumulation).

    Args:
        archive: the facility archive.
        sensor: facility sensor id (``MPCCD-1N0-3-001-1``).
        beamline: beamline number.
        run: the dark run.
        max_shots: use only the first shots (dry-runs); None for all.
        chunk: frames per archive read.
    """
    tags = _tags(archive, beamline, run, max_shots)
    if len(tags) == 0:
        raise AnalysisError(f"dark run {run} has no shots")
    total: np.ndarray | float = 0.0
    sq: np.ndarray | float = 0.0
    for frames in _chunks(archive, sensor, beamline, run, tags, chunk):
        f = frames.astype(np.float64)
        total = total + f.sum(axis=0)
        sq = sq + (f * f).sum(axis=0)
    n = len(tags)
    mean = np.asarray(total) / n
    var = np.maximum(np.asarray(sq) / n - mean * mean, 0.0) * (n / max(n - 1, 1))
    return DarkFrame(mean.astype(np.float32), np.sqrt(var).astype(np.float32), n)


@dataclass(frozen=True, slots=True)
class RunSums:
    """Per shot of a run: tags, dark-subtracted ROI sums (ADU), photons, saturation.

    ``roi_sums[shot, k]`` follows ``roi_names``; ``photons`` is counted over every
    sensor; ``saturated[shot]`` is True when any raw pixel reached full scale;
    ``adu_per_photon`` is that of each ROI's sensor.
    """

    run: int
    tags: np.ndarray
    roi_names: tuple[str, ...]
    roi_sums: np.ndarray
    photons: np.ndarray
    saturated: np.ndarray
    adu_per_photon: tuple[float, ...]
    dark: tuple[DarkFrame, ...] = field(default=())


def run_sums(archive: FacilityArchive, layout: DetectorLayout, beamline: int, run: int,
             dark: int, *, threshold: float = 0.5, max_shots: int | None = None,
             chunk: int = CHUNK) -> RunSums:
    """Dark-subtract every frame of ``run`` with the mean of ``dark``; ROI sums and photons.

    Args:
        archive: the facility archive.
        layout: sensors and ROIs of the detector (:meth:`DetectorLayout.from_config`).
        beamline: beamline number.
        run: the run to reduce.
        dark: the dark run whose mean frame is the pedestal.
        threshold: fraction of a photon at which a pixel counts (0.5: nearest photon).
        max_shots: reduce only the first shots of each run (dry-runs); None for all.
        chunk: frames per archive read.
    """
    tags = _tags(archive, beamline, run, max_shots)
    energy = float(archive.photon_energy_kev(beamline, run))
    names = tuple(layout.rois)
    sums = np.zeros((len(tags), len(names)))
    photons = np.zeros(len(tags), dtype=np.int64)
    saturated = np.zeros(len(tags), dtype=bool)
    apps: dict[int, float] = {}
    darks = []
    for s, sensor in enumerate(layout.sensor_ids):
        try:
            gain = float(archive.detector_info(sensor, beamline, run)["mp_absgain"])
        except KeyError as exc:
            raise AnalysisError(f"sensor {sensor} is not in run {run} "
                                f"({exc.args[0] if exc.args else exc})") from None
        apps[s] = app = adu_per_photon(energy, gain)
        ped = dark_frame(archive, sensor, beamline, dark, max_shots=max_shots, chunk=chunk)
        darks.append(ped)
        keys = [k for k in names if layout.rois[k][0] == s]
        boxes = [layout.rois[k][1:] for k in keys]
        cols = [names.index(k) for k in keys]
        for i, frames in zip(range(0, len(tags), chunk),
                             _chunks(archive, sensor, beamline, run, tags, chunk), strict=True):
            red = reduce_frames(frames, ped.mean, boxes, app, threshold=threshold)
            sl = slice(i, i + len(frames))
            if cols:
                sums[sl, cols] = red.roi_sums
            photons[sl] += red.nphot
            saturated[sl] |= frames.reshape(len(frames), -1).max(axis=1) >= ADC_FULL_SCALE
    roi_app = tuple(apps[layout.rois[k][0]] for k in names)
    return RunSums(run, tags, names, sums, photons, saturated, roi_app, tuple(darks))


@dataclass(frozen=True, slots=True)
class RunSumResult:
    """A run's dark-subtracted detector sums, condensed for a sequence's decisions.

    Per shot means and standard deviations over the shots used: ``roi0_*`` and
    ``roi1_*`` in ADU (the Bragg ROI and the background ROI of the DAQ),
    ``roi0_photons`` the ROI 0 mean in photons, ``photons_*`` photons counted
    over all sensors.  ``pedestal_adu`` and ``dark_noise_adu`` describe the dark
    (median over pixels of its mean and of its per-pixel rms).  ``flags``:
    ``dark_missing`` (no dark run or an empty one: no pedestal), ``no_shots``,
    ``saturated`` (some shot reached ADC full scale: the sums are too low) —
    all three make ``ok`` false and the numbers NaN where unknown.
    """

    run: int
    dark: int
    detector: str
    roi0_photons: float
    photons_mean: float
    roi0_mean: float
    roi0_std: float
    roi1_mean: float
    roi1_std: float
    photons_std: float
    shots: int
    dark_shots: int
    saturated_shots: int
    adu_per_photon: float
    pedestal_adu: float
    dark_noise_adu: float
    flags: frozenset[str] = field(default_factory=frozenset)

    @property
    def ok(self) -> bool:
        """True when no flag makes the sums unusable."""
        return not (self.flags & FLAGS_UNUSABLE_SUMS)


def _stats(values: np.ndarray) -> tuple[float, float]:
    if values.size == 0:
        return math.nan, math.nan
    std = float(np.std(values, ddof=1)) if values.size > 1 else math.nan
    return float(np.mean(values)), std


def _empty(run: int, dark: int, detector: str, flags: set[str], shots: int, dark_shots: int
           ) -> RunSumResult:
    nan = math.nan
    return RunSumResult(run, dark, detector, nan, nan, nan, nan, nan, nan, nan, shots,
                        dark_shots, 0, nan, nan, nan, frozenset(flags))


def dark_subtracted_sum(archive: FacilityArchive | None, run: RunRecord | int,
                        dark: RunRecord | int | None, detector: str, *,
                        daq_config: Mapping[str, Any], beamline: int | None = None,
                        roi: Sequence[int] | None = None, threshold: float = 0.5,
                        max_shots: int | None = None, chunk: int = CHUNK) -> RunSumResult:
    """Dark-subtracted ROI sums and photon counts of ``run``, summarised per shot.

    Args:
        archive: the facility archive (``beamline.archive``; the dry-run twin's own).
        run: the run (its RunRecord, or a run number with ``beamline``).
        dark: the dark run, or None (the result is flagged ``dark_missing``).
        detector: detector device name (``mpccd``).
        daq_config: the DAQ's reduction settings (``beamline.daq.config()``).
        beamline: beamline number when runs are given as numbers.
        roi: replaces ROI 0: ``[row0, row1, col0, col1]`` (or with the sensor first).
        threshold: photon-counting threshold as a fraction of a photon.
        max_shots: reduce only the first shots of each run (dry-runs).
        chunk: frames per archive read.
    """
    if archive is None:
        raise AnalysisError("this beamline has no facility archive to read frames from")
    layout = DetectorLayout.from_config(daq_config, detector, roi)
    bl, run_no = _run_ref(run, beamline, "run")
    flags: set[str] = set()
    shots = len(_tags(archive, bl, run_no, max_shots))
    if dark is None:
        return _empty(run_no, 0, detector, {"dark_missing"}, shots, 0)
    dbl, dark_no = _run_ref(dark, bl, "dark")
    dark_shots = len(_tags(archive, dbl, dark_no, max_shots))
    if dbl != bl:
        raise AnalysisError(f"dark run {dark_no} is on beamline {dbl}, run {run_no} on {bl}")
    if dark_shots == 0:
        flags.add("dark_missing")
    if shots == 0:
        flags.add("no_shots")
    if flags:
        return _empty(run_no, dark_no, detector, flags, shots, dark_shots)
    got = run_sums(archive, layout, bl, run_no, dark_no, threshold=threshold,
                   max_shots=max_shots, chunk=chunk)
    k0 = got.roi_names.index("roi0") if "roi0" in got.roi_names else 0
    k1 = got.roi_names.index("roi1") if "roi1" in got.roi_names else None
    roi0 = _stats(got.roi_sums[:, k0])
    roi1 = _stats(got.roi_sums[:, k1]) if k1 is not None else (math.nan, math.nan)
    phot = _stats(got.photons.astype(np.float64))
    n_sat = int(got.saturated.sum())
    if n_sat:
        flags.add("saturated")
    ped = got.dark[layout.rois[got.roi_names[k0]][0]]
    return RunSumResult(
        run=run_no, dark=dark_no, detector=detector,
        roi0_photons=roi0[0] / got.adu_per_photon[k0], photons_mean=phot[0],
        roi0_mean=roi0[0], roi0_std=roi0[1], roi1_mean=roi1[0], roi1_std=roi1[1],
        photons_std=phot[1], shots=len(got.tags), dark_shots=ped.shots, saturated_shots=n_sat,
        adu_per_photon=got.adu_per_photon[k0], pedestal_adu=float(np.median(ped.mean)),
        dark_noise_adu=float(np.median(ped.rms)), flags=frozenset(flags))
