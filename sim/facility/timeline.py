"""Facility time and tags: the 60 Hz tag counter behind every shot.

The session clock starts at 0 in every process; the facility's time line does
not.  A :class:`Timeline` maps clock readings to facility ticks (1/60 s) with an
integer offset chosen when the session opens (after the last tick any earlier
session persisted), so tags and run start times keep increasing across
processes sharing a data directory.  With a 30 Hz beam only every second tag
carries a shot (``tag % divider == 0``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

__all__ = ["Timeline"]


@dataclass(frozen=True, slots=True)
class Timeline:
    """Clock time <-> facility ticks <-> tags.

    Args:
        tag0: tag at facility tick 0.
        offset_ticks: facility tick at session clock time 0.
        origin_unix: Unix time of facility tick 0.
        tag_rate_hz: tag counter rate (60 Hz at SACLA).
        beam_rate_hz: beam repetition rate (a divisor of the tag rate).
    """

    tag0: int
    offset_ticks: int
    origin_unix: float
    tag_rate_hz: float = 60.0
    beam_rate_hz: float = 30.0

    _divider: int = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_divider", max(1, round(self.tag_rate_hz / self.beam_rate_hz)))

    @property
    def divider(self) -> int:
        """Tags per beam shot (2 for a 30 Hz beam on the 60 Hz tag counter)."""
        return self._divider

    def ticks_at(self, t: float) -> int:
        """Facility tick of clock time ``t`` (the last tick not after it)."""
        return self.offset_ticks + math.floor(t * self.tag_rate_hz + 1e-6)

    def tag_at(self, t: float) -> int:
        return self.tag0 + self.ticks_at(t)

    def time_of(self, tags: np.ndarray) -> np.ndarray:
        """Clock times of ``tags``."""
        return (np.asarray(tags, dtype=np.int64) - self.tag0 - self.offset_ticks) / self.tag_rate_hz

    def time_of_tag(self, tag: int) -> float:
        """Clock time of one tag (:meth:`time_of`'s arithmetic on plain numbers)."""
        return (tag - self.tag0 - self.offset_ticks) / self.tag_rate_hz

    def facility_time(self, t: np.ndarray | float) -> np.ndarray | float:
        """Seconds of facility time (what beam-loss episodes are scheduled in)."""
        return np.asarray(t) + self.offset_ticks / self.tag_rate_hz

    def unix(self, t: np.ndarray | float) -> np.ndarray | float:
        """Unix timestamps of clock times."""
        return self.origin_unix + self.facility_time(t)

    def beam_tag_after(self, t: float) -> int:
        """The first beam tag strictly after clock time ``t``."""
        return self.next_beam_shot(t)[0]

    def next_beam_shot(self, t: float) -> tuple[int, float]:
        """The first beam tag strictly after clock time ``t`` and its clock time (what a
        trigger asks at every step-scan point: one call)."""
        base = self.tag0 + self.offset_ticks  # (ticks_at and time_of_tag, inlined)
        tag = base + math.floor(t * self.tag_rate_hz + 1e-6) + 1
        tag += (-tag) % self._divider
        return tag, (tag - base) / self.tag_rate_hz

    def beam_tags_from(self, first: int, n: int) -> np.ndarray:
        """``n`` beam tags from beam tag ``first`` on."""
        return np.arange(first, first + self.divider * n, self.divider, dtype=np.int64)

    def beam_tags_after(self, t: float, n: int) -> np.ndarray:
        """The next ``n`` beam tags strictly after clock time ``t``."""
        return self.beam_tags_from(self.beam_tag_after(t), n)

    def beam_tags_between(self, t_from: float, t_to: float) -> np.ndarray:
        """Beam tags with clock time in (t_from, t_to]."""
        first = self.tag_at(t_from) + 1
        first += (-first) % self.divider
        last = self.tag_at(t_to)
        if last < first:
            return np.zeros(0, dtype=np.int64)
        return np.arange(first, last + 1, self.divider, dtype=np.int64)
