"""Runs taken by earlier ``expctl run`` invocations, read with dbpy/stpy in this process."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from expctl.compat import bind, configure, dbpy, stpy

PD = "xfel_bl_3_tc_bm_2_pd/charge"
GAIN = "xfel_bl_3_tc_bm_2_pd_gain/gain"
ATT = "xfel_bl_3_st_2_att_1/thickness"
THETA = "xfel_bl_3_st_2_motor_1/position"
SEQUENCES = Path(__file__).resolve().parents[2] / "sequences"


def _expctl(*args: str) -> None:
    cli = "import sys; from expctl.cli import main; sys.exit(main(sys.argv[1:]))"
    proc = subprocess.run([sys.executable, "-c", cli, *args], capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    data = tmp_path_factory.mktemp("cli") / "expctl-data"
    _expctl("run", str(SEQUENCES / "dark.yaml"), "--set", "shots=30", "--data-dir", str(data),
            "--json")
    _expctl("run", str(SEQUENCES / "small.yaml"), "--data-dir", str(data), "--json")
    return data


@pytest.fixture
def facility(data_dir):
    configure(data_dir)
    yield data_dir
    configure()
    bind(None)


def test_runs_of_two_cli_invocations(facility):
    newest = dbpy.read_runnumber_newest(3)
    assert newest == 3  # dark, then small's reference and pumped runs; numbers never reused
    dark, ref, pumped = (dbpy.read_runinfo(3, r) for r in (1, 2, 3))
    assert [i["runstatus"] for i in (dark, ref, pumped)] == [0, 0, 0]
    assert [i["total_tagnumber"] for i in (dark, ref, pumped)] == [30, 20, 1]
    assert dark["comment"] == "shutter closed"
    # tags and times keep increasing across the two processes
    assert dark["end_tagnumber"] < ref["start_tagnumber"] <= ref["end_tagnumber"] < (
        pumped["start_tagnumber"])
    assert dark["stoptime"] <= ref["starttime"] < pumped["starttime"]


def test_logged_device_states_per_run(facility):
    """The 0-D DB shows what the sequence set: gain and attenuator for each run, theta aligned."""
    def values(equip, run):
        return dbpy.read_syncdatalist(equip, dbpy.read_hightagnumber(3, run),
                                      dbpy.read_taglist_byrun(3, run))

    assert set(values(ATT, 2)) == {"1800.0um"} and set(values(ATT, 3)) == {"1600.0um"}
    assert len(set(values(GAIN, 2))) == 1 and set(values(GAIN, 2)) != set(values(GAIN, 3))
    theta = dbpy.read_syncdatalist_float(THETA, dbpy.read_hightagnumber(3, 2),
                                         dbpy.read_taglist_byrun(3, 2))
    assert len(set(theta)) == 1 and abs(theta[0] - 11.40) < 0.01  # Si(111) at 10 keV
    dark_pd = dbpy.read_syncdatalist_float(PD, dbpy.read_hightagnumber(3, 1),
                                           dbpy.read_taglist_byrun(3, 1))
    ref_pd = dbpy.read_syncdatalist_float(PD, dbpy.read_hightagnumber(3, 2),
                                          dbpy.read_taglist_byrun(3, 2))
    # the dark reads the amplifier's offset (8 fC on mid), the reference ~0.35 pC
    assert np.mean(ref_pd) > 20 * max(np.mean(np.abs(dark_pd)), 1e-3)


def test_dark_frames_of_a_cli_run_average_to_the_pedestal(facility):
    det = dbpy.read_detidlist(3, 1)[0]
    reader = stpy.StorageReader(det, 3, (1,))
    buf = stpy.StorageBuffer(reader)
    total = np.zeros((1024, 512))
    tags = dbpy.read_taglist_byrun(3, 1)
    for tag in tags:
        reader.collect(buf, tag)
        total += buf.read_det_data(0)
    dark = total / len(tags)
    assert dark.mean() == pytest.approx(300.0, abs=0.5)  # profile: pedestal_adu
