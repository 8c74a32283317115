"""Sequences written for bl3 run on bl3-laser where the devices exist (issue 18)."""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import pytest

from expctl.cli import main

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("name", ["pumpprobe", "delay_scan", "small", "rocking",
                                  "pd_calibration", "dark"])
def test_bl3_sequences_validate_on_the_laser_profile(name, capsys):
    assert main(["validate", str(ROOT / "sequences" / f"{name}.yaml"), "--profile",
                 "bl3-laser", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["ok"] is True


def test_a_chicane_sequence_names_the_missing_device(tmp_path, capsys):
    seq = tmp_path / "chicane.yaml"
    seq.write_text("beamline: bl3\nsteps:\n  - request: {pump_delay: 0.5 ps}\n",
                   encoding="utf-8")
    assert main(["validate", str(seq)]) == 0
    assert main(["validate", str(seq), "--profile", "bl3-laser"]) == 2
    assert "unknown device 'pump_delay'. Did you mean 'delay'?" in capsys.readouterr().err


def test_small_runs_on_the_laser_profile_and_logs_the_timing_tool(tmp_path, capsys):
    data = tmp_path / "data"
    assert main(["run", str(ROOT / "sequences" / "small.yaml"), "--profile", "bl3-laser",
                 "--data-dir", str(data), "--json", "--set", "shots=5"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["outcome"] == "completed" and len(out["runs"]) == 2
    files = sorted((data / "runs" / "bl3").glob("run*.h5"))
    with h5py.File(files[-1], "r") as f:  # the pumped shot: laser on, an edge found
        assert f["lightStatus/laser"][0] == 1
        assert sorted(f["tt"]) == ["AMPL", "FLTPOS", "FLTPOSFWHM", "FLTPOS_PS", "ttCorr"]
        assert f["tt/AMPL"][0] > 0 and abs(f["tt/ttCorr"][0]) < 1.0
    with h5py.File(files[0], "r") as f:  # the reference: no laser, no edge
        assert f["tt/AMPL"][0] == 0.0
