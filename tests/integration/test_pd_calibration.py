"""The I0 cross-calibration procedure end to end: sequences/pd_calibration.yaml on the
simulator, expctl.runlog.calibration against the simulator's truth, reduce --i0-cal."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from expctl.cli import main
from expctl.devices.registry import BackendRegistry
from expctl.errors import DataError, UserError
from expctl.runlog import Catalog
from expctl.runlog.calibration import I0Calibration, measure_i0_calibration

pytest.importorskip("sim.backend", reason="the simulated backend is needed")
from sim.truth import ground_truth  # noqa: E402

#: long end-to-end tests: CI runs them after the default suite (`pytest -m slow`)
pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    data_dir = tmp_path_factory.mktemp("pdcal") / "data"
    assert main(["run", str(ROOT / "sequences" / "pd_calibration.yaml"), "--data-dir",
                 str(data_dir)]) == 0
    assert main(["run", str(ROOT / "sequences" / "pumpprobe.yaml"), "--data-dir", str(data_dir),
                 "--set", "delays=[-2 ps, -1 ps, 6 ps]", "--set", "spots_per_delay=3",
                 "--set", "reference_shots=60"]) == 0
    return data_dir


def _paths(data_dir: Path, sequence: str) -> list[Path]:
    with Catalog(data_dir, readonly=True) as cat:
        return [cat.file_of(r["run"]) for r in cat.rows() if r["sequence"] == sequence]


def test_calibration_recovers_the_amplifiers_true_gains_and_offsets(data):
    """Source: the profile's pd_gain gain_error/offset_pc (the truth of sim.truth)."""
    truth = ground_truth(BackendRegistry().find_profile("bl3"))
    cal = measure_i0_calibration(_paths(data, "pd_calibration"))
    g = truth.i0_gain_error
    assert cal.reference == "high" and cal.gain["high"] == 1.0
    for r in ("mid", "low"):
        want = g[r] / g["high"]
        assert abs(cal.gain[r] - want) < 3 * cal.gain_err[r] + 0.002, r
        assert cal.gain_err[r] < 0.01
    for r, off in truth.i0_offset_pc.items():
        assert abs(cal.offset[r] - off) < 4 * cal.offset_err[r] + 1e-4, r
    assert "mid: gain 1.0" in cal.summary()


def test_reduce_applies_it_and_removes_the_on_off_gain_mismatch(data, capsys):
    """The reference reads I0 on the high range, the pumped shot on mid: uncalibrated, the
    relative change carries g_high/g_mid - 1 = -2.8 %; calibrated, that factor is gone."""
    truth = ground_truth(BackendRegistry().find_profile("bl3"))
    g = truth.i0_gain_error
    capsys.readouterr()
    base = ["reduce", "--where", "sequence == 'pumpprobe'", "--no-fit", "--json",
            "--data-dir", str(data)]
    assert main(base) == 0
    raw = json.loads(capsys.readouterr().out)
    assert main([*base, "--i0-cal", "sequence == 'pd_calibration'"]) == 0
    cal = json.loads(capsys.readouterr().out)
    assert cal["i0_calibration"]["reference"] == "high"
    ratio = (1 + np.array(cal["relative"])) / (1 + np.array(raw["relative"]))
    # the gain ratio (0.4 % error) and the ranges' offsets (0.5 % and 0.3 % of the pumped and
    # reference I0) are what the calibration changes
    assert ratio == pytest.approx(g["mid"] / g["high"], rel=0.012)
    assert raw["relative"][0] < cal["relative"][0]  # the negative delays move towards 0
    assert main([*base[:-3], "--data-dir", str(data), "--i0-cal", "run == 99999"]) == 2
    assert "selects no run" in capsys.readouterr().err


def test_calibration_failures_say_what_is_missing(data):
    paths = _paths(data, "pd_calibration")
    with Catalog(data, readonly=True) as cat:
        labels = {cat.file_of(r["run"]): r["label"] for r in cat.rows()}
    no_low_dark = [p for p in paths if labels[p] != "I0 dark low"]
    with pytest.raises(UserError, match="no dark run on the pd_gain range"):
        measure_i0_calibration(no_low_dark)
    only_darks = [p for p in paths if labels[p].startswith("I0 dark")]
    with pytest.raises(UserError, match="no beam run among the calibration runs"):
        measure_i0_calibration(only_darks)
    unlinked = [p for p in paths if labels[p] != "I0 gain high"]
    with pytest.raises(UserError, match="do not link the range"):
        measure_i0_calibration(unlinked, reference="high")
    cal = I0Calibration("pd_i0", "pd_gain", "high", {"high": 1.0}, {"high": 0.0},
                        {"high": 0.0}, {"high": 0.0}, (1, 2))
    with pytest.raises(DataError, match="does not cover the pd_gain range 'mid'"):
        cal.apply(np.ones(3), "mid")
