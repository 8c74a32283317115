"""Dark-subtracted run sums over a small in-memory archive with known photon truth."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pytest

from expctl.analysis import AnalysisError, DetectorLayout, dark_subtracted_sum, run_sums
from expctl.devices.protocols import RunRecord

BL = 3
ROWS, COLS = 48, 32
GAIN = 18.0          # e-/ADU
APP = 10.0 * 1000 / (3.65 * GAIN)  # ADU per 10 keV photon (152.2)
NOISE = 8.0          # ADU rms read noise
ROI0 = (0, 10, 20, 8, 24)   # sensor, rows, cols: the Bragg spot
ROI1 = (0, 30, 40, 8, 24)
CONFIG = {"detectors": {"det": {"rois": {"roi0": list(ROI0), "roi1": list(ROI1)},
                                "sensor_ids": ["DET-1"]}}}


@dataclass
class FakeArchive:
    """Runs of frames: pedestal + whole photons (Poisson) + read noise, rounded to ADU."""

    pedestal: np.ndarray
    runs: dict[int, np.ndarray] = field(default_factory=dict)   # run -> tags
    photons: dict[int, np.ndarray] = field(default_factory=dict)  # run -> (n, rows, cols)

    def add(self, run: int, photons: np.ndarray) -> RunRecord:
        self.runs[run] = np.arange(len(photons), dtype=np.int64) * 2 + 1000 * run
        self.photons[run] = photons
        return RunRecord(run, BL, 202601, 0, 0, 0.0, 0.0, 0, len(photons))

    def tags(self, beamline, run):
        if run not in self.runs:
            raise KeyError(f"run {run}")
        return self.runs[run]

    def detector_info(self, detector, beamline, run):
        if detector != "DET-1":
            raise KeyError(detector)
        return {"mp_absgain": GAIN}

    def photon_energy_kev(self, beamline, run):
        return 10.0

    def frames(self, detector, beamline, run, tags):
        pos = np.searchsorted(self.runs[run], tags)
        out = []
        for p, tag in zip(pos, tags, strict=True):
            noise = np.random.default_rng(int(tag)).normal(0.0, NOISE, (ROWS, COLS))
            raw = self.pedestal + self.photons[run][p] * APP + noise
            out.append(np.clip(np.round(raw), 0, 65535).astype(np.float32))
        return np.stack(out)


@pytest.fixture
def archive(rng):
    return FakeArchive(300.0 + 15.0 * rng.standard_normal((ROWS, COLS)))


def _bragg(rng, n, mean):
    ph = np.zeros((n, ROWS, COLS), dtype=np.int64)
    ph[:, 12:18, 12:20] = rng.poisson(mean / 48.0, (n, 6, 8))
    return ph


def test_dark_mean_is_the_pedestal_and_sums_equal_the_photon_truth(archive, rng):
    dark = archive.add(1, np.zeros((40, ROWS, COLS), dtype=np.int64))
    ph = _bragg(rng, 25, 400.0)
    run = archive.add(2, ph)
    got = run_sums(archive, DetectorLayout.from_config(CONFIG, "det"), BL, 2, 1, chunk=7)
    ped = got.dark[0]
    # mean of 40 frames: read noise / sqrt(40) = 1.3 ADU per pixel, plus ADU rounding
    assert np.abs(ped.mean - archive.pedestal).max() < 5 * math.hypot(NOISE, 0.3) / math.sqrt(40)
    assert float(np.median(ped.rms)) == pytest.approx(NOISE, rel=0.1)
    # photons counted at half a photon (76 ADU = 9.5 sigma of noise): exact
    np.testing.assert_array_equal(got.photons, ph.reshape(25, -1).sum(axis=1))
    truth = ph[:, 10:20, 8:24].reshape(25, -1).sum(axis=1) * APP
    # per-shot noise: 160 pixels x (read noise + pedestal error of a 40-frame dark)
    sigma = math.sqrt(160) * NOISE * math.sqrt(1 + 1 / 40)
    resid = got.roi_sums[:, 0] - truth
    assert np.abs(resid).max() < 5 * sigma
    # the mean over shots: independent read noise, plus the pedestal error common to all
    assert abs(resid.mean()) < 5 * math.sqrt(160) * NOISE * math.sqrt(1 / 25 + 1 / 40)
    assert np.abs(got.roi_sums[:, 1]).max() < 5 * sigma  # background ROI: no photons
    res = dark_subtracted_sum(archive, run, dark, "det", daq_config=CONFIG)
    assert res.ok and res.flags == frozenset()
    assert (res.run, res.dark, res.shots, res.dark_shots) == (2, 1, 25, 40)
    assert res.roi0_mean == pytest.approx(float(got.roi_sums[:, 0].mean()))
    assert res.roi0_std == pytest.approx(float(got.roi_sums[:, 0].std(ddof=1)))
    assert res.roi0_photons == pytest.approx(float(truth.mean()) / APP, abs=5 * sigma / APP)
    assert res.photons_mean == pytest.approx(float(ph.sum(axis=(1, 2)).mean()))
    assert res.adu_per_photon == pytest.approx(APP)
    assert res.pedestal_adu == pytest.approx(float(np.median(archive.pedestal)), abs=1.0)
    assert res.saturated_shots == 0


def test_run_numbers_roi_override_and_threshold(archive, rng):
    archive.add(1, np.zeros((10, ROWS, COLS), dtype=np.int64))
    ph = _bragg(rng, 6, 200.0)
    archive.add(2, ph)
    res = dark_subtracted_sum(archive, 2, 1, "det", daq_config=CONFIG, beamline=BL,
                              roi=[12, 18, 12, 20], max_shots=4)
    assert res.shots == 4 and res.dark_shots == 4
    spot = ph[:4, 12:18, 12:20].sum(axis=(1, 2)) * APP
    assert res.roi0_mean == pytest.approx(float(spot.mean()), abs=5 * math.sqrt(48) * NOISE)


def test_missing_dark_and_empty_runs_are_flags_not_numbers(archive, rng):
    run = archive.add(2, _bragg(rng, 3, 100.0))
    empty = archive.add(3, np.zeros((0, ROWS, COLS), dtype=np.int64))
    res = dark_subtracted_sum(archive, run, None, "det", daq_config=CONFIG)
    assert res.flags == {"dark_missing"} and not res.ok and math.isnan(res.roi0_photons)
    res = dark_subtracted_sum(archive, run, empty, "det", daq_config=CONFIG)
    assert res.flags == {"dark_missing"} and res.dark == 3 and res.dark_shots == 0
    res = dark_subtracted_sum(archive, empty, run, "det", daq_config=CONFIG)
    assert res.flags == {"no_shots"} and not res.ok
    # NaN compares false: `if: ${s.roi0_photons < 50}` takes the cautious branch
    assert not res.roi0_photons < 50


def test_saturated_shots_are_counted_and_make_the_result_unusable(archive, rng):
    dark = archive.add(1, np.zeros((5, ROWS, COLS), dtype=np.int64))
    ph = _bragg(rng, 4, 100.0)
    ph[2, 15, 15] = 500  # 500 photons x 152 ADU: far beyond the 16-bit ADC
    run = archive.add(2, ph)
    res = dark_subtracted_sum(archive, run, dark, "det", daq_config=CONFIG)
    assert res.saturated_shots == 1
    assert "saturated" in res.flags and not res.ok


def test_bad_inputs_name_what_is_wrong(archive, rng):
    run = archive.add(2, _bragg(rng, 2, 10.0))
    with pytest.raises(AnalysisError) as err:
        dark_subtracted_sum(archive, run, run, "mpcd", daq_config=CONFIG)
    assert err.value.message == "detector 'mpcd' is not reduced by the DAQ (known: det)"
    with pytest.raises(AnalysisError) as err:
        dark_subtracted_sum(archive, run, 7, "det", daq_config=CONFIG)
    assert err.value.message == "run 7 of beamline 3 is not in the facility archive (run 7)"
    with pytest.raises(AnalysisError) as err:
        dark_subtracted_sum(archive, run, "dark", "det", daq_config=CONFIG)
    assert err.value.message == "dark must be a run record or a positive run number, got 'dark'"
    with pytest.raises(AnalysisError) as err:
        dark_subtracted_sum(archive, 2, 1, "det", daq_config=CONFIG)
    assert err.value.message == "run: run number 2 needs the beamline number too"
    with pytest.raises(AnalysisError) as err:
        dark_subtracted_sum(archive, run, run, "det", daq_config=CONFIG, roi=[1, 2, 3])
    assert err.value.message == ("roi must be [row0, row1, col0, col1] or "
                                 "[sensor, row0, row1, col0, col1], got [1, 2, 3]")
    with pytest.raises(AnalysisError) as err:
        dark_subtracted_sum(None, run, run, "det", daq_config=CONFIG)
    assert err.value.message == "this beamline has no facility archive to read frames from"
