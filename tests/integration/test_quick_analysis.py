"""Dark-subtracted sums of simulator runs: physics truth, the DAQ, stpy, and a sequence.

A simulated BL3 (virtual clock, data directory under tmp) takes a dark run and a
beam run at the Bragg peak.  The adapter's per-shot ROI sums must equal the
DAQ's (the simulator draws both from the same photons and read noise, so they
differ only by ADU rounding and the pedestal estimated from the dark), its
photon count the simulator's truth exactly, its pedestal the simulator's map;
a user script reading the same runs through stpy must get the same numbers.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from expctl.analysis import DetectorLayout, dark_subtracted_sum, run_sums
from expctl.cli import main
from expctl.clock import VirtualClock
from expctl.compat import bind, configure, dbpy, stpy
from expctl.devices.protocols import Beamline, RunRecord, ShotBlock
from expctl.devices.registry import BackendRegistry
from expctl.devices.status import wait_all
from expctl.session import Session

detector = pytest.importorskip("sim.physics.detector")

SEED = 13
SEQUENCE = Path(__file__).resolve().parents[2] / "sequences" / "dark_subtracted.yaml"
NOISE_ADU = 150.0 / 18.0          # bl3 mpccd read noise (150 e-) at 18 e-/ADU
ROI_PIXELS = 40 * 40
ROUNDING = math.sqrt(ROI_PIXELS / 12.0)   # images are whole ADU


@dataclass
class Taken:
    data_dir: Path
    dark: RunRecord
    run: RunRecord
    small: dict[str, np.ndarray]
    config: dict
    result: object
    sums: object
    dark_small: dict[str, np.ndarray]


def _set(bl: Beamline, name: str, value: object) -> None:
    wait_all([bl.devices[name].set(value)], bl.clock)  # type: ignore[attr-defined]


def _take(bl: Beamline, shots: int) -> tuple[RunRecord, dict[str, np.ndarray]]:
    _, status = bl.daq.start_run(shots)
    wait_all([status], bl.clock)
    blocks: list[ShotBlock] = []
    while (block := bl.daq.collect()) is not None and len(block):
        blocks.append(block)
    record = bl.daq.stop_run()
    return record, {k: np.concatenate([b.data[k] for b in blocks]) for k in blocks[0].data}


@pytest.fixture(scope="module")
def taken(tmp_path_factory) -> Taken:
    data_dir = tmp_path_factory.mktemp("quick") / "expctl-data"
    registry = BackendRegistry()
    bl = registry.connect(registry.find_profile("bl3"), VirtualClock(), data_dir=data_dir,
                          seed=SEED)
    try:
        _set(bl, "xray_shutter", "closed")
        dark, dark_small = _take(bl, 24)
        _set(bl, "xray_shutter", "open")
        _set(bl, "attenuator", 1800)
        spot = bl.spot_grids["sample"]
        x, y = spot.position(0)
        wait_all([bl.devices["sample_x"].set(x), bl.devices["sample_y"].set(y)], bl.clock)
        _set(bl, "theta", 11.4044)
        run, small = _take(bl, 16)
        config = bl.daq.config()
        layout = DetectorLayout.from_config(config, "mpccd")
        sums = run_sums(bl.archive, layout, 3, run.run, dark.run)
        result = dark_subtracted_sum(bl.archive, run, dark, "mpccd", daq_config=config)
    finally:
        bl.close()
    return Taken(data_dir, dark, run, small, config, result, sums, dark_small)


def test_photons_equal_the_simulators_truth_and_roi_sums_the_daqs(taken):
    truth = taken.small["mpccd/photon_nPhot"]
    assert truth.mean() > 20  # the beam really is on the Bragg spot
    # counting at half a photon miscounts photons whose charge the sensor shares between
    # pixels (a 4 um charge cloud): ~1 %, either way
    assert np.all(np.abs(taken.sums.photons - truth) <= 0.03 * truth + 2)
    res = taken.result
    assert res.ok and res.shots == 16 and res.dark_shots == 24
    assert res.photons_mean == pytest.approx(float(truth.mean()), rel=0.03)
    # The DAQ's ROI sum is photons x ADU/photon + the read-noise sum, drawn from the same
    # variates as the images: per shot the two differ by ADU rounding (11.5 ADU rms) and by
    # the error of the 24-frame dark mean, which is common to all shots (333/sqrt(24) ADU).
    # The DAQ subtracts its fixed pedestal map, the dark-subtracted sums the dark's mean
    # frame, which also holds that dark's mean offset (common mode and pedestal drift).
    pedestal_err = math.sqrt(ROI_PIXELS) * NOISE_ADU / math.sqrt(taken.dark.shots)
    for k in range(2):
        diff = taken.sums.roi_sums[:, k] - taken.small[f"mpccd/ROI_{k}_sum"]
        dark_offset = float(np.mean(taken.dark_small[f"mpccd/ROI_{k}_sum"]))
        assert abs(diff.mean() + dark_offset) < 5 * pedestal_err
        assert diff.std() < 5 * ROUNDING, diff
    # ROI 0 in photons against the photon truth: read noise is 333 ADU = 2.2 photons per shot
    app = 10.0 * 1000 / (3.65 * 18.0)
    assert res.adu_per_photon == pytest.approx(app)
    dark_offset = float(np.mean(taken.dark_small["mpccd/ROI_0_sum"]))
    signal = (taken.small["mpccd/ROI_0_sum"].mean() - dark_offset) / app
    assert res.roi0_photons == pytest.approx(signal, abs=5 * pedestal_err / app)
    assert res.roi0_std == pytest.approx(float(np.std(taken.sums.roi_sums[:, 0], ddof=1)))


def test_the_dark_mean_is_the_simulators_pedestal(taken):
    model = detector.DetectorModel.from_options("mpccd", _options())
    truth = model.pedestal(SEED, 0)
    dark = taken.sums.dark[0]
    # 24 frames: the mean is off by read noise / sqrt(24) (1.7 ADU) plus rounding, and by the
    # frames' mean offset (common mode + pedestal drift), which their ROI sums carry x 1600
    err = dark.mean - truth
    offset = float(np.mean(taken.dark_small["mpccd/ROI_0_sum"])) / ROI_PIXELS
    assert abs(float(err.mean()) - offset) < 0.1
    assert float(err.std()) == pytest.approx(math.hypot(NOISE_ADU, 0.29) / math.sqrt(24),
                                             rel=0.05)
    assert taken.result.dark_noise_adu == pytest.approx(math.hypot(NOISE_ADU, 0.29), rel=0.05)
    assert taken.result.pedestal_adu == pytest.approx(300.0, abs=0.5)


def _options() -> dict:
    from expctl.devices import load_profile
    from sim.backend import PROFILE_DIR

    return dict(load_profile(PROFILE_DIR / "bl3.yaml").devices["mpccd"].options)


def test_an_stpy_script_gets_the_same_sums(taken):
    configure(taken.data_dir)
    try:
        bl = 3
        sensor = taken.config["detectors"]["mpccd"]["sensor_ids"][0]
        _, r0, r1, c0, c1 = taken.config["detectors"]["mpccd"]["rois"]["roi0"]
        reader = stpy.StorageReader(sensor, bl, (taken.dark.run,))
        buf = stpy.StorageBuffer(reader)
        frames = []
        for tag in dbpy.read_taglist_byrun(bl, taken.dark.run):
            reader.collect(buf, tag)
            frames.append(buf.read_det_data(0).astype(np.float64))
        dark = np.mean(frames, axis=0)
        reader = stpy.StorageReader(sensor, bl, (taken.run.run,))
        buf = stpy.StorageBuffer(reader)
        sums = []
        for tag in dbpy.read_taglist_byrun(bl, taken.run.run):
            reader.collect(buf, tag)
            sums.append(float((buf.read_det_data(0) - dark)[r0:r1, c0:c1].sum()))
    finally:
        configure()
        bind(None)
    np.testing.assert_allclose(taken.sums.roi_sums[:, 0], sums, atol=0.05)


def test_dry_run_feeds_the_reference_sum_forward(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("EXPCTL_DATA_DIR", str(tmp_path / "data"))
    assert main(["run", str(SEQUENCE), "--dry-run", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["ok"] is True and (out["runs"], out["shots"]) == (3, 430)
    ref = out["results"]["ref_sum"]
    assert (ref["shots"], ref["dark_shots"], ref["flags"]) == (8, 8, [])
    # 1900 um of Si passes 3e-7 of a perfect crystal's ~1e9 photons: a few hundred
    assert 20 < ref["roi0_photons"] < 2000


@pytest.mark.slow
def test_the_sequence_lowers_the_attenuation_when_the_reference_is_weak(tmp_path):
    with Session.open("bl3", data_dir=tmp_path / "data", seed=SEED) as session:
        summary = session.run(SEQUENCE, ["dark_shots=16", "reference_shots=8", "shots=8"])
        assert summary.outcome == "completed"
        ref = session.results["ref_sum"]
        assert ref.ok and (ref.run, ref.dark) == (2, 1) and ref.shots == 8
        assert ref.roi0_photons < 2000  # the sequence's min_photons
        assert session.beamline.devices["attenuator"].read()["attenuator"] == 1600
        assert session.beamline.devices["pd_gain"].read()["pd_gain"] == "mid"
        assert summary.runs[0].label == "dark"
        measured = dark_subtracted_sum(session.beamline.archive, summary.runs[-1],
                                       summary.runs[0], "mpccd",  # ${dark}
                                       daq_config=session.beamline.daq.config())
        # 300 um less Si: exp(300/127.2) = 10.6 times the reference signal
        # (shot-to-shot the monochromatic beam fluctuates by 60 %, so a loose band)
        assert 3 < measured.roi0_photons / ref.roi0_photons < 40
