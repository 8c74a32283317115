"""Detector kernels agree with plain-numpy references and with the photon truth."""

from __future__ import annotations

import numpy as np
import pytest

from expctl.analysis import (
    AnalysisError,
    Roi,
    adu_histogram,
    adu_per_photon,
    count_photons,
    photon_image,
    project,
    reduce_frames,
    roi_stats,
    subtract_pedestal,
)
from expctl.testing.synthetic_data import mpccd_frames

SHAPE = (96, 64)
ROIS = [Roi(30, 50, 20, 44), (0, 96, 60, 64)]


# ----------------------------------------------------------------------------- references


def ref_subtract(frames, ped, mask=None):
    out = frames.astype(np.float64) - ped
    return out if mask is None else np.where(mask, 0.0, out)


def ref_photons(frames, ped, app, thr, mask=None):
    """Definition: p photons of charge count floor(p - thr) + 1 if p >= thr, else 0."""
    p = ref_subtract(frames, ped) / app
    n = np.where(p >= thr, np.floor(p - thr) + 1, 0).astype(np.int64)
    return n if mask is None else np.where(mask, 0, n)


def ref_roi(frames, ped, roi, mask=None):
    r0, r1, c0, c1 = (roi.row_start, roi.row_stop, roi.col_start, roi.col_stop) \
        if isinstance(roi, Roi) else roi
    sub = ref_subtract(frames, ped, mask)[:, r0:r1, c0:c1]
    good = np.ones(sub.shape[1:], bool) if mask is None else ~mask[r0:r1, c0:c1]
    s = sub.sum(axis=(1, 2))
    mx = np.where(good, sub, -np.inf).max(axis=(1, 2))
    w = np.clip(sub, 0, None) * good
    rows = np.arange(r0, r1)[None, :, None]
    cols = np.arange(c0, c1)[None, None, :]
    com = np.stack([(w * rows).sum(axis=(1, 2)) / w.sum(axis=(1, 2)),
                    (w * cols).sum(axis=(1, 2)) / w.sum(axis=(1, 2))], axis=1)
    return s, mx, com, int(good.sum())


@pytest.fixture
def data(rng):
    return mpccd_frames(rng, 5, shape=SHAPE, spot=(40.0, 32.0, 3.0), spot_photons=800.0,
                        background_photons=0.05)


@pytest.fixture
def mask(rng):
    m = rng.random(SHAPE) < 0.05
    m[40, 32] = True  # the spot centre: masking it must matter
    return m


# ------------------------------------------------------------------------ kernels vs references


def test_adu_per_photon_is_energy_over_pair_energy_and_gain():
    assert adu_per_photon(10.0, 18.0) == pytest.approx(10000 / (3.65 * 18))
    assert round(adu_per_photon(10.0, 18.0)) == 152
    with pytest.raises(AnalysisError, match="must be positive"):
        adu_per_photon(0.0, 18.0)


@pytest.mark.parametrize("use_mask", [False, True])
def test_reduce_frames_matches_reference(data, mask, use_mask):
    m = mask if use_mask else None
    red = reduce_frames(data.frames, data.pedestal, ROIS, data.adu_per_photon, mask=m)
    for k, roi in enumerate(ROIS):
        s, _, _, _ = ref_roi(data.frames, data.pedestal.astype(np.float64), roi, m)
        np.testing.assert_allclose(red.roi_sums[:, k], s, rtol=1e-9, atol=1e-3)
    ref = ref_photons(data.frames, data.pedestal.astype(np.float64), data.adu_per_photon, 0.5, m)
    np.testing.assert_array_equal(red.nphot, ref.sum(axis=(1, 2)))


@pytest.mark.parametrize("use_mask", [False, True])
def test_roi_stats_match_reference(data, mask, use_mask):
    m = mask if use_mask else None
    st = roi_stats(data.frames, data.pedestal, ROIS, mask=m)
    ped = data.pedestal.astype(np.float64)
    for k, roi in enumerate(ROIS):
        s, mx, com, npix = ref_roi(data.frames, ped, roi, m)
        np.testing.assert_allclose(st.sum[:, k], s, rtol=1e-9, atol=1e-3)
        np.testing.assert_allclose(st.max[:, k], mx, rtol=1e-6)
        np.testing.assert_allclose(st.com[:, k], com, rtol=1e-9)
        assert st.pixels[k] == npix
        np.testing.assert_allclose(st.mean[:, k], s / npix)
    # the Bragg spot's centre of mass sits on the spot
    assert np.all(np.abs(st.com[:, 0, 0] - 40.0) < 0.5)
    assert np.all(np.abs(st.com[:, 0, 1] - 32.0) < 0.5)


@pytest.mark.parametrize("use_mask", [False, True])
def test_photon_counting_matches_reference(data, mask, use_mask):
    m = mask if use_mask else None
    ped = data.pedestal.astype(np.float64)
    for thr in (0.5, 0.3, 0.8):
        ref = ref_photons(data.frames, ped, data.adu_per_photon, thr, m)
        img = photon_image(data.frames, data.pedestal, data.adu_per_photon, threshold=thr, mask=m)
        np.testing.assert_array_equal(img, ref)
        counts = count_photons(data.frames, data.pedestal, data.adu_per_photon, threshold=thr,
                               mask=m)
        np.testing.assert_array_equal(counts, ref.sum(axis=(1, 2)))


def test_fractional_thresholds_on_exact_values():
    app = 100.0
    frame = np.array([[0.29, 0.31, 0.5, 0.49, 1.29, 1.31, 2.5, -3.0]]) * app
    ped = np.zeros_like(frame)
    assert photon_image(frame, ped, app, threshold=0.3).tolist() == [[0, 1, 1, 1, 1, 2, 3, 0]]
    assert photon_image(frame, ped, app, threshold=0.5).tolist() == [[0, 0, 1, 0, 1, 1, 3, 0]]
    assert count_photons(frame, ped, app, threshold=0.5).tolist() == [6]


def test_photon_counts_equal_the_photon_truth(rng):
    """Read noise of 250 e- is 14 ADU, a photon 152 ADU: counting at 0.5 photon must be exact
    apart from ~5.5-sigma noise excursions (2e-8 per pixel, i.e. none expected here)."""
    d = mpccd_frames(rng, 4)
    img = photon_image(d.frames, d.pedestal, d.adu_per_photon)
    truth = d.photons
    wrong = np.count_nonzero(img != truth)
    expected_false = 4 * truth[0].size * 2 * 2e-8
    assert wrong <= 3 + 3 * np.sqrt(expected_false)
    counts = count_photons(d.frames, d.pedestal, d.adu_per_photon)
    assert np.all(np.abs(counts - truth.sum(axis=(1, 2))) <= 3)
    # and the truth itself is Poisson about its mean: 3000 in the spot + 0.002 per pixel
    mean = 3000.0 + 0.002 * truth[0].size
    assert np.all(np.abs(truth.sum(axis=(1, 2)) - mean) < 5 * np.sqrt(mean))


def test_subtract_pedestal_matches_reference(data, mask):
    out = subtract_pedestal(data.frames, data.pedestal, mask=mask)
    assert out.dtype == np.float32 and out.shape == data.frames.shape
    np.testing.assert_allclose(out, ref_subtract(data.frames, data.pedestal, mask), atol=1e-3)
    single = subtract_pedestal(data.frames[0], data.pedestal)
    assert single.shape == SHAPE


def test_histogram_matches_numpy(data, mask):
    ped = np.round(data.pedestal).astype(np.float32)  # integer values: no edge ties
    h = adu_histogram(data.frames, ped, low=-100.5, high=699.5, bins=800, mask=mask)
    vals = ref_subtract(data.frames, ped)[:, ~mask]
    ref, edges = np.histogram(vals, bins=800, range=(-100.5, 699.5))
    np.testing.assert_array_equal(h.counts, ref)
    np.testing.assert_allclose(h.edges, edges)
    # the zero-photon peak is the pedestal: centred on 0, width = read noise (~14 ADU)
    centre = h.centers[np.argmax(h.counts)]
    assert abs(centre) <= 2


def test_projections_match_numpy(data, mask):
    p = project(data.frames, data.pedestal, Roi(10, 60, 5, 50), mask=mask)
    sub = ref_subtract(data.frames, data.pedestal, mask)[:, 10:60, 5:50]
    np.testing.assert_allclose(p.rows, sub.sum(axis=2), rtol=1e-6, atol=1e-2)
    np.testing.assert_allclose(p.cols, sub.sum(axis=1), rtol=1e-6, atol=1e-2)
    whole = project(data.frames[0], data.pedestal)
    assert whole.rows.shape == (1, SHAPE[0]) and whole.cols.shape == (1, SHAPE[1])


def test_float_frames_work_like_integer_frames(data):
    as_float = data.frames.astype(np.float32)
    a = reduce_frames(data.frames, data.pedestal, ROIS, data.adu_per_photon)
    b = reduce_frames(as_float, data.pedestal, ROIS, data.adu_per_photon)
    np.testing.assert_allclose(a.roi_sums, b.roi_sums, rtol=1e-9)
    np.testing.assert_array_equal(a.nphot, b.nphot)


@pytest.mark.parametrize(("call", "message"), [
    (lambda d: reduce_frames(d.frames, np.zeros((3, 3)), ROIS, 152.0),
     "pedestal shape (3, 3) does not match frame shape (96, 64)"),
    (lambda d: reduce_frames(d.frames, d.pedestal, [(0, 200, 0, 10)], 152.0),
     "ROI 0 rows 0:200, cols 0:10 is empty or outside the 96 x 64 frame"),
    (lambda d: count_photons(d.frames, d.pedestal, 152.0, threshold=1.5),
     "photon threshold must be a fraction of a photon in (0, 1], got 1.5"),
    (lambda d: count_photons(d.frames, d.pedestal, -1.0), "adu_per_photon must be positive"),
    (lambda d: count_photons(np.zeros(5), None, 152.0),
     "frames must be one image (rows, cols) or a stack (n, rows, cols), got (5,)"),
    (lambda d: roi_stats(d.frames, d.pedestal, ROIS, mask=np.zeros((2, 2), bool)),
     "mask shape (2, 2) does not match frame shape (96, 64)"),
    (lambda d: adu_histogram(d.frames, d.pedestal, low=5, high=1),
     "histogram range must have high > low"),
    (lambda d: subtract_pedestal(d.frames, np.full(SHAPE, np.nan)),
     "pedestal contains NaN/inf values; mask those pixels instead"),
])
def test_bad_input_messages(data, call, message):
    with pytest.raises(AnalysisError) as info:
        call(data)
    assert str(info.value).startswith(message)
