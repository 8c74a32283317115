"""SACLA's ``stpy`` over the facility's detector storage.

``StorageReader(detID, bl, (run, ...))`` opens one sensor over one or more runs,
``reader.collect(buffer, tag)`` fetches the shot of ``tag`` into a
``StorageBuffer``, and ``buffer.read_det_data(0)`` hands back a 2-D float32
array of shape (ysize, xsize) in ADU that the caller owns, because scripts
subtract darks from it in place.  ``read_det_info(0)`` gives the sensor geometry and gain
with both key spellings found in public scripts, in the facility's frame and signs
(``mp_posx/mp_posy`` the outer corner of pixel (0, 0); see docs/geometry.md).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from expctl.compat._lookup import as_api_error, index_arg, tag_array
from expctl.compat.errors import APIError
from expctl.compat.facility import current_archive
from expctl.devices.protocols import FacilityArchive

__all__ = ["READ_AHEAD_MAX", "APIError", "StorageBuffer", "StorageReader", "det_info_keys"]

#: Facility key -> the other spelling scripts use for the same value.
_ALIASES = {
    "mp_pixelsizex": "mp_pixelsize_x",
    "mp_pixelsizey": "mp_pixelsize_y",
    "mp_posx": "mp_pos_x",
    "mp_posy": "mp_pos_y",
    "mp_posz": "mp_pos_z",
    "mp_rotationangle": "mp_rotation_angle",
}
#: Most images one archive call fetches while reading sequentially (2 MB each per MPCCD
#: sensor; an octal set of readers holds at most 8 x 4 of them).
READ_AHEAD_MAX = 4

_REQUIRED = ("xsize", "ysize", "mp_pixelsizex", "mp_pixelsizey", "mp_posx", "mp_posy",
             "mp_posz", "mp_rotationangle", "mp_absgain")


def det_info_keys() -> tuple[str, ...]:
    """Every key :meth:`StorageBuffer.read_det_info` returns (both spellings)."""
    return (*_REQUIRED, *_ALIASES.values(), "mp_manipulator_shift", "id")


def _both_spellings(detector: str, raw: dict[str, Any]) -> dict[str, Any]:
    info = dict(raw)
    for facility, other in _ALIASES.items():
        if facility not in info and other in info:
            info[facility] = info[other]
    missing = [k for k in _REQUIRED if k not in info]
    if missing:
        raise APIError(f"detector {detector}: the archive gives no {', '.join(missing)}")
    for facility, other in _ALIASES.items():
        info[other] = info[facility]
    info.setdefault("mp_manipulator_shift", 0.0)
    info.setdefault("id", detector)
    return info


class StorageReader:
    """One detector sensor over one or more runs of a beamline.

    Scripts walk a run tag by tag; when they do, the reader fetches the next
    few images in one archive call (read-ahead doubling up to
    :data:`READ_AHEAD_MAX`) and hands them out as they are asked for.

    Args:
        detector: facility detector id (``dbpy.read_detidlist``).
        bl: beamline number.
        runs: run numbers (a tuple, as in the facility API; a single int is accepted).
    """

    def __init__(self, detector: str, bl: int, runs: Sequence[int] | int | np.integer) -> None:
        self.detector = str(detector)
        self.beamline = index_arg("beamline", bl)
        run_list = [runs] if isinstance(runs, int | np.integer) else list(runs)
        if not run_list:
            raise APIError("StorageReader needs at least one run")
        self.runs = tuple(index_arg("run", r) for r in run_list)
        self._archive: FacilityArchive = current_archive()
        for run in self.runs:
            with as_api_error(f"no run {run} on BL{self.beamline}"):
                known = self._archive.detector_ids(self.beamline, run)
            if self.detector not in known:
                raise APIError(f"detector {self.detector} was not recorded in run {run} "
                               f"on BL{self.beamline} (recorded: {', '.join(known) or 'none'})")
        self._tags: dict[int, np.ndarray] = {}
        self._info: dict[int, dict[str, Any]] = {}
        self._ahead: dict[int, np.ndarray] = {}
        self._last: tuple[int, int] | None = None
        self._window = 1

    def _locate(self, tag: int) -> tuple[int, int]:
        """(run, position in its tag list) of ``tag``; re-reads runs still being taken."""
        for refresh in (False, True):
            for run in self.runs:
                if refresh or run not in self._tags:
                    with as_api_error(f"no run {run} on BL{self.beamline}"):
                        self._tags[run] = self._archive.tags(self.beamline, run)
                tags = self._tags[run]
                i = int(np.searchsorted(tags, tag))
                if i < len(tags) and tags[i] == tag:
                    return run, i
        runs = ", ".join(map(str, self.runs))
        raise APIError(f"tag {tag} is not in run {runs} on BL{self.beamline} "
                       f"for detector {self.detector}")

    def det_info(self, run: int) -> dict[str, Any]:
        """Geometry and gain of the sensor in ``run`` (cached per run)."""
        if run not in self._info:
            with as_api_error(f"detector {self.detector} in run {run}"):
                raw = self._archive.detector_info(self.detector, self.beamline, run)
            self._info[run] = _both_spellings(self.detector, raw)
        return self._info[run]

    def _fetch(self, run: int, tags: np.ndarray) -> np.ndarray:
        with as_api_error(f"detector {self.detector}, run {run}"):
            return np.asarray(self._archive.frames(self.detector, self.beamline, run, tags))

    def _image(self, run: int, i: int) -> np.ndarray:
        """The image at position ``i`` of ``run``, reading ahead while access is sequential."""
        tags = self._tags[run]
        tag = int(tags[i])
        frame = self._ahead.pop(tag, None)
        if frame is None:
            sequential = self._last == (run, i - 1)
            self._window = min(2 * self._window, READ_AHEAD_MAX) if sequential else 1
            chunk = tags[i:i + self._window]
            got = self._fetch(run, chunk)
            self._ahead = dict(zip(chunk[1:].tolist(), got[1:], strict=True))
            frame = got[0]
        self._last = (run, i)
        return frame

    def collect(self, buffer: StorageBuffer, tag: int | Sequence[int]) -> None:
        """Fetch the image of ``tag`` (or of each tag of a sequence) into ``buffer``."""
        if buffer.reader is not self:
            raise APIError("collect: the buffer was made for another StorageReader")
        tags = tag_array([tag] if isinstance(tag, int | np.integer) else tag)
        if tags.size == 0:
            raise APIError("collect: no tag given")
        where = [self._locate(int(t)) for t in tags]
        if len(where) == 1:
            frames = [self._image(*where[0])]
        else:
            frames = [np.empty(0)] * len(where)
            for run in dict.fromkeys(r for r, _ in where):
                idx = [k for k, (r, _) in enumerate(where) if r == run]
                for k, frame in zip(idx, self._fetch(run, tags[idx]), strict=True):
                    frames[k] = frame
        buffer._fill([(frame, run, int(t)) for frame, (run, _), t in zip(frames, where, tags,
                                                                          strict=True)])


class StorageBuffer:
    """Holds the images of the last ``collect`` for one :class:`StorageReader`.

    ``read_det_data`` hands each collected image out without copying the first
    time; asked again for the same index it redraws the shot from the archive
    (same tag, same image), so every call returns an array the caller owns —
    scripts subtract darks in place.
    """

    def __init__(self, reader: StorageReader) -> None:
        if not isinstance(reader, StorageReader):
            raise APIError("StorageBuffer needs a StorageReader")
        self.reader = reader
        self._slots: list[tuple[np.ndarray | None, int, int]] = []

    def _fill(self, slots: list[tuple[np.ndarray | None, int, int]]) -> None:
        self._slots = slots

    def _check(self, index: int) -> int:
        index = index_arg("index", index)
        if not self._slots:
            raise APIError(f"detector {self.reader.detector}: nothing collected yet")
        if not 0 <= index < len(self._slots):
            raise APIError(f"detector {self.reader.detector}: index {index} out of range "
                           f"0..{len(self._slots) - 1}")
        return index

    def read_det_data(self, index: int) -> np.ndarray:
        """The ``index``-th collected image: a float32 (ysize, xsize) array in ADU."""
        index = self._check(index)
        frame, run, tag = self._slots[index]
        if frame is None:
            frame = self.reader._fetch(run, np.array([tag], dtype=np.int64))[0]
        else:
            self._slots[index] = (None, run, tag)
        return np.require(frame, dtype=np.float32, requirements=("C", "W"))

    def read_det_info(self, index: int) -> dict[str, Any]:
        """Sensor geometry (µm, degrees) and gain (e⁻/ADU) for the ``index``-th image."""
        _, run, _ = self._slots[self._check(index)]
        return dict(self.reader.det_info(run))
