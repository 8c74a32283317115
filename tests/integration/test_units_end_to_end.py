"""Issue 13 acceptance: units end to end, and run files smalldata users (and NeXus) can open.

The same delay scan is taken twice on the simulated beamline, once with the delay
list written in mixed units (``[500 fs, 1 ps, 2000 fs]``) and once in ps only: the
catalog, the run files, ``--where`` with units and the reduction must not be able
to tell them apart.  Every run file then opens with a smalldata-style reader
written from the public conventions (:mod:`.smalldata_style`) and with nexusformat.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

import h5py
import numpy as np
import pytest
from nexusformat.nexus import nxload

from expctl.cli import main
from expctl.runlog import Catalog

from .smalldata_style import load

pytest.importorskip("sim.backend", reason="the simulated backend is needed")

ROOT = Path(__file__).resolve().parents[2]
MIXED = "[500 fs, 1 ps, 2000 fs]"
SINGLE = "[0.5 ps, 1 ps, 2 ps]"


def _scan(data_dir: Path, delays: str) -> Path:
    assert main(["run", str(ROOT / "sequences" / "delay_scan.yaml"), "--data-dir",
                 str(data_dir), "--set", f"delays={delays}", "--set", "shots=20"]) == 0
    return data_dir


@pytest.fixture(scope="module")
def scans(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("units")
    return {"mixed": _scan(root / "mixed", MIXED), "single": _scan(root / "single", SINGLE)}


def _rows(data_dir: Path) -> list[dict]:
    with Catalog(data_dir, readonly=True) as catalog:
        return [dict(r.values) for r in catalog.rows()]


def test_mixed_unit_delays_log_the_same_values_as_single_unit_ones(scans):
    mixed, single = _rows(scans["mixed"]), _rows(scans["single"])
    assert len(mixed) == len(single) == 6
    for a, b in zip(mixed, single, strict=True):
        for key in ("scan", "loop", "params", "units", "label"):
            assert a[key] == b[key], key
        assert a["units"]["scan.delay"] == "ps" and a["units"]["params.delays"] == "ps"
    assert [r["scan"]["delay"] for r in mixed] == [0.5, 0.5, 1.0, 1.0, 2.0, 2.0]
    assert mixed[0]["params"]["delays"] == [0.5, 1.0, 2.0]
    for a, b in zip(mixed, single, strict=True):
        with h5py.File(scans["mixed"] / a["file"], "r") as fa, \
                h5py.File(scans["single"] / b["file"], "r") as fb:
            assert np.array_equal(fa["scan/delay"][:], fb["scan/delay"][:])
            assert fa["scan/delay"].attrs["units"] == "ps"
            assert json.loads(fa.attrs["units"])["scan.delay"] == "ps"
            assert fa["epicsOnce/delay"][()] == pytest.approx(a["scan"]["delay"], abs=1e-6)
            assert fa["epicsOnce/delay"].attrs["units"] == "ps"


@pytest.mark.parametrize(("where", "runs"), [
    ("delay > 600 fs", [3, 4, 5, 6]),
    ("delay <= 1000 fs", [1, 2, 3, 4]),
    ("delay == 2 ps and label == 'pump on'", [5]),
    ("delay < 0.0015 ns", [1, 2, 3, 4]),
])
def test_where_with_units_selects_the_same_runs_from_both(scans, capsys, where, runs):
    for data_dir in scans.values():
        capsys.readouterr()
        assert main(["runs", "--data-dir", str(data_dir), "--where", where, "--json"]) == 0
        assert [r["run"] for r in json.loads(capsys.readouterr().out)] == runs


def test_where_comparing_a_delay_with_a_length_is_a_user_error(scans, capsys):
    assert main(["runs", "--data-dir", str(scans["mixed"]), "--where", "delay > 5 mm"]) == 2
    assert "mm" in capsys.readouterr().err


def test_reduce_bins_both_in_ps(scans, capsys):
    centers = []
    for data_dir in scans.values():
        capsys.readouterr()
        assert main(["reduce", "1-6", "--data-dir", str(data_dir), "--no-fit", "--json"]) == 0
        out = json.loads(capsys.readouterr().out)
        assert out["units"] == "ps"
        centers.append(out["centers"])
    assert centers[0] == pytest.approx([0.5, 1.0, 2.0]) and centers[0] == centers[1]


def test_every_run_file_opens_the_smalldata_way_and_with_nexusformat(scans):
    for data_dir in scans.values():
        for row in _rows(data_dir):
            check_run_file(data_dir / row["file"], row)


def check_run_file(path: Path, row: dict) -> None:
    """What a smalldata user's reader and a NeXus reader rely on, for one run file."""
    sd = load(path)
    n = row["shots"]
    assert {len(v) for v in sd.shots.values()} == {n}, path
    start, stop = row["start_time"], row["stop_time"]
    assert np.all((sd.seconds >= int(start) - 1) & (sd.seconds <= int(stop) + 1))
    assert np.all((sd.nanoseconds >= 0) & (sd.nanoseconds < 1_000_000_000))
    assert np.all(np.diff(sd.seconds * 10 ** 9 + sd.nanoseconds) > 0)
    assert np.array_equal(sd.shots["fiducials"], sd.shots["tag"])
    assert np.array_equal(sd.shots["ipm_pd_i0__sum"], sd.shots["pd_i0"])
    assert np.array_equal(sd.shots["gas_detector__energy"], sd.shots["beam__pulse_energy"])
    laser = 1 if row["label"] in ("pumped", "pump on") else 0
    assert np.all(sd.shots["lightStatus__laser"] == laser)
    xray = 0 if "dark" in row["label"] else 1  # darks are taken with the shutter closed
    assert np.all(sd.shots["lightStatus__xray"] == xray)
    if "delay" in row["scan"]:  # a run in the delay loop: varStep is the delay's index
        assert np.all(sd.shots["scan__varStep"] == row["loop"]["i_delay"])
        assert np.all(sd.shots["scan__delay"] == row["scan"]["delay"])
    else:
        assert np.all(sd.shots["scan__varStep"] == 0)
    for det in ("mpccd", "mpccd_octal"):
        assert sd.shots[f"damage__{det}"].dtype == np.uint8
        for key in ("ROI_0_sum", "photon_nPhot"):
            assert sd.sums[f"{det}_{key}"] == pytest.approx(
                float(np.sum(sd.shots[f"{det}__{key}"])), rel=1e-12)
    assert sd.config["roi_sums"] is not None
    with h5py.File(path, "r") as f:  # the conventional names are links, not copies
        assert f["ipm_pd_i0/sum"] == f["pd_i0"] and f["fiducials"] == f["tag"]
    assert nxload(str(path)).entry.data.nxsignal.shape == (n,)


def test_an_older_layout_is_refused_for_writing_and_still_read(scans, tmp_path, capsys):
    """A directory without the layout marker but with runs was written by layout 1: new
    runs go elsewhere (exit 1, naming both layouts and what to do), reading still works."""
    old = tmp_path / "old"
    shutil.copytree(scans["mixed"], old)
    (old / "expctl-layout.json").unlink()
    with sqlite3.connect(old / "catalog.sqlite") as db:  # layout 1 had no units column
        db.execute("ALTER TABLE runs DROP COLUMN units")
    db.close()
    before = sorted(p.name for p in (old / "runs" / "bl3").iterdir())
    capsys.readouterr()
    assert main(["run", str(ROOT / "sequences" / "small.yaml"), "--data-dir", str(old)]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"error: {old} holds data in layout 1 (run files "
                          "expctl-smalldata/1: scan values in the units a sequence wrote them "
                          "in")
    assert "this expctl writes layout 2 (run files expctl-smalldata/2" in err
    assert err.rstrip().endswith("Take new data in a new data directory (--data-dir or "
                                 "EXPCTL_DATA_DIR); `expctl runs`, `show` and `reduce` still "
                                 "read this one.")
    assert sorted(p.name for p in (old / "runs" / "bl3").iterdir()) == before
    assert not (old / "expctl-layout.json").exists()
    assert main(["runs", "--data-dir", str(old), "--where", "delay > 600 fs", "--json"]) == 0
    assert [r["run"] for r in json.loads(capsys.readouterr().out)] == [3, 4, 5, 6]
