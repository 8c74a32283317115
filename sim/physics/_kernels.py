"""numba kernels that draw full MPCCD sensor images (imported only when frames are asked for).

Random numbers come from a xorshift64* generator seeded per (seed, tag,
sensor), so the same shot always gives the same image.  Read noise is the
Irwin–Hall sum of four 16-bit uniforms (variance-matched to a Gaussian,
tails cut at 3.5 sigma), which costs one generator step per pixel.
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


@njit(cache=True)
def render_sensor(out, pedestal, noise_adu, adu_per_photon, key, boxes, noise_targets,
                  box_photons, n_bragg, bragg_r, bragg_c, sigma_px, n_rest):
    """Fill ``out`` (rows x cols, float32) with one raw sensor image in ADU.

    Args:
        out: output image, overwritten.
        pedestal: per-pixel pedestal map (same shape).
        noise_adu: rms read noise in ADU.
        adu_per_photon: signal of one photon in ADU.
        key: nonzero 64-bit seed of this (seed, tag, sensor).
        boxes: (2, 4) int64 [row0, row1, col0, col1) of ROI 0 and 1, row0 < 0 if absent.
        noise_targets: (2,) read-noise sums (ADU) the two ROIs must carry.
        box_photons: (2,) diffuse photons inside each ROI.
        n_bragg: Bragg-spot photons (inside ROI 0); bragg_r/c, sigma_px: its centre and width.
        n_rest: diffuse photons elsewhere on the sensor.
    """
    rows, cols = out.shape
    state = np.uint64(key)
    m16 = np.uint64(0xFFFF)
    scale = noise_adu * np.sqrt(3.0) / 65536.0
    for i in range(rows):
        for j in range(cols):
            state, r = _next(state)
            s = ((r & m16) + ((r >> np.uint64(16)) & m16) + ((r >> np.uint64(32)) & m16)
                 + (r >> np.uint64(48)))
            out[i, j] = (np.float64(s) - 131070.0) * scale
    for b in range(2):
        r0, r1, c0, c1 = boxes[b, 0], boxes[b, 1], boxes[b, 2], boxes[b, 3]
        if r0 < 0:
            continue
        tot = 0.0
        for i in range(r0, r1):
            for j in range(c0, c1):
                tot += out[i, j]
        shift = (noise_targets[b] - tot) / ((r1 - r0) * (c1 - c0))
        for i in range(r0, r1):
            for j in range(c0, c1):
                out[i, j] += shift
    # Bragg photons: 2-D Gaussian spot, redrawn if outside ROI 0
    r0, r1, c0, c1 = boxes[0, 0], boxes[0, 1], boxes[0, 2], boxes[0, 3]
    for _ in range(n_bragg):
        for _try in range(64):
            state, u1 = _uniform(state)
            state, u2 = _uniform(state)
            rad = sigma_px * np.sqrt(-2.0 * np.log(u1))
            ri = int(np.floor(bragg_r + rad * np.cos(2.0 * np.pi * u2)))
            ci = int(np.floor(bragg_c + rad * np.sin(2.0 * np.pi * u2)))
            if r0 <= ri < r1 and c0 <= ci < c1:
                out[ri, ci] += adu_per_photon
                break
    for b in range(2):
        r0, r1, c0, c1 = boxes[b, 0], boxes[b, 1], boxes[b, 2], boxes[b, 3]
        if r0 < 0:
            continue
        for _ in range(box_photons[b]):
            state, u1 = _uniform(state)
            state, u2 = _uniform(state)
            out[r0 + int(u1 * (r1 - r0)), c0 + int(u2 * (c1 - c0))] += adu_per_photon
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
            out[ri, ci] += adu_per_photon
            placed += 1
    for i in range(rows):
        for j in range(cols):
            v = np.floor(out[i, j] + pedestal[i, j] + 0.5)
            out[i, j] = min(max(v, 0.0), 65535.0)
