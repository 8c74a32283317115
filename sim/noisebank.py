"""Every state-independent random variate of the shots, drawn in bulk per block of tags.

Randomness does not depend on the beamline state, so :class:`NoiseBank` draws
all of a shot's variates (SASE/mono/pump/electron-beam gamma factors, pointing,
PD noise, timing jitter, timing-tool noise, detector count uniforms, read-noise
and common-mode normals) as one row of a matrix, for aligned blocks of beam
tags at a time, and keeps the recent blocks: a one-shot trigger in a step scan
then costs a row slice.  The column constants say which variate is where.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import TYPE_CHECKING, Any

import numpy as np

from sim.physics.rand import box_muller, uniforms
from sim.physics.source import STREAM_POINTING

if TYPE_CHECKING:
    from sim.physics.detector import DetectorModel

__all__ = ["NORMAL_STREAMS", "STREAM_JITTER", "STREAM_PD", "STREAM_TT", "TT_STREAMS",
           "NoiseBank"]

STREAM_PD = 600
STREAM_JITTER = 700
STREAM_TT = 800
#: normals of every shot (two uniform streams each), after the four source gammas; the
#: timing tool's three come last and only with a timing tool
NORMAL_STREAMS = (STREAM_POINTING, STREAM_PD, STREAM_PD + 2, STREAM_PD + 4, STREAM_JITTER)
TT_STREAMS = (STREAM_TT, STREAM_TT + 2, STREAM_TT + 4)
# columns of the variate matrix before the detectors' own
_N_SRC = 4
_POINT, _PD_DARK, _PD_ADC, _PD_SHOT, _JIT, _TT_POS, _TT_FWHM, _TT_AMP = range(_N_SRC, _N_SRC + 8)


class NoiseBank:
    """All state-independent variates of a beamline's shots, drawn in bulk per tag block.

    Args:
        seed: profile seed.
        source: the source model (its gamma streams and shapes).
        detectors: detector models, in the order of their column groups.
        divider: tag step between beam shots (beam tags are multiples of it).
        timing_tool: draw the timing tool's variates too.
    """

    BLOCK = 256  # beam shots per cached block (~8.5 s of 30 Hz beam)
    KEEP = 8    # blocks kept

    def __init__(self, seed: int, source: Any, detectors: list[DetectorModel],
                 divider: int, timing_tool: bool = False) -> None:
        self.seed = seed
        self.source = source
        self.divider = divider
        normal = list(NORMAL_STREAMS) + (list(TT_STREAMS) if timing_tool else [])
        unif: list[int] = []
        self.det_columns: dict[str, tuple[slice, slice]] = {}
        z_at, u_at = _N_SRC + len(normal), 0
        for det in detectors:
            u, z = det.streams()
            self.det_columns[det.name] = (slice(u_at, u_at + len(u)),
                                          slice(z_at, z_at + len(z)))
            normal += [int(s) for s in z]
            unif += [int(s) for s in u]
            u_at += len(u)
            z_at += len(z)
        n_norm = len(normal)
        self.det_columns = {k: (slice(_N_SRC + n_norm + u.start, _N_SRC + n_norm + u.stop), z)
                            for k, (u, z) in self.det_columns.items()}
        raw = [s + k for s in normal for k in (0, 1)] + unif
        self._raw = np.asarray(raw, dtype=np.int64)
        self._n_norm = n_norm
        self.width = _N_SRC + n_norm + len(unif)
        self._blocks: OrderedDict[int, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()

    def draw(self, tags: np.ndarray) -> np.ndarray:
        """(n, width) variates of ``tags`` (any tags, no caching)."""
        tags = np.asarray(tags, dtype=np.int64)
        u = uniforms(self.seed, tags[:, None], self._raw)
        m = self._n_norm
        z = box_muller(u[:, 0:2 * m:2], u[:, 1:2 * m:2])
        return np.concatenate([self.source.draw(self.seed, tags), z, u[:, 2 * m:]], axis=1)

    def _block(self, b: int) -> np.ndarray:
        got = self._blocks.get(b)
        if got is None:
            span = self.divider * self.BLOCK
            got = self.draw(b * span + self.divider * np.arange(self.BLOCK, dtype=np.int64))
            with self._lock:  # a deferred reading may be computed on another thread
                self._blocks[b] = got
                if len(self._blocks) > self.KEEP:
                    self._blocks.popitem(last=False)
        return got

    def one(self, tag: int) -> list[float]:
        """Variates of one tag as numbers (for a beam tag, a row of a cached block)."""
        div = self.divider
        if tag % div:
            return self.draw(np.asarray([tag], dtype=np.int64))[0].tolist()
        span = div * self.BLOCK
        return self._block(tag // span)[tag % span // div].tolist()

    def rows(self, tags: np.ndarray) -> np.ndarray:
        """Variates of ``tags``: a slice of cached blocks for a short run of beam tags."""
        n = len(tags)
        first = int(tags[0])
        div, span = self.divider, self.divider * self.BLOCK
        last = int(tags[-1])
        b0, b1 = first // span, last // span
        if first % div or last - first != div * (n - 1) or b1 - b0 > 1:
            return self.draw(tags)
        i0 = (first - b0 * span) // div
        if b0 == b1:
            return self._block(b0)[i0:i0 + n]
        return np.concatenate([self._block(b0)[i0:], self._block(b1)[:n - (self.BLOCK - i0)]])
