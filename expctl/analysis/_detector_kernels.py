"""numba kernels for detector frames; imported lazily by :mod:`expctl.analysis.detector`.

Conventions shared by every kernel: ``frames`` is ``(n, rows, cols)`` of any
numeric dtype (uint16 raw MPCCD data, or float), ``pedestal`` and ``good``
(1 = use the pixel, 0 = masked) are ``(rows, cols)`` float32 / uint8, ROIs are
rows of ``(row_start, row_stop, col_start, col_stop)`` half-open bounds.  A
photon is counted in a pixel whose dark-subtracted value ``p`` in photon units
reaches ``threshold``; it holds ``floor(p - threshold) + 1`` photons, so with
the usual 0.5 a pixel rounds to the nearest photon number.

Loops run row by row with contiguous inner loops that LLVM vectorises
(``fastmath`` allows reassociating the float sums); sums accumulate in float64
(exact for integer input up to 2**53).
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True, fastmath=True)
def _row_photons(row, prow, inv_app, offset):
    """Photons in one row: ``trunc(max(p + 1 - thr, 0))`` is ``floor(p - thr) + 1`` or 0.

    Written branch-free with an int32 accumulator so it vectorises (AVX2 has no
    float-to-int64 conversion); a row holds far fewer than 2**31 photons.
    """
    acc = np.int32(0)
    for j in range(row.size):
        p = (np.float32(row[j]) - prow[j]) * inv_app + offset
        acc += np.int32(max(p, np.float32(0.0)))
    return acc


@njit(cache=True, fastmath=True)
def reduce_frames(frames, photon_pedestal, good, use_mask, bounds, roi_pedestal, inv_app,
                  offset, zero, out_roi, out_nphot):
    """The per-shot small data in one pass: dark-subtracted ROI sums and photon count.

    ``photon_pedestal`` is the pedestal with masked pixels raised out of reach
    (so the photon loop needs no mask); ROI sums add raw values in the
    accumulator type of ``zero`` (int64 for integer frames: exact and
    vectorised) and subtract the precomputed ROI pedestal sums.
    """
    n, ny, _ = frames.shape
    k = bounds.shape[0]
    for f in range(n):
        nphot = 0
        for r in range(k):
            out_roi[f, r] = -roi_pedestal[r]
        for i in range(ny):
            row = frames[f, i]
            nphot += _row_photons(row, photon_pedestal[i], inv_app, offset)
            for r in range(k):
                if bounds[r, 0] <= i < bounds[r, 1]:
                    s = zero
                    if use_mask:
                        grow = good[i]
                        for j in range(bounds[r, 2], bounds[r, 3]):
                            s += row[j] * grow[j]
                    else:
                        for j in range(bounds[r, 2], bounds[r, 3]):
                            s += row[j]
                    out_roi[f, r] += s
        out_nphot[f] = nphot


@njit(cache=True, fastmath=True)
def subtract_pedestal(frames, pedestal, good, out):
    """``out = (frames - pedestal) * good`` as float32."""
    n, ny, nx = frames.shape
    for f in range(n):
        for i in range(ny):
            for j in range(nx):
                out[f, i, j] = (np.float32(frames[f, i, j]) - pedestal[i, j]) * good[i, j]


@njit(cache=True)
def roi_stats(frames, pedestal, good, bounds, out_sum, out_max, out_com):
    """Per frame and ROI: sum, max and centre of mass (row, col) of dark-subtracted pixels.

    The centre of mass weighs only positive values, so read noise around zero
    does not drag it towards the ROI centre.  Empty or all-masked ROIs give
    NaN maxima and centres.
    """
    n = frames.shape[0]
    k = bounds.shape[0]
    for f in range(n):
        for r in range(k):
            s = 0.0
            mx = -np.inf
            w = 0.0
            wr = 0.0
            wc = 0.0
            for i in range(bounds[r, 0], bounds[r, 1]):
                for j in range(bounds[r, 2], bounds[r, 3]):
                    if good[i, j]:
                        v = np.float64(frames[f, i, j]) - pedestal[i, j]
                        s += v
                        mx = max(mx, v)
                        if v > 0.0:
                            w += v
                            wr += v * i
                            wc += v * j
            out_sum[f, r] = s
            out_max[f, r] = mx if mx > -np.inf else np.nan
            out_com[f, r, 0] = wr / w if w > 0.0 else np.nan
            out_com[f, r, 1] = wc / w if w > 0.0 else np.nan


@njit(cache=True, fastmath=True)
def count_photons(frames, photon_pedestal, inv_app, offset, out_counts):
    """Photons per frame (see :func:`_row_photons`)."""
    n, ny, _ = frames.shape
    for f in range(n):
        acc = 0
        for i in range(ny):
            acc += _row_photons(frames[f, i], photon_pedestal[i], inv_app, offset)
        out_counts[f] = acc


@njit(cache=True, fastmath=True)
def photon_image(frames, photon_pedestal, inv_app, offset, out_image):
    """Photons per pixel (int32) of every frame."""
    n, ny, nx = frames.shape
    for f in range(n):
        for i in range(ny):
            for j in range(nx):
                p = (np.float32(frames[f, i, j]) - photon_pedestal[i, j]) * inv_app + offset
                out_image[f, i, j] = np.int32(max(p, np.float32(0.0)))


@njit(cache=True)
def adu_histogram(frames, pedestal, good, lo, width, out_counts):
    """Histogram of dark-subtracted ADU over uniform bins from ``lo``; outliers are dropped."""
    n, ny, nx = frames.shape
    nbins = out_counts.size
    inv = 1.0 / width
    for f in range(n):
        for i in range(ny):
            for j in range(nx):
                if good[i, j]:
                    b = np.floor((np.float64(frames[f, i, j]) - pedestal[i, j] - lo) * inv)
                    if 0.0 <= b < nbins:
                        out_counts[np.int64(b)] += 1


@njit(cache=True, fastmath=True)
def project(frames, pedestal, good, r0, r1, c0, c1, out_rows, out_cols):
    """Row and column sums of the dark-subtracted ROI ``[r0:r1, c0:c1]``."""
    n = frames.shape[0]
    for f in range(n):
        for j in range(c1 - c0):
            out_cols[f, j] = 0.0
        for i in range(r0, r1):
            s = 0.0
            for j in range(c0, c1):
                v = (np.float64(frames[f, i, j]) - pedestal[i, j]) * good[i, j]
                s += v
                out_cols[f, j - c0] += v
            out_rows[f, i - r0] = s


@njit(cache=True, fastmath=True)
def binned_sums(frames, pedestal, index, out_sums):
    """Sum dark-subtracted pixels into bins by a precomputed per-pixel bin index (-1 = skip)."""
    n, ny, nx = frames.shape
    for f in range(n):
        for i in range(ny):
            for j in range(nx):
                b = index[i, j]
                if b >= 0:
                    out_sums[f, b] += np.float64(frames[f, i, j]) - pedestal[i, j]


@njit(cache=True, fastmath=True)
def assemble(frames, inverse, gains, boxes, out):
    """Nearest-neighbour assembly of sensors onto a canvas by inverse mapping.

    For sensor ``s``, canvas pixel (y, x) reads sensor pixel
    ``row = a0 + a1*y + a2*x``, ``col = b0 + b1*y + b2*x`` (``inverse[s]`` holds
    ``a0, a1, a2, b0, b1, b2``) rounded to the nearest pixel, if inside the
    sensor, scaled by ``gains[s]``.  Only the sensor's bounding box
    ``boxes[s] = (y0, y1, x0, x1)`` is visited; along a canvas row the valid x
    range is solved analytically, and split into runs of constant source row
    (long for sensors near 0/180°), so the inner loop is a plain gather from
    one source row.  Later sensors overwrite earlier ones where they overlap.
    """
    ns, ny, nx = frames.shape
    for s in range(ns):
        a0, a1, a2 = inverse[s, 0], inverse[s, 1], inverse[s, 2]
        b0, b1, b2 = inverse[s, 3], inverse[s, 4], inverse[s, 5]
        g = gains[s]
        sensor = frames[s]
        for y in range(boxes[s, 0], boxes[s, 1]):
            ra = a0 + a1 * y + 0.5
            cb = b0 + b1 * y + 0.5
            lo, hi = _clip_range(ra, a2, ny, float(boxes[s, 2]), float(boxes[s, 3]))
            lo, hi = _clip_range(cb, b2, nx, lo, hi)
            x = max(int(np.ceil(lo)), boxes[s, 2])
            xe = min(int(np.floor(hi)) + 1, boxes[s, 3])
            orow = out[y]
            while x < xe:
                r = min(max(int(ra + a2 * x), 0), ny - 1)
                if a2 > 1e-12:  # first x where the source row becomes r + 1
                    x_next = int(np.ceil((r + 1 - ra) / a2))
                elif a2 < -1e-12:  # first x where it drops below r
                    x_next = int(np.ceil((r - ra) / a2))
                    if ra + a2 * x_next >= r:
                        x_next += 1
                else:
                    x_next = xe
                x_next = min(max(x_next, x + 1), xe)
                src = sensor[r]
                for xx in range(x, x_next):
                    c = min(max(np.int32(cb + b2 * xx), 0), nx - 1)
                    orow[xx] = src[c] * g
                x = x_next


@njit(cache=True)
def _clip_range(base, slope, size, lo, hi):
    """Narrow [lo, hi] to the x with ``0 <= base + slope*x < size`` (base holds the +0.5)."""
    eps = 1e-9
    if abs(slope) < 1e-12:
        if base < 0.0 or base >= size:
            return 1.0, 0.0
        return lo, hi
    a = (0.0 - base) / slope
    b = (size - eps - base) / slope
    if slope < 0.0:
        a, b = b, a
    return max(lo, a), min(hi, b)
