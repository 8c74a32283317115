"""det_info -> CrystFEL panels: the public SACLA convention, both key spellings, the .geom text."""

from __future__ import annotations

from io import StringIO

import pytest
from cfel_fmt.geometry import load_crystfel_geometry

from expctl.compat import APIError
from expctl.compat.geometry import SensorInfo, crystfel_geom, detector_groups, read_detector


def _info(posx=1000.0, posy=-2000.0, angle=0.0, *, short=True, **over):
    """A det_info dict in one of the two spellings scripts see."""
    keys = ({"mp_pixelsizex": 50.0, "mp_pixelsizey": 50.0, "mp_posx": posx, "mp_posy": posy,
             "mp_posz": 60000.0, "mp_rotationangle": angle} if short else
            {"mp_pixelsize_x": 50.0, "mp_pixelsize_y": 50.0, "mp_pos_x": posx,
             "mp_pos_y": posy, "mp_pos_z": 60000.0, "mp_rotation_angle": angle})
    return {"xsize": 512, "ysize": 1024, "mp_absgain": 18.0, **keys, **over}


def test_both_key_spellings_give_the_same_sensor():
    assert SensorInfo.from_det_info("S-1", _info()) == SensorInfo.from_det_info(
        "S-1", _info(short=False))


def test_a_missing_key_names_both_spellings():
    info = _info()
    del info["mp_posy"]
    with pytest.raises(APIError) as err:
        SensorInfo.from_det_info("S-1", info)
    assert err.value.paragraph() == "detector S-1: det_info lacks mp_posy (or mp_pos_y)"


@pytest.mark.parametrize(("angle", "fs", "ss"), [
    (0.0, (1.0, 0.0), (0.0, 1.0)),
    (90.0, (0.0, 1.0), (-1.0, 0.0)),
    (180.0, (-1.0, 0.0), (0.0, -1.0)),
    (270.0, (0.0, -1.0), (1.0, 0.0)),
])
def test_crystfel_panel_follows_the_facility_convention(angle, fs, ss):
    """corner = (−posx, posy)/p, fs = (cos θ, sin θ), ss = (−sin θ, cos θ) — Cheetah's reading."""
    p = SensorInfo.from_det_info("S-1", _info(1000.0, -2000.0, angle)).crystfel_panel()
    assert (p["corner_x"], p["corner_y"]) == (-20.0, -40.0)
    assert (p["fs_x"], p["fs_y"]) == fs and (p["ss_x"], p["ss_y"]) == ss
    assert all(str(v) != "-0.0" for v in p.values())  # no negative zeros in the file


def test_sensor_ids_group_by_detector_in_sensor_order():
    ids = ["MPCCD-8N0-3-002-10", "MPCCD-1N0-3-001-1", *(f"MPCCD-8N0-3-002-{k}"
                                                        for k in range(9, 0, -1))]
    groups = detector_groups(ids)
    assert groups["MPCCD-1N0-3-001"] == ["MPCCD-1N0-3-001-1"]
    assert groups["MPCCD-8N0-3-002"] == [f"MPCCD-8N0-3-002-{k}" for k in range(1, 11)]


def test_the_geom_text_reads_back_with_cfel_fmt():
    sensors = [SensorInfo.from_det_info(f"D-{k + 1}", _info(100.0 * k, 50.0 * k, 90.0 * k,
                                                            mp_absgain=18.0 + k))
               for k in range(4)]
    text = crystfel_geom(sensors, photon_energy_ev=10000.0, detector="D", run=12)
    geom = load_crystfel_geometry(StringIO(text))
    panels = geom.detector["panels"]
    assert list(panels) == ["q1", "q2", "q3", "q4"]
    assert geom.beam["photon_energy"] == pytest.approx(10000.0)
    for k, (name, panel) in enumerate(panels.items()):
        want = sensors[k].crystfel_panel()
        assert (panel["cnx"], panel["cny"]) == pytest.approx((want["corner_x"],
                                                              want["corner_y"]))
        assert (panel["fsx"], panel["fsy"], panel["ssx"], panel["ssy"]) == pytest.approx(
            (want["fs_x"], want["fs_y"], want["ss_x"], want["ss_y"]))
        assert (panel["orig_min_ss"], panel["orig_max_ss"]) == (1024 * k, 1024 * k + 1023)
        assert panel["clen"] == pytest.approx(0.06) and panel["res"] == pytest.approx(20000.0)
        assert panel["adu_per_eV"] == pytest.approx(1.0 / (3.65 * (18.0 + k)), rel=1e-7), name


def test_crystfel_needs_one_square_pixel():
    rect = SensorInfo.from_det_info("S-1", _info(mp_pixelsizey=100.0))
    with pytest.raises(APIError, match="one square pixel size for all panels"):
        crystfel_geom([rect], photon_energy_ev=10000.0)
    with pytest.raises(APIError, match="at least one sensor"):
        crystfel_geom([], photon_energy_ev=10000.0)


class _Archive:
    """Just the two lookups read_detector makes."""

    def __init__(self, ids):
        self.ids = ids

    def detector_ids(self, beamline, run):
        if run != 5:
            raise KeyError(f"no run {run}")
        return self.ids

    def detector_info(self, detector, beamline, run):
        return _info(1000.0 * int(detector.rsplit("-", 1)[1]))


def test_read_detector_picks_the_multi_sensor_detector_or_asks():
    archive = _Archive(("SINGLE-1", "OCT-2", "OCT-1"))
    stem, sensors = read_detector(archive, 3, 5)
    assert stem == "OCT" and [s.sensor_id for s in sensors] == ["OCT-1", "OCT-2"]
    assert sensors[1].corner_um == (2000.0, -2000.0, 60000.0)
    assert read_detector(archive, 3, 5, "SINGLE")[0] == "SINGLE"
    with pytest.raises(APIError) as err:
        read_detector(archive, 3, 5, "NOPE")
    assert err.value.paragraph() == ("detector NOPE was not recorded in run 5 on BL3 "
                                     "(allowed: SINGLE, OCT)")
    with pytest.raises(APIError, match="several detectors; say which .allowed: A, B"):
        read_detector(_Archive(("A-1", "A-2", "B-1", "B-2")), 3, 5)
    with pytest.raises(APIError, match="no run 6 on BL3 in the facility archive"):
        read_detector(archive, 3, 6)
