"""numba kernels that draw full MPCCD sensor images (imported only when frames are asked for).

Random numbers come from xorshift64* generators seeded per (seed, tag,
sensor) and row, so the same shot always gives the same image.  Read noise is the
Irwin–Hall sum of four 16-bit uniforms (variance-matched to a Gaussian,
tails cut at 3.5 sigma), which costs one generator step per pixel; a whole
detector (all sensors of one shot) is one kernel call.
"""

from __future__ import annotations

import numpy as np
from numba import njit

_MUL = np.uint64(0x2545F4914F6CDD1D)


@njit(cache=True, inline="always")
def _next(state):
    state ^= state >> np.uint64(12)
    state ^= state << np.uint64(25)
    state ^= state >> np.uint64(27)
    return state, state * _MUL


@njit(cache=True, inline="always")
def _uniform(state):
    state, r = _next(state)
    return state, ((r >> np.uint64(11)) + 0.5) * (1.0 / 9007199254740992.0)


@njit(cache=True, inline="always")
def _seed(key, k):
    """A nonzero xorshift state for sub-stream ``k`` of ``key`` (SplitMix64 finaliser)."""
    z = key + np.uint64(k) * np.uint64(0x9E3779B97F4A7C15)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    z = z ^ (z >> np.uint64(31))
    return z if z != np.uint64(0) else np.uint64(0x9E37)


@njit(cache=True, inline="always")
def _noise(r, scale):
    m16 = np.uint64(0xFFFF)
    s = ((r & m16) + ((r >> np.uint64(16)) & m16) + ((r >> np.uint64(32)) & m16)
         + (r >> np.uint64(48)))
    return (np.float64(s) - 131070.0) * scale


@njit(cache=True)
def _photons(state, rows, cols, boxes, box_photons, n_bragg, bragg_r, bragg_c, sigma_px,
             n_rest):
    """Sorted flat pixel indices of every photon of one sensor (Bragg spot, ROI, rest)."""
    pix = np.empty(n_bragg + box_photons[0] + box_photons[1] + n_rest, dtype=np.int64)
    m = 0
    r0, r1, c0, c1 = boxes[0, 0], boxes[0, 1], boxes[0, 2], boxes[0, 3]
    for _ in range(n_bragg):  # 2-D Gaussian spot, redrawn if outside ROI 0
        for _try in range(64):
            state, u1 = _uniform(state)
            state, u2 = _uniform(state)
            rad = sigma_px * np.sqrt(-2.0 * np.log(u1))
            ri = int(np.floor(bragg_r + rad * np.cos(2.0 * np.pi * u2)))
            ci = int(np.floor(bragg_c + rad * np.sin(2.0 * np.pi * u2)))
            if r0 <= ri < r1 and c0 <= ci < c1:
                pix[m] = ri * cols + ci
                m += 1
                break
    for b in range(2):
        r0, r1, c0, c1 = boxes[b, 0], boxes[b, 1], boxes[b, 2], boxes[b, 3]
        if r0 < 0:
            continue
        for _ in range(box_photons[b]):
            state, u1 = _uniform(state)
            state, u2 = _uniform(state)
            pix[m] = (r0 + int(u1 * (r1 - r0))) * cols + c0 + int(u2 * (c1 - c0))
            m += 1
    placed = 0
    while placed < n_rest:
        state, u1 = _uniform(state)
        state, u2 = _uniform(state)
        ri = int(u1 * rows)
        ci = int(u2 * cols)
        inside = False
        for b in range(2):
            if (boxes[b, 0] >= 0 and boxes[b, 0] <= ri < boxes[b, 1]
                    and boxes[b, 2] <= ci < boxes[b, 3]):
                inside = True
        if not inside:
            pix[m] = ri * cols + ci
            m += 1
            placed += 1
    return np.sort(pix[:m])


@njit(cache=True, inline="always")
def _noise_row(row, key, i, scale):
    """Read noise of row ``i``: four interleaved generators seeded from (key, row)."""
    s0 = _seed(key, 4 * i + 1)
    s1 = _seed(key, 4 * i + 2)
    s2 = _seed(key, 4 * i + 3)
    s3 = _seed(key, 4 * i + 4)
    for j in range(0, len(row), 4):
        s0, r0 = _next(s0)
        s1, r1 = _next(s1)
        s2, r2 = _next(s2)
        s3, r3 = _next(s3)
        row[j] = _noise(r0, scale)
        row[j + 1] = _noise(r1, scale)
        row[j + 2] = _noise(r2, scale)
        row[j + 3] = _noise(r3, scale)


@njit(cache=True)
def render_sensors(out, pedestals, keys, noise_adu, adu_per_photon, boxes, noise_targets,
                   box_photons, n_bragg, bragg_sensor, bragg_r, bragg_c, sigma_px, n_rest):
    """Fill ``out`` (sensors x rows x cols, float32) with raw sensor images in ADU.

    One call draws every sensor of a detector for one shot, writing each pixel
    once: photon positions are drawn first (sorted), the ROI noise sums from the
    ROI rows alone, then one pass adds noise, ROI correction, photons and
    pedestal and rounds.  Each row's read noise comes from four interleaved
    generators seeded from (key, row): independent dependency chains the CPU
    overlaps, and any row can be drawn on its own (columns a multiple of 4).

    Args:
        out: output images, overwritten.
        pedestals: per-pixel pedestal maps (same shape).
        keys: (S,) nonzero 64-bit seeds of this (seed, tag, sensor).
        noise_adu, adu_per_photon: (S,) rms read noise and one photon's signal in ADU.
        boxes: (S, 2, 4) int64 [row0, row1, col0, col1) of ROI 0 and 1, row0 < 0 if absent.
        noise_targets: (S, 2) read-noise sums (ADU) the two ROIs must carry.
        box_photons: (S, 2) diffuse photons inside each ROI.
        n_bragg: Bragg-spot photons (inside ROI 0 of sensor ``bragg_sensor``, -1 for none);
            bragg_r/c, sigma_px: its centre and width.
        n_rest: (S,) diffuse photons elsewhere on each sensor.
    """
    ns, rows, cols = out.shape
    shift = np.zeros(2)
    row = np.empty(cols)
    for sn in range(ns):
        img = out[sn]
        ped = pedestals[sn]
        key = keys[sn]
        scale = noise_adu[sn] * np.sqrt(3.0) / 65536.0
        adu = adu_per_photon[sn]
        bx = boxes[sn]
        pix = _photons(_seed(key, 0), rows, cols, bx, box_photons[sn],
                       n_bragg if sn == bragg_sensor and bx[0, 0] >= 0 else 0,
                       bragg_r, bragg_c, sigma_px, n_rest[sn])
        for b in range(2):  # ROI noise sums, from the ROI rows only
            shift[b] = 0.0
            r0, r1, c0, c1 = bx[b, 0], bx[b, 1], bx[b, 2], bx[b, 3]
            if r0 < 0:
                continue
            tot = 0.0
            for i in range(r0, r1):
                _noise_row(row, key, i, scale)
                for j in range(c0, c1):
                    tot += row[j]
            shift[b] = (noise_targets[sn, b] - tot) / ((r1 - r0) * (c1 - c0))
        p = 0
        m = len(pix)
        for i in range(rows):
            _noise_row(row, key, i, scale)
            for b in range(2):
                if bx[b, 0] <= i < bx[b, 1]:
                    for j in range(bx[b, 2], bx[b, 3]):
                        row[j] += shift[b]
            base = i * cols
            while p < m and pix[p] < base + cols:
                row[pix[p] - base] += adu
                p += 1
            for j in range(cols):
                img[i, j] = min(max(np.floor(row[j] + ped[i, j] + 0.5), 0.0), 65535.0)
