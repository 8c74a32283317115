"""The facility API over real simulator runs: typical SACLA user scripts, run unchanged.

One simulated BL3 (virtual clock, data directory under tmp) takes a dark run, a
second dark run, a beam run and a weak-beam run; user scripts written exactly as
at the facility (``import dbpy, stpy``) read them in this process through
``python -m expctl.compat``'s entry point and in a separate process.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

from expctl.clock import VirtualClock
from expctl.compat import __main__ as compat_main
from expctl.compat import bind, configure, dbpy, ippy, stpy
from expctl.devices.protocols import Beamline, ShotBlock
from expctl.devices.registry import BackendRegistry
from expctl.devices.status import wait_all

PD = "xfel_bl_3_tc_bm_2_pd/charge"
SEED = 11
SHOTS = 40


@dataclass
class Facility:
    data_dir: Path
    runs: dict[str, int] = field(default_factory=dict)
    data: dict[int, dict[str, np.ndarray]] = field(default_factory=dict)


def _set(bl: Beamline, name: str, value: object) -> None:
    wait_all([bl.devices[name].set(value)], bl.clock)  # type: ignore[attr-defined]


def _take(bl: Beamline, facility: Facility, name: str, shots: int, comment: str) -> None:
    record, status = bl.daq.start_run(shots, comment=comment)
    wait_all([status], bl.clock)
    blocks: list[ShotBlock] = []
    while (block := bl.daq.collect()) is not None and len(block):
        blocks.append(block)
    bl.daq.stop_run()
    facility.runs[name] = record.run
    facility.data[record.run] = {k: np.concatenate([b.data[k] for b in blocks])
                                 for k in blocks[0].data}


@pytest.fixture(scope="module")
def facility(tmp_path_factory) -> Facility:
    data_dir = tmp_path_factory.mktemp("compat") / "expctl-data"
    registry = BackendRegistry()
    bl = registry.connect(registry.find_profile("bl3"), VirtualClock(), data_dir=data_dir,
                          seed=SEED)
    fac = Facility(data_dir)
    try:
        _set(bl, "xray_shutter", "closed")
        _take(bl, fac, "dark", SHOTS, "dark")
        _take(bl, fac, "dark2", SHOTS, "second dark")
        _set(bl, "xray_shutter", "open")
        _set(bl, "pd_gain", "mid")
        _set(bl, "attenuator", 1600)  # the Bragg spot well below saturation
        _set(bl, "theta", 11.4044)  # on the reflection: both detectors see their spots
        _take(bl, fac, "beam", SHOTS, "beam")
        # 400 um: a sparse diffuse background for the single-photon histogram (the perfect
        # crystal's spot saturates here, outside the histogram's range)
        _set(bl, "attenuator", 400)
        _take(bl, fac, "weak", 2 * SHOTS, "weak beam")
    finally:
        bl.close()
    return fac


@pytest.fixture
def api(facility):
    """dbpy/stpy bound to the module's facility; unbound afterwards."""
    configure(facility.data_dir)
    yield facility
    configure()
    bind(None)


def _run_script(source: str, tmp_path: Path, facility: Facility, *args: object) -> int:
    script = tmp_path / "user_script.py"
    script.write_text(textwrap.dedent(source))
    return compat_main.main(["--data-dir", str(facility.data_dir), str(script),
                             *map(str, args)])


DARK_SUBTRACTION = """
    # Average a dark run, subtract it from every frame of a run, average the result.
    import sys
    import numpy as np
    import dbpy, stpy

    bl = 3
    dark_run, dark2_run, run = (int(a) for a in sys.argv[1:4])
    out = sys.argv[4]
    det_id = dbpy.read_detidlist(bl, run)[0]

    def average(run_number, dark=None):
        tags = dbpy.read_taglist_byrun(bl, run_number)
        reader = stpy.StorageReader(det_id, bl, (run_number,))
        buf = stpy.StorageBuffer(reader)
        total, rois = None, []
        for tag in tags:
            reader.collect(buf, tag)
            img = buf.read_det_data(0)
            if dark is not None:
                img -= dark
            rois.append(img[492:532, 236:276].sum())
            total = img.astype(np.float64) if total is None else total + img
        return total / len(tags), np.array(rois)

    dark, _ = average(dark_run)
    dark2, _ = average(dark2_run, dark)
    signal, rois = average(run, dark)
    np.savez(out, dark=dark, dark2=dark2, signal=signal, rois=rois)
"""


def test_dark_average_and_subtraction(api, tmp_path):
    runs = api.runs
    out = tmp_path / "dark.npz"
    assert _run_script(DARK_SUBTRACTION, tmp_path, api, runs["dark"], runs["dark2"],
                       runs["beam"], out) == 0
    got = np.load(out)
    dark, dark2, signal = got["dark"], got["dark2"], got["signal"]
    assert dark.shape == (1024, 512)
    # the dark average is the pedestal map: 300 ADU, 15 ADU fixed-pattern spread
    assert dark.mean() == pytest.approx(300.0, abs=0.5)
    assert dark.std() == pytest.approx(15.0, rel=0.05)
    # a second dark minus the first: read noise 150 e- / 18 e-/ADU per frame averaged over
    # 40 frames, twice (both averages): sigma = 8.33 * sqrt(2/40); on average the change of
    # the sensor's offset (common mode and pedestal drift), which the DAQ's ROI sums (taken
    # with the fixed pedestal map) carry 1600 times
    offset = {k: float(np.mean(api.data[runs[k]]["mpccd/ROI_0_sum"])) / 1600
              for k in ("dark", "dark2")}
    # (each ROI-sum mean also carries its read noise: 333 ADU / 1600 / sqrt(40) = 0.03)
    assert dark2.mean() == pytest.approx(offset["dark2"] - offset["dark"], abs=0.15)
    assert dark2.std() == pytest.approx(150 / 18 * np.sqrt(2 / SHOTS), rel=0.05)
    # the beam run's Bragg spot: ROI sums per shot agree with the DAQ's ROI_0_sum less the
    # dark's offset, up to the dark estimate's noise over 1600 pixels (~1.3 ADU each)
    daq = api.data[runs["beam"]]["mpccd/ROI_0_sum"]
    np.testing.assert_allclose(got["rois"], daq - 1600 * offset["dark"], atol=6 * 1.32 * 40)
    peak = np.unravel_index(np.argmax(signal), signal.shape)
    assert abs(peak[0] - 512) <= 3 and abs(peak[1] - 256) <= 3


HISTOGRAM = """
    # ADU histogram of a weak-beam run (dark subtracted) and its single-photon peak.
    import sys
    import numpy as np
    import dbpy, stpy

    bl, dark_run, run, out = 3, int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
    det_id = dbpy.read_detidlist(bl, run)[0]
    energy_ev = dbpy.read_config_photonenergy(bl, run) * 1000.0

    def frames(run_number):
        reader = stpy.StorageReader(det_id, bl, (run_number,))
        buf = stpy.StorageBuffer(reader)
        for tag in dbpy.read_taglist_byrun(bl, run_number):
            reader.collect(buf, tag)
            yield buf.read_det_data(0), buf.read_det_info(0)

    dark = np.mean([img for img, _ in frames(dark_run)], axis=0)
    edges = np.arange(-100.0, 500.0, 2.0)
    hist = np.zeros(len(edges) - 1)
    for img, info in frames(run):
        hist += np.histogram(img - dark, bins=edges)[0]
    centres = (edges[:-1] + edges[1:]) / 2
    expected = energy_ev / (3.65 * info["mp_absgain"])
    window = (centres > 0.5 * expected) & (centres < 1.5 * expected)
    i = np.argmax(np.where(window, hist, 0))
    near = slice(i - 8, i + 9)
    peak = float(np.sum(centres[near] * hist[near]) / np.sum(hist[near]))
    with open(out, "w") as f:
        f.write(repr((peak, expected, float(hist[i]))))
"""


def test_adu_histogram_single_photon_peak(api, tmp_path):
    out = tmp_path / "peak.txt"
    assert _run_script(HISTOGRAM, tmp_path, api, api.runs["dark"], api.runs["weak"], out) == 0
    peak, expected, height = eval(out.read_text())  # noqa: S307 - our own repr of floats
    assert expected == pytest.approx(10_000 / (3.65 * 18.0))
    assert peak == pytest.approx(expected, rel=0.03)
    assert height > 100  # a real peak, not noise


PD_CHARGE = """
    # The I0 PD charge for every tag of a run, as floats and as the facility's strings.
    import json, sys
    import dbpy

    bl, run = 3, int(sys.argv[1])
    hightag = dbpy.read_hightagnumber(bl, run)
    tags = dbpy.read_taglist_byrun(bl, run)
    charge = dbpy.read_syncdatalist_float("xfel_bl_3_tc_bm_2_pd/charge", hightag, tags)
    text = dbpy.read_syncdatalist("xfel_bl_3_tc_bm_2_pd/charge", hightag, tags)
    print(json.dumps({"tags": list(tags), "charge": list(charge), "text": list(text),
                      "info": dbpy.read_runinfo(bl, run)}))
"""


def test_pd_charge_for_every_tag_in_another_process(api, tmp_path):
    script = tmp_path / "pd.py"
    script.write_text(textwrap.dedent(PD_CHARGE))
    run = api.runs["beam"]
    proc = subprocess.run([sys.executable, "-m", "expctl.compat", "--data-dir",
                           str(api.data_dir), str(script), str(run)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    got = json.loads(proc.stdout)
    daq = api.data[run]
    assert got["tags"] == daq["tag"].tolist()
    assert got["charge"] == daq["pd_i0"].tolist()  # exactly the values the DAQ recorded
    assert all(s.endswith("pC") for s in got["text"])
    assert [float(s.removesuffix("pC")) for s in got["text"]] == got["charge"]
    info = got["info"]
    assert info["runstatus"] == 0 and info["total_tagnumber"] == SHOTS
    assert info["comment"] == "beam" and info["stationnumber"] == 2
    assert info["end_tagnumber"] - info["start_tagnumber"] == 2 * (SHOTS - 1)


def test_equipment_covers_every_0d_signal_of_the_profile(api):
    equipment = set(dbpy.read_equiplist())
    profile = BackendRegistry().find_profile("bl3")
    declared = {spec.equipment for spec in profile.devices.values() if spec.equipment}
    assert declared <= equipment
    for name in ("sample_x", "sample_y", "theta", "xray_shutter", "attenuator", "pd_gain",
                 "pd_i0", "beam", "pump", "pump_delay", "sd_t1", "sd_t2"):
        assert profile.device(name).equipment in equipment, name


def test_shutter_status_follows_the_shutter(api):
    shutter = "xfel_bl_3_shutter_1_open_valid/status"
    for name, expected in (("dark", "0"), ("beam", "1")):
        run = api.runs[name]
        tags = dbpy.read_taglist_byrun(3, run)
        assert set(dbpy.read_syncdatalist(shutter, dbpy.read_hightagnumber(3, run), tags)) == {
            expected}, name


def test_unknown_run_tag_and_detector_against_the_simulator(api):
    newest = dbpy.read_runnumber_newest(3)
    assert newest == api.runs["weak"]
    assert dbpy.read_runstatus(3, newest + 1) == -1
    with pytest.raises(dbpy.APIError, match=f"no run {newest + 1} on BL3"):
        dbpy.read_runinfo(3, newest + 1)
    hightag = dbpy.read_hightagnumber(3, newest)
    with pytest.raises(dbpy.APIError, match="never recorded"):
        dbpy.read_syncdatalist_float(PD, hightag, (1,))
    with pytest.raises(stpy.APIError, match="detector MPCCD-XXX was not recorded in run"):
        stpy.StorageReader("MPCCD-XXX", 3, (newest,))


CANVAS = 2398  # 2 × (175 + 1024) pixels: the octal's extent with the beam at the centre


def _octal_sensors(api, *, short_keys: bool) -> list[dict]:
    """ippy sensor dicts filled from read_det_info exactly as facility scripts do."""
    bl, run = 3, api.runs["beam"]
    ids = [d for d in dbpy.read_detidlist(bl, run) if d.startswith("MPCCD-8")]
    assert len(ids) == 8
    tag = dbpy.read_taglist_byrun(bl, run)[3]
    sensors = []
    for det_id in ids:
        reader = stpy.StorageReader(det_id, bl, (run,))
        buf = stpy.StorageBuffer(reader)
        reader.collect(buf, tag)
        info = buf.read_det_info(0)
        px, py, posx, posy = ((info["mp_pixelsizex"], info["mp_pixelsizey"], info["mp_posx"],
                               info["mp_posy"]) if short_keys else
                              (info["mp_pixelsize_x"], info["mp_pixelsize_y"], info["mp_pos_x"],
                               info["mp_pos_y"]))
        sensors.append({
            "img": buf.read_det_data(0), "xPosPixel": posx / px,
            "yPosPixel": -posy / py,  # "the sign of this variable must be -1 x pos_y"
            "pixelSize": px, "dScale": 1.0, "rotAngle": info["mp_rotationangle"],
            "mask": None, "succeeded": True, "iScale": info["mp_absgain"]})
    return sensors


def _users_canvas_index(sensor: dict) -> tuple[np.ndarray, np.ndarray]:
    """Canvas (row, col) of every sensor pixel by the users' formula, written out by hand:
    pixel (r, c) centred at X = x0 − (c+½)cosθ + (r+½)sinθ, Y = y0 − (c+½)sinθ − (r+½)cosθ."""
    rows, cols = np.indices(sensor["img"].shape)
    t = np.radians(sensor["rotAngle"])
    x = sensor["xPosPixel"] - (cols + 0.5) * np.cos(t) + (rows + 0.5) * np.sin(t)
    y = sensor["yPosPixel"] - (cols + 0.5) * np.sin(t) - (rows + 0.5) * np.cos(t)
    return (np.floor(y + CANVAS / 2).astype(int).ravel(),
            np.floor(x + CANVAS / 2).astype(int).ravel())


@pytest.mark.slow
def test_octal_by_the_users_formula_tiles_without_overlap_and_equals_ippy(api):
    sensors = _octal_sensors(api, short_keys=True)
    assert _octal_sensors(api, short_keys=False)[5]["yPosPixel"] == sensors[5]["yPosPixel"]
    flat = np.concatenate([np.ravel_multi_index(_users_canvas_index(s), (CANVAS, CANVAS))
                           for s in sensors])
    assert flat.size == np.unique(flat).size == 8 * 1024 * 512  # every pixel once, none off
    users = np.zeros(CANVAS * CANVAS, np.float32)
    users[flat] = np.concatenate([s["img"].ravel() * np.float32(s["iScale"]) for s in sensors])
    image = ippy.reconstruction(sensors, CANVAS, CANVAS, 50.0, 0)
    assert image.shape == (CANVAS, CANVAS) and image.dtype == np.float32
    np.testing.assert_array_equal(image, users.reshape(CANVAS, CANVAS))
    # the octal's Bragg spot (profile: sensor 3, row 300, col 200) is the brightest pixel
    # and sits where the formula puts that sensor pixel
    spot = np.ravel_multi_index(_users_canvas_index(sensors[2]), (CANVAS, CANVAS))[
        300 * 512 + 200]
    assert abs(int(np.argmax(image)) // CANVAS - spot // CANVAS) <= 6
    assert abs(int(np.argmax(image)) % CANVAS - spot % CANVAS) <= 6
    # the sign matters: +mp_posy (the mistake the facility example warns of) overlaps
    wrong = [{**s, "yPosPixel": -s["yPosPixel"]} for s in sensors]
    wrong_flat = np.concatenate([np.ravel_multi_index(_users_canvas_index(s), (CANVAS, CANVAS),
                                                      mode="clip") for s in wrong])
    assert np.unique(wrong_flat).size < 8 * 1024 * 512
    # a sensor whose read failed is left out
    sensors[0]["succeeded"] = False
    partial = ippy.reconstruction(sensors, CANVAS, CANVAS, 50.0, 0)
    assert np.count_nonzero(partial) == np.count_nonzero(image) - 1024 * 512


def test_crystfel_export_round_trips_through_extra_geom(api, tmp_path, capsys):
    """`expctl geometry export` read by extra-geom (cfel_fmt) assembles ippy's image."""
    from extra_geom.base import DetectorGeometryBase

    from expctl.cli import main

    class OctalMPCCD(DetectorGeometryBase):
        detector_type_name = "MPCCD octal"
        pixel_size = 50e-6
        frag_ss_pixels, frag_fs_pixels = 1024, 512
        n_modules, n_tiles_per_module = 8, 1
        expected_data_shape = (8, 1024, 512)

        @staticmethod
        def split_tiles(module_data):
            return [module_data]

        @classmethod
        def _tile_slice(cls, tileno):
            return slice(0, 1024), slice(0, 512)

    geom_file = tmp_path / "octal.geom"
    run = api.runs["beam"]
    assert main(["geometry", "export", str(run), "-o", str(geom_file),
                 "--data-dir", str(api.data_dir)]) == 0
    assert capsys.readouterr().out == (f"{geom_file}: 8 panels of MPCCD-8N0-3-002, run {run} "
                                       f"(BL3, 10 keV)\n")
    geom = OctalMPCCD.from_crystfel_geom(str(geom_file))
    sensors = _octal_sensors(api, short_keys=True)
    frames = np.stack([s["img"] * np.float32(s["iScale"]) for s in sensors])
    assembled, centre = geom.position_modules(frames)
    assert assembled.shape == (CANVAS, CANVAS) and centre.tolist() == [CANVAS / 2] * 2
    assert np.isfinite(assembled).sum() == 8 * 1024 * 512  # no panel overlaps another
    # extra-geom draws CrystFEL's lab frame (x to the left seen from the sample, y up) with
    # rows along +y; ippy draws the view from the sample with rows running down
    ippy_image = ippy.reconstruction(sensors, CANVAS, CANVAS, 50.0, 0)
    np.testing.assert_array_equal(np.flip(np.nan_to_num(assembled), (0, 1)), ippy_image)
    # the panels' exact pixel centres agree with the facility convention (metres, no snapping)
    positions = geom.get_pixel_positions()  # (module, ss, fs, xyz)
    t = np.radians(sensors[4]["rotAngle"])
    x0, y0 = -sensors[4]["xPosPixel"], -sensors[4]["yPosPixel"]  # CrystFEL corner, pixels
    np.testing.assert_allclose(positions[4, 10, 20, :2] / 50e-6,
                               [x0 + 20.5 * np.cos(t) - 10.5 * np.sin(t),
                                y0 + 20.5 * np.sin(t) + 10.5 * np.cos(t)], atol=1e-9)

