"""MPCCD images: photon gain, pedestal and noise, darks, consistency with small data."""

from __future__ import annotations

import numpy as np
import pytest

from expctl.devices import wait_all


def _run(beamline, shots, **kw):
    rec, st = beamline.daq.start_run(shots, **kw)
    wait_all([st], beamline.clock)
    block = beamline.daq.collect()
    beamline.daq.stop_run()
    return rec, block


def test_single_photon_peak_at_e_over_pair_energy_times_gain(beamline, settle):
    """Sparse diffuse photons (~1e-3 per pixel per shot), Bragg spot masked: the
    pedestal-subtracted pixel histogram peaks at 10 keV / (3.65 eV x 18) = 152.2 ADU."""
    settle(beamline, xray_shutter="open", attenuator=0, pd_gain="low")
    rec, block = _run(beamline, 20, full_frames=True)
    model = beamline.world.detectors[0].model
    ped = model.pedestal(beamline.profile.seed, 0)
    mask = np.ones((1024, 512), dtype=bool)
    mask[480:544, 224:288] = False  # the Bragg spot holds many photons per pixel
    signal = (block.frames["mpccd"] - ped)[:, mask].ravel()
    assert block.frames["mpccd"].shape == (20, 1024, 512)
    hist, edges = np.histogram(signal, bins=np.arange(60.5, 300.5, 1.0))
    centres = 0.5 * (edges[1:] + edges[:-1])
    top = int(np.argmax(hist))
    win = slice(max(top - 12, 0), top + 13)
    peak = np.sum(centres[win] * hist[win]) / np.sum(hist[win])
    expected = 10_000.0 / (3.65 * 18.0)
    assert expected == pytest.approx(152.2, abs=0.1)
    assert peak == pytest.approx(expected, rel=0.03)


def test_dark_frames_when_shutter_closed(beamline):
    rec, block = _run(beamline, 5, full_frames=True)
    assert block.data["lightStatus/xray"].tolist() == [0] * 5
    assert block.data["mpccd/photon_nPhot"].tolist() == [0.0] * 5
    frames = block.frames["mpccd"]
    ped = beamline.world.detectors[0].model.pedestal(beamline.profile.seed, 0)
    residual = frames - ped
    assert abs(residual.mean()) < 0.05
    assert residual.std() == pytest.approx(150.0 / 18.0, rel=0.02)  # read noise in ADU
    assert frames.max() < 400.0


def test_frame_roi_sums_equal_small_data(beamline, settle):
    settle(beamline, xray_shutter="open", attenuator=200)
    rec, block = _run(beamline, 4, full_frames=True)
    model = beamline.world.detectors[0].model
    ped = model.pedestal(beamline.profile.seed, 0)
    for i in range(4):
        img = block.frames["mpccd"][i] - ped
        roi0 = img[492:532, 236:276].sum()
        assert roi0 == pytest.approx(block.data["mpccd/ROI_0_sum"][i], abs=60.0)
    octal = block.frames["mpccd_octal"]
    assert octal.shape == (4, 8, 1024, 512)
    ped2 = beamline.world.detectors[1].model.pedestal(beamline.profile.seed, 2)
    roi = (octal[:, 2] - ped2)[:, 280:320, 180:220].sum(axis=(1, 2))
    assert roi == pytest.approx(block.data["mpccd_octal/ROI_0_sum"], abs=60.0)
    assert block.sums["mpccd"].shape == (1024, 512)


def test_archive_redraws_the_same_image(beamline, settle, tmp_path):
    settle(beamline, xray_shutter="open", attenuator=400)
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
    model = beamline.world.detectors[1].model
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
