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


def test_octal_assembly_from_per_sensor_reads(api):
    from expctl.analysis.assembly import AssemblyPlan, SensorGeometry

    bl, run = 3, api.runs["beam"]
    ids = [d for d in dbpy.read_detidlist(bl, run) if d.startswith("MPCCD-8")]
    assert len(ids) == 8
    tag = dbpy.read_taglist_byrun(bl, run)[3]
    sensors = []
    for det_id in ids:  # the way facility scripts build ippy's sensor dicts
        reader = stpy.StorageReader(det_id, bl, (run,))
        buf = stpy.StorageBuffer(reader)
        reader.collect(buf, tag)
        info = buf.read_det_info(0)
        sensors.append({
            "img": buf.read_det_data(0), "xPosPixel": info["mp_posx"] / info["mp_pixelsizex"],
            "yPosPixel": info["mp_posy"] / info["mp_pixelsizey"],
            "pixelSize": info["mp_pixelsizex"], "dScale": 1.0,
            "rotAngle": info["mp_rotationangle"], "mask": None, "succeeded": True,
            "iScale": info["mp_absgain"]})
    image = ippy.reconstruction(sensors, 2399, 2399, 50.0, 0)
    assert image.shape == (2399, 2399) and image.dtype == np.float32
    geometry = [SensorGeometry((s["xPosPixel"] * 50.0, s["yPosPixel"] * 50.0),
                               s["rotAngle"], s["iScale"]) for s in sensors]
    plan = AssemblyPlan.from_sensors(geometry, pixel_um=50.0, shape=(2399, 2399))
    np.testing.assert_array_equal(image, plan.assemble(np.stack([s["img"] for s in sensors])))
    # the octal's Bragg spot (profile: sensor 3, row 300, col 200) is the brightest
    # canvas pixel, where the geometry puts it: X = x0 + c cos t - r sin t,
    # Y = y0 + c sin t + r cos t (canvas pixels, lab origin at the canvas centre)
    s3 = sensors[2]
    t = np.radians(s3["rotAngle"])
    x = s3["xPosPixel"] + 200 * np.cos(t) - 300 * np.sin(t) + 1199
    y = s3["yPosPixel"] + 200 * np.sin(t) + 300 * np.cos(t) + 1199
    peak = np.unravel_index(np.argmax(image), image.shape)
    assert abs(peak[0] - y) <= 6 and abs(peak[1] - x) <= 6
    assert np.all(image[~plan.covered()] == 0)
    # a sensor whose read failed is left out
    sensors[0]["succeeded"] = False
    partial = ippy.reconstruction(sensors, 2399, 2399, 50.0, 0)
    assert np.count_nonzero(partial) < np.count_nonzero(image)


def test_octal_tiles_the_2399_canvas_without_overlap(api):
    """det_info positions (pixel (0, 0), as at the facility) tile 2399 x 2399 exactly."""
    from expctl.analysis.assembly import AssemblyPlan, SensorGeometry

    run = api.runs["beam"]
    geometry = []
    for det_id in dbpy.read_detidlist(3, run)[1:]:
        reader = stpy.StorageReader(det_id, 3, (run,))
        info = reader.det_info(run)
        geometry.append(SensorGeometry((info["mp_posx"], info["mp_posy"]),
                                       info["mp_rotationangle"]))
    plan = AssemblyPlan.from_sensors(geometry, pixel_um=50.0, shape=(2399, 2399))
    assert plan.covered().sum() == 8 * 1024 * 512
    assert AssemblyPlan.from_sensors(geometry, pixel_um=50.0).shape == (2399, 2399)
