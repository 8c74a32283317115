"""MPCCD images: photon gain, pedestal and noise, darks, consistency with small data."""

from __future__ import annotations

import math

import numpy as np
import pytest

from expctl.devices import wait_all


def _run(beamline, shots, **kw):
    rec, st = beamline.daq.start_run(shots, **kw)
    wait_all([st], beamline.clock)
    block = beamline.daq.collect()
    beamline.daq.stop_run()
    return rec, block


def _diffuse_pixels(beamline, shots=20):
    """Pedestal- and offset-subtracted pixels (ADU) of unattenuated frames, spot masked."""
    settle_all(beamline, xray_shutter="open", attenuator=0, pd_gain="low")
    rec, block = _run(beamline, shots, full_frames=True)
    model = beamline.world.detector_models[0]
    ped = model.pedestal(beamline.profile.seed, 0)
    frames = block.frames["mpccd"] - ped
    mask = np.ones((1024, 512), dtype=bool)
    mask[440:584, 180:332] = False  # the Bragg spot holds many photons per pixel
    # the sensor's offset of each shot (common mode + drift) is the median of its pixels
    offset = np.median(frames[:, mask], axis=1)
    return (frames - offset[:, None, None])[:, mask], block, model


def settle_all(beamline, **targets):
    wait_all([beamline.devices[n].set(v) for n, v in targets.items()], beamline.clock)


def test_single_photon_peak_at_e_over_pair_energy_times_gain(beamline):
    """Sparse diffuse photons (~2.5e-3 per pixel per shot), Bragg spot masked: the
    pixel histogram peaks at 10 keV / (3.65 eV x 18) = 152.2 ADU (DESIGN.md, MPCCD)."""
    signal, block, _ = _diffuse_pixels(beamline)
    assert block.frames["mpccd"].shape == (20, 1024, 512)
    hist, edges = np.histogram(signal.ravel(), bins=np.arange(60.5, 300.5, 1.0))
    centres = 0.5 * (edges[1:] + edges[:-1])
    top = int(np.argmax(hist))
    win = slice(max(top - 12, 0), top + 13)
    peak = np.sum(centres[win] * hist[win]) / np.sum(hist[win])
    expected = 10_000.0 / (3.65 * 18.0)
    assert expected == pytest.approx(152.2, abs=0.1)
    assert peak == pytest.approx(expected, rel=0.03)


def test_charge_sharing_fills_the_valley_between_zero_and_one_photon(beamline, rng):
    """A 4 um rms charge cloud (diffusion while drifting through 50 um of Si) shares the
    charge of photons near a pixel edge: pixels between 0.3 and 0.7 photon, as many as an
    independent Monte Carlo of the same cloud, read noise and photon density predicts."""
    signal, block, model = _diffuse_pixels(beamline)
    adu = 10_000.0 / (3.65 * 18.0)
    x = signal.ravel() / adu
    valley = np.count_nonzero((x > 0.3) & (x < 0.7))
    single = np.count_nonzero((x > 0.8) & (x < 1.2))
    # Monte Carlo: photons uniform in a pixel, charge beyond the nearest edges shared
    sigma = model.charge_cloud_um / 50.0
    n = 400_000
    f = rng.uniform(0.0, 1.0, (n, 2))
    d = np.minimum(f, 1.0 - f)
    w = 0.5 * np.vectorize(math.erfc)(d / (sigma * np.sqrt(2.0)))
    w[w < 1e-4] = 0.0
    parts = np.concatenate([(1 - w[:, 0]) * (1 - w[:, 1]), w[:, 0] * (1 - w[:, 1]),
                            (1 - w[:, 0]) * w[:, 1], w[:, 0] * w[:, 1]])
    parts = parts[parts > 0] + rng.normal(0.0, model.noise_adu() / adu, np.count_nonzero(
        parts > 0))
    mc_ratio = np.count_nonzero((parts > 0.3) & (parts < 0.7)) / np.count_nonzero(
        (parts > 0.8) & (parts < 1.2))
    assert valley > 0.02 * single  # the valley is not empty
    assert valley / single == pytest.approx(mc_ratio, rel=0.2)


def test_dark_frames_carry_pedestal_noise_common_mode_and_drift(beamline):
    """Shutter closed: pedestal map + read noise (150 e- / 18 = 8.3 ADU) + one offset per
    sensor and shot: common mode (1 ADU rms) plus the slow drift at that moment."""
    rec, block = _run(beamline, 30, full_frames=True)
    assert block.data["lightStatus/xray"].tolist() == [0] * 30
    assert block.data["mpccd/photon_nPhot"].tolist() == [0.0] * 30
    frames = block.frames["mpccd"]
    model = beamline.world.detector_models[0]
    ped = model.pedestal(beamline.profile.seed, 0)
    residual = frames - ped
    offsets = residual.reshape(30, -1).mean(axis=1)
    noise = residual - offsets[:, None, None]
    assert noise.std() == pytest.approx(150.0 / 18.0, rel=0.02)
    drift = model.drift_adu(block.data["event_time"])
    assert np.std(offsets - drift) == pytest.approx(model.common_mode_adu, rel=0.35)
    assert abs(np.mean(offsets - drift)) < 0.6
    # small data: the ROI sums carry 1600 pixels x the same offset
    roi = block.data["mpccd/ROI_0_sum"]
    assert np.corrcoef(roi, offsets)[0, 1] > 0.95
    assert frames.max() < 400.0


def test_frame_roi_sums_equal_small_data(beamline):
    settle_all(beamline, xray_shutter="open", attenuator=1750)
    rec, block = _run(beamline, 4, full_frames=True)
    model = beamline.world.detector_models[0]
    ped = model.pedestal(beamline.profile.seed, 0)
    for i in range(4):
        img = block.frames["mpccd"][i] - ped
        roi0 = img[492:532, 236:276].sum()
        assert roi0 == pytest.approx(block.data["mpccd/ROI_0_sum"][i], abs=60.0)
    octal = block.frames["mpccd_octal"]
    assert octal.shape == (4, 8, 1024, 512)
    ped2 = beamline.world.detector_models[1].pedestal(beamline.profile.seed, 2)
    roi = (octal[:, 2] - ped2)[:, 280:320, 180:220].sum(axis=(1, 2))
    assert roi == pytest.approx(block.data["mpccd_octal/ROI_0_sum"], abs=60.0)
    assert block.sums["mpccd"].shape == (1024, 512)


def test_a_bright_spot_saturates_pixels_and_the_roi_sum(beamline, profile):
    """The unattenuated reflection of a perfect crystal (~1e9 photons) saturates the 16-bit
    ADC in the spot (430 photons per pixel at 10 keV): pixels clip at 65535 and the ROI sum
    falls far below photons x 152 ADU; small data and the image agree on that."""
    settle_all(beamline, xray_shutter="open", attenuator=0, theta=11.4044)
    rec, block = _run(beamline, 2, full_frames=True)
    model = beamline.world.detector_models[0]
    img = block.frames["mpccd"][0]
    assert img[492:532, 236:276].max() == 65535.0
    n = block.data["mpccd/photon_nPhot"][0]
    assert n > 1e8
    adu = model.adu_per_photon(10.0)
    roi = block.data["mpccd/ROI_0_sum"][0]
    assert roi < 1e-3 * n * adu
    assert roi == pytest.approx(model.spot(10.0).saturated_sum(n) * adu, rel=0.01)
    ped = model.pedestal(profile.seed, 0)
    assert (img - ped)[492:532, 236:276].sum() == pytest.approx(roi, rel=0.02)
    assert block.data["mpccd/ROI_0_max"][0] == pytest.approx(
        65535.0 - model.pedestal_adu, rel=0.01)


def test_archive_redraws_the_same_image(beamline, settle, tmp_path):
    settle(beamline, xray_shutter="open", attenuator=1600)
    rec, block = _run(beamline, 3, full_frames=True)
    arch = beamline.archive
    tags = arch.tags(3, rec.run)
    one = arch.frames("MPCCD-1N0-3-001-1", 3, rec.run, tags)
    two = arch.frames("MPCCD-1N0-3-001-1", 3, rec.run, tags[::-1])
    assert np.array_equal(one, block.frames["mpccd"])
    assert np.array_equal(one[::-1], two)
    octal3 = arch.frames("MPCCD-8N0-3-002-3", 3, rec.run, tags[:1])
    assert np.array_equal(octal3[0], block.frames["mpccd_octal"][0, 2])


def test_detector_info_has_both_key_spellings(beamline):
    rec, _ = _run(beamline, 1)
    info = beamline.archive.detector_info("MPCCD-8N0-3-002-3", 3, rec.run)
    assert info["xsize"] == 512 and info["ysize"] == 1024
    assert info["mp_pixelsizex"] == info["mp_pixelsize_x"] == 50.0
    # the outer corner of pixel (0, 0) of a sensor centred at (34350, -21550) um (facility
    # frame) and turned by 90 deg: columns run along +y, rows along +x (docs/geometry.md)
    assert (info["mp_posx"], info["mp_posy"]) == (8750.0, -34350.0)
    assert info["mp_posx"] == info["mp_pos_x"]
    assert info["mp_rotationangle"] == 90.0 and info["mp_absgain"] == 18.3
    with pytest.raises(KeyError, match="MPCCD-9"):
        beamline.archive.detector_info("MPCCD-9", 3, rec.run)


def test_octal_sensors_tile_a_2398_pixel_square_without_overlap(beamline):
    model = beamline.world.detector_models[1]
    boxes = []
    for s in model.sensors:
        w, h = 512 * 50.0, 1024 * 50.0  # columns along x, rows along y at rotation 0
        if round(s.rotation_deg) % 180 == 90:
            w, h = h, w
        x, y, _ = s.pos_um
        boxes.append((x - w / 2, x + w / 2, y - h / 2, y + h / 2))
    x0 = min(b[0] for b in boxes)
    x1 = max(b[1] for b in boxes)
    assert (x1 - x0) / 50.0 == 2398
    for i, a in enumerate(boxes):
        for b in boxes[i + 1:]:
            overlap_x = min(a[1], b[1]) - max(a[0], b[0])
            overlap_y = min(a[3], b[3]) - max(a[2], b[2])
            assert overlap_x <= 0 or overlap_y <= 0
