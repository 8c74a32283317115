"""numba kernels that draw full MPCCD sensor images (imported only when frames are asked for).

Random numbers come from xorshift64* generators seeded per (seed, tag,
sensor) and row, so the same shot always gives the same image.  Each photon
deposits its charge where it lands, shared with the nearest neighbours when
its charge cloud crosses a pixel edge; pixels clip at the full well.  Read noise is the
Irwin–Hall sum of four 16-bit uniforms (variance-matched to a Gaussian,
tails cut at 3.5 sigma), which costs one generator step per pixel; a whole
detector (all sensors of one shot) is one kernel call.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

_MUL = np.uint64(0x2545F4914F6CDD1D)
#: Bragg-spot photons above which the image kernel draws per-pixel counts, not photons
DENSE = 50_000


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


@njit(cache=True, inline="always")
def _deposit(pix, q, m, rows, cols, ri, ci, fr, fc, cloud):
    """Add one photon at pixel (ri, ci), sub-pixel (fr, fc), to the deposit list.

    With a charge cloud (rms ``cloud`` pixels) the part beyond the nearest pixel
    edge in each direction goes to that neighbour (charge sharing); charge
    leaving the sensor is lost.  Returns the new list length.
    """
    wr = 0.0
    wc = 0.0
    nr = -1
    nc = -1
    if cloud > 0.0:
        dr = fr if fr < 0.5 else 1.0 - fr
        dc = fc if fc < 0.5 else 1.0 - fc
        wr = 0.5 * math.erfc(dr / (cloud * 1.4142135623730951))
        wc = 0.5 * math.erfc(dc / (cloud * 1.4142135623730951))
        wr = wr if wr >= 1e-4 else 0.0
        wc = wc if wc >= 1e-4 else 0.0
        nr = ri - 1 if fr < 0.5 else ri + 1
        nc = ci - 1 if fc < 0.5 else ci + 1
        nr = nr if 0 <= nr < rows else -1  # beyond the sensor edge: that charge is lost
        nc = nc if 0 <= nc < cols else -1
    pix[m] = ri * cols + ci
    q[m] = (1.0 - wr) * (1.0 - wc)
    m += 1
    if wr > 0.0 and nr >= 0:
        pix[m] = nr * cols + ci
        q[m] = wr * (1.0 - wc)
        m += 1
    if wc > 0.0 and nc >= 0:
        pix[m] = ri * cols + nc
        q[m] = (1.0 - wr) * wc
        m += 1
    if wr > 0.0 and wc > 0.0 and nr >= 0 and nc >= 0:
        pix[m] = nr * cols + nc
        q[m] = wr * wc
        m += 1
    return m


@njit(cache=True)
def _photons(state, rows, cols, boxes, box_photons, n_bragg, bragg_r, bragg_c, sigma_px,
             n_rest, cloud):
    """Pixel indices (sorted) and charges (photons) of one sensor's deposits.

    Bragg-spot photons are placed one by one up to :data:`DENSE` of them; a
    brighter spot (saturated anyway) gets per-pixel Gaussian-approximated
    counts of its expected profile instead.
    """
    dense = n_bragg > DENSE
    n_single = 0 if dense else n_bragg
    size = 4 * (n_single + box_photons[0] + box_photons[1] + n_rest)
    r0, r1, c0, c1 = boxes[0, 0], boxes[0, 1], boxes[0, 2], boxes[0, 3]
    if dense:
        size += (r1 - r0) * (c1 - c0)
    pix = np.empty(size, dtype=np.int64)
    q = np.empty(size)
    m = 0
    for _ in range(n_single):  # 2-D Gaussian spot, redrawn if outside ROI 0
        for _try in range(64):
            state, u1 = _uniform(state)
            state, u2 = _uniform(state)
            rad = sigma_px * np.sqrt(-2.0 * np.log(u1))
            rf = bragg_r + rad * np.cos(2.0 * np.pi * u2)
            cf = bragg_c + rad * np.sin(2.0 * np.pi * u2)
            ri = int(np.floor(rf))
            ci = int(np.floor(cf))
            if r0 <= ri < r1 and c0 <= ci < c1:
                m = _deposit(pix, q, m, rows, cols, ri, ci, rf - ri, cf - ci, cloud)
                break
    if dense:
        m = _dense_spot(pix, q, m, state, cols, boxes[0], n_bragg, bragg_r, bragg_c, sigma_px)
    for b in range(2):
        r0, r1, c0, c1 = boxes[b, 0], boxes[b, 1], boxes[b, 2], boxes[b, 3]
        if r0 < 0:
            continue
        for _ in range(box_photons[b]):
            state, u1 = _uniform(state)
            state, u2 = _uniform(state)
            rf = r0 + u1 * (r1 - r0)
            cf = c0 + u2 * (c1 - c0)
            ri = int(rf)
            ci = int(cf)
            m = _deposit(pix, q, m, rows, cols, ri, ci, rf - ri, cf - ci, cloud)
    placed = 0
    while placed < n_rest:
        state, u1 = _uniform(state)
        state, u2 = _uniform(state)
        rf = u1 * rows
        cf = u2 * cols
        ri = int(rf)
        ci = int(cf)
        inside = False
        for b in range(2):
            if (boxes[b, 0] >= 0 and boxes[b, 0] <= ri < boxes[b, 1]
                    and boxes[b, 2] <= ci < boxes[b, 3]):
                inside = True
        if not inside:
            m = _deposit(pix, q, m, rows, cols, ri, ci, rf - ri, cf - ci, cloud)
            placed += 1
    order = np.argsort(pix[:m], kind="mergesort")
    return pix[:m][order], q[:m][order]


@njit(cache=True)
def _dense_spot(pix, q, m, state, cols, box, n, bragg_r, bragg_c, sigma_px):
    """Per-pixel counts of a bright spot: expected profile in ROI 0 plus Gaussian scatter.

    The Gaussian spot is separable: row and column fractions are computed once each.
    """
    r0, r1, c0, c1 = box[0], box[1], box[2], box[3]
    k = 1.0 / (sigma_px * 1.4142135623730951)
    fr = np.empty(r1 - r0)
    fc = np.empty(c1 - c0)
    for i in range(r0, r1):
        fr[i - r0] = 0.5 * (math.erfc((i - bragg_r) * k) - math.erfc((i + 1 - bragg_r) * k))
    for j in range(c0, c1):
        fc[j - c0] = 0.5 * (math.erfc((j - bragg_c) * k) - math.erfc((j + 1 - bragg_c) * k))
    norm = n / (fr.sum() * fc.sum())
    for i in range(r0, r1):
        for j in range(c0, c1):
            lam = norm * fr[i - r0] * fc[j - c0]
            state, u1 = _uniform(state)
            state, u2 = _uniform(state)
            z = np.sqrt(-2.0 * np.log(u1)) * np.cos(2.0 * np.pi * u2)
            c = np.floor(lam + np.sqrt(lam) * z + 0.5)
            if c > 0.0:
                pix[m] = i * cols + j
                q[m] = c
                m += 1
    return m


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
def render_sensors(out, pedestals, keys, noise_adu, adu_per_photon, well_photons, offsets,
                   cloud_px, boxes, noise_targets, box_photons, n_bragg, bragg_sensor, bragg_r,
                   bragg_c, sigma_px, n_rest):
    """Fill ``out`` (sensors x rows x cols, float32) with raw sensor images in ADU.

    One call draws every sensor of a detector for one shot, writing each pixel
    once: photon deposits are drawn first (sorted by pixel), the ROI noise sums
    from the ROI rows alone, then one pass adds noise, ROI correction, the
    deposited charge (clipped at the full well), the sensor's offset (common
    mode and pedestal drift) and the pedestal, and rounds and clips to 16 bits.
    Each row's read noise comes from four interleaved generators seeded from
    (key, row): independent dependency chains the CPU overlaps, and any row can
    be drawn on its own (columns a multiple of 4).

    Args:
        out: output images, overwritten.
        pedestals: per-pixel pedestal maps (same shape).
        keys: (S,) nonzero 64-bit seeds of this (seed, tag, sensor).
        noise_adu, adu_per_photon: (S,) rms read noise and one photon's signal in ADU.
        well_photons: photons one pixel's full well holds.
        offsets: (S,) common-mode plus drift offset of each sensor (ADU).
        cloud_px: rms charge-cloud size in pixels (charge sharing; 0 = none).
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
        off = offsets[sn]
        bx = boxes[sn]
        pix, q = _photons(_seed(key, 0), rows, cols, bx, box_photons[sn],
                          n_bragg if sn == bragg_sensor and bx[0, 0] >= 0 else 0,
                          bragg_r, bragg_c, sigma_px, n_rest[sn], cloud_px)
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
                k = pix[p]
                charge = 0.0
                while p < m and pix[p] == k:
                    charge += q[p]
                    p += 1
                row[k - base] += min(charge, well_photons) * adu
            for j in range(cols):
                img[i, j] = min(max(np.floor(row[j] + off + ped[i, j] + 0.5), 0.0), 65535.0)
