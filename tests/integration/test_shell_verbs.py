"""Every console verb against the simulator: where axes end up, return to start, the records.

Driven line by line through the shell's own input (virtual clock); the run log
is read back through the catalog and the scan files, as `runs --scans` does.
"""

from __future__ import annotations

import re

import h5py
import numpy as np
import pytest

from expctl.runlog import Catalog
from expctl.runlog.logbook import read_logbook
from expctl.runlog.scans import read_scan_columns, scan_file
from tests.integration.shell_driver import ShellDriver


@pytest.fixture
def shell(tmp_path):
    driver = ShellDriver(tmp_path / "data")
    yield driver
    driver.close()


def _scans(data):
    with Catalog(data, readonly=True) as catalog:
        return {row["id"]: row for row in catalog.alignments()}


def _pos(shell, name):
    return float(shell.device(name).position)


def test_ascan_prints_rows_keeps_a_record_and_ends_at_the_end(shell, tmp_path):
    data = tmp_path / "data"
    shell.type("open")
    out = shell.type("ascan theta 11.395 11.41 15 0.1")
    assert out.startswith("scan 1  ascan theta 11.395 11.41 15 0.1  (16 points)\n")
    header, *rows = out.splitlines()[1:18]
    assert header.split()[:4] == ["#", "theta", "[deg]", "mpccd.roi0"]
    assert [int(r.split()[0]) for r in rows] == list(range(1, 17))
    assert float(rows[0].split()[1]) == pytest.approx(11.395)
    assert "scan 1 completed: 16 points in alignment/scan000001.h5" in out
    assert re.search(r"  cen 11\.40\d+ deg  com 11\.40\d+ deg  fwhm 0\.00\d+ deg", out)
    assert _pos(shell, "theta") == pytest.approx(11.41)          # ascan stays at the end
    row = _scans(data)[1]
    assert (row["kind"], row["points"], row["planned"], row["outcome"], row["unit"]) == (
        "ascan", 16, 16, "completed", "deg")
    scan = read_scan_columns(scan_file(data, 1))
    assert scan.columns["theta"] == pytest.approx(np.linspace(11.395, 11.41, 16))
    assert scan.metadata["count"] == "0.1 s = 3 shots per point"
    assert scan.result["cen"] == pytest.approx(row["result"]["cen"])


def test_dscan_and_lup_return_to_the_start_and_cen_pic_com_peak_move(shell, tmp_path):
    data = tmp_path / "data"
    shell.type("open")
    shell.type("mv theta 11.4025")
    start = _pos(shell, "theta")
    out = shell.type("dscan theta -6 mdeg 6 mdeg 24")
    assert "scan 1  dscan theta -6 mdeg 6 mdeg 24  (25 points)" in out
    assert f"back at the start: theta {start:.6g} deg" in out
    assert _pos(shell, "theta") == start
    cols = read_scan_columns(scan_file(data, 1)).columns["theta"]
    assert cols[0] == pytest.approx(start - 0.006) and cols[-1] == pytest.approx(start + 0.006)
    shell.type("lup theta -6 mdeg 6 mdeg 24")
    assert _pos(shell, "theta") == start
    assert (_scans(data)[2]["kind"], _scans(data)[2]["command"]) == (
        "dscan", "lup theta -6 mdeg 6 mdeg 24")
    result = _scans(data)[2]["result"]
    for verb, key in (("cen", "cen"), ("pic", "max_x"), ("com", "com")):
        out = shell.type(verb)
        assert _pos(shell, "theta") == pytest.approx(result[key]), verb
        assert f"({verb} of scan 2)" in out
    shell.type("peak")
    assert _pos(shell, "theta") == pytest.approx(result["fit"]["center"])
    moved = _scans(data)[2]["moved_to"]
    assert moved["moved"] and moved["target"] == pytest.approx(result["fit"]["center"])
    assert moved["reason"] == "peak of scan 2"
    shell.type("cen 1")                                   # an earlier scan by number
    assert _pos(shell, "theta") == pytest.approx(_scans(data)[1]["result"]["cen"])


def test_a2scan_d2scan_mesh_and_scan(shell, tmp_path):
    data = tmp_path / "data"
    shell.type("a2scan sample_x 0 1 sample_y 0 0.5 4")
    assert (_pos(shell, "sample_x"), _pos(shell, "sample_y")) == (1.0, 0.5)
    a2 = read_scan_columns(scan_file(data, 1))
    assert a2.axes == ("sample_x", "sample_y")
    assert a2.columns["sample_y"] == pytest.approx([0, 0.125, 0.25, 0.375, 0.5])
    out = shell.type("d2scan sample_x -0.5 0.5 sample_y -0.2 0.2 2")
    assert "back at the start: sample_x 1 mm  sample_y 0.5 mm" in out
    assert (_pos(shell, "sample_x"), _pos(shell, "sample_y")) == (1.0, 0.5)
    shell.type("mesh sample_x 0 1 2 sample_y 0 1 1")
    mesh = read_scan_columns(scan_file(data, 3))
    # SPEC's mesh: the first motor moves fastest
    assert mesh.columns["sample_x"] == pytest.approx([0, 0.5, 1, 0, 0.5, 1])
    assert mesh.columns["sample_y"] == pytest.approx([0, 0, 0, 1, 1, 1])
    assert mesh.shape == (2, 3)
    shell.type("open")
    out = shell.type("scan theta 11.40 11.41 5 mpccd pd_i0")
    assert "scan 4  scan theta 11.40 11.41 5 mpccd pd_i0  (5 points)" in out
    assert _scans(data)[4]["planned"] == 5


def test_rock_moves_to_a_good_peak_or_goes_back(shell, tmp_path):
    data = tmp_path / "data"
    out = shell.type("rock theta 20 mdeg 41")
    assert "error: xray_shutter is closed: a rocking curve needs the beam" in out
    shell.type("open")
    shell.type("mv theta 11.30")                    # far from the Bragg peak: nothing there
    out = shell.type("rock theta 20 mdeg 21")
    assert "theta back at the start, 11.3 deg: no usable peak" in out
    assert _pos(shell, "theta") == pytest.approx(11.30)
    assert "fit NOT usable" in out or "NOT usable" in out
    out = shell.type("peak")
    assert re.search(r"error: scan 1 of theta has no usable fitted peak \(.*no_peak.*\)\. "
                     r"Scan again, wider or with more points\.", out), out
    shell.type("mv theta 11.4025")
    out = shell.type("rock theta 20 mdeg 41")
    row = _scans(data)[2]
    assert row["kind"] == "rock" and row["moved_to"]["moved"] is True
    assert _pos(shell, "theta") == pytest.approx(row["moved_to"]["target"])
    assert f"theta moved to the fitted peak, {_pos(shell, 'theta'):.6g} deg" in out


def test_moves_states_runs_and_their_refusals(shell, tmp_path):
    shell.type("mv theta 11.41")
    assert _pos(shell, "theta") == pytest.approx(11.41)
    shell.type("mvr theta -10 mdeg")                              # a unit converted
    assert _pos(shell, "theta") == pytest.approx(11.40)
    assert re.match(r"theta +11\.4 deg +limits 10 \.\. 13 deg", shell.type("wm theta"))
    assert shell.type("umv sample_x 1.5") == "sample_x 0 → 1.5 mm\nsample_x 1.5 mm\n"
    shell.type("mov sample_y 0.5")                                # SPEC's aliases
    shell.type("movr sample_y 0.1")
    assert _pos(shell, "sample_y") == pytest.approx(0.6)
    assert "attenuator 200 um" in shell.type("set attenuator 200 um")
    assert "pd_gain mid" in shell.type("set pd_gain mid")
    assert "pump on (applied)" in shell.type("request pump on")
    assert (shell.device("attenuator").value, shell.device("pd_gain").value,
            shell.device("pump").value) == (200, "mid", "on")
    assert "xray_shutter open" in shell.type("open")
    assert "run 1 test: 20 shots" in shell.type("take_run 20 test")
    assert "xray_shutter closed" in shell.type("close")
    with Catalog(tmp_path / "data", readonly=True) as catalog:
        (run,) = [row.as_dict() for row in catalog.rows()]
    assert (run["run"], run["label"], run["shots"], run["outcome"]) == (1, "test", 20,
                                                                         "completed")
    out = shell.type("set attenuator 7")                          # refused, nothing moved
    assert out == ("error: attenuator cannot be set to 7 um (allowed: 0 .. 3175 um in steps"
                   " of 25 um (128 values))\n")
    assert "theta target 20 deg is outside its limits (allowed: 10 .. 13 deg)" in \
        shell.type("mv theta 20")
    assert (_pos(shell, "theta"), shell.device("attenuator").value) == pytest.approx(
        (11.40, 200))


def test_limits_of_every_point_are_checked_before_the_first_move(shell, tmp_path):
    out = shell.type("ascan theta 12.5 13.5 10")
    assert ("point 7 of 11: theta target 13.1 deg is outside its limits "
            "(5 of 11 points are outside) (allowed: 10 .. 13 deg)") in out
    assert _pos(shell, "theta") == pytest.approx(11.4)           # nothing moved
    assert _scans(tmp_path / "data") == {}                       # and no scan was opened


def test_umvr_tw_ct_comment_plot_help(shell, tmp_path):
    data = tmp_path / "data"
    out = shell.type("umvr sample_y 0.25 mm")
    assert "sample_y 0 → 0.25 mm" in out and out.rstrip().endswith("sample_y 0.25 mm")
    out = shell.type("tw sample_x 0.1")
    assert "tweaking sample_x (at 0 mm) by 0.1 mm" in out
    shell.type("+")
    shell.type("")              # Enter repeats the last direction
    assert _pos(shell, "sample_x") == pytest.approx(0.2)
    shell.type("-")
    shell.type("50 um")         # a new step
    shell.type("+")
    out = shell.type("q")
    assert _pos(shell, "sample_x") == pytest.approx(0.15)
    assert "sample_x 0.15 mm (tweak done)" in out
    shell.type("open")
    out = shell.type("ct 0.5")
    assert out.startswith("ct 0.5 s: 15 shots at 30 Hz")
    assert re.search(r"mpccd\.roi0 +[\d.e+]+ ± [\d.e+]+ ADU", out)
    assert re.search(r"pd_i0 +[\d.e+]+ ± [\d.e+]+ pC", out)
    assert re.search(r"mpccd\.roi0/pd_i0 +[\d.e+]+ ± [\d.e+]+ +\(Σ signal / Σ I0", out)
    shell.type("dscan theta -5 mdeg 5 mdeg 10")
    out = shell.type("comment spot looks cracked")
    assert "comment filed in the logbook (comment 1, scan 1)" in out
    (note,) = read_logbook(data)
    assert (note["text"], note["scan"]) == ("spot looks cracked", 1)
    out = shell.type("plot")
    lines = out.splitlines()
    assert all(len(line) <= 80 for line in lines[:-1])     # the plot fits the terminal
    assert lines[-1].startswith("scan 1 (completed, 11 points) drawn in ")
    png = scan_file(data, 1).with_suffix(".png")
    assert png.read_bytes()[:4] == b"\x89PNG"
    out = shell.type("help dscan")
    assert "positions are relative" in out and "example:\n    dscan theta -10 mdeg" in out
    out = shell.type("dscna theta 1 2 3")
    assert "Did you mean `dscan` (relative) or `d2scan` (relative) or `scan` (absolute)?" in out


def test_tweak_done_is_said_after_the_steps_typed_before_it(shell):
    shell.type("tw sample_y 0.1")
    for line in ("+", "", "", "q"):          # typed faster than the moves run
        shell.type(line, wait=False)
    shell.wait_for(r"\(tweak done\)")
    shell.wait_idle()
    assert _pos(shell, "sample_y") == pytest.approx(0.3)
    assert "sample_y 0.3 mm (tweak done)" in shell.text


def test_a_stopped_scan_keeps_its_points_marked(tmp_path):
    """Stopping a scan part-way (here: from another thread, as Ctrl-C does) keeps the
    points taken in the record, marked, and a relative scan goes back to its start."""
    from expctl.engine.events import ScanPointTaken
    from expctl.session import Session

    data = tmp_path / "data"
    holder = {}

    def open_session():
        s = Session.open("bl3", data)

        def stop_at_five(event):
            if isinstance(event, ScanPointTaken) and event.index == 4:
                holder["shell"].interrupt()
        s.bus.subscribe(stop_at_five)
        return s

    driver = ShellDriver(data, open_session)
    holder["shell"] = driver.shell
    try:
        driver.type("open")
        start = _pos(driver, "theta")
        out = driver.type("dscan theta -5 mdeg 5 mdeg 20")
        assert "stopping now (Ctrl-C): motion stopped where it is" in out
        assert "scan 1 stopped after 5 of 21 points; the points taken are kept in " \
               "alignment/scan000001.h5, marked stopped" in out
        assert "dscan theta -5 mdeg 5 mdeg 20: stopped (Ctrl-C)" in out
        assert f"back at the start: theta {start:.6g} deg" in out
        assert _pos(driver, "theta") == start
        row = _scans(data)[1]
        assert (row["outcome"], row["points"], row["planned"]) == ("stopped", 5, 21)
        with h5py.File(scan_file(data, 1)) as f:
            assert f["entry/data/theta"].shape == (5,) and f.attrs["outcome"] == "stopped"
        out = driver.type("show --scan 1")
        for key, value in (("command", "dscan theta -5 mdeg 5 mdeg 20"), ("points", "5/21"),
                           ("outcome", "stopped"), ("column theta", "5 values, deg"),
                           ("column mpccd.roi0", "5 values, ADU")):
            assert re.search(rf"\n {re.escape(key)} +{re.escape(value)}\n", out), (key, out)
        assert "\n sequence" not in out and "\n step" not in out   # a console scan has none
        out = driver.type("runs --scans")
        assert re.search(r"\n +1 +dscan +theta +5/21 +stopped ", out), out
    finally:
        driver.close()


def test_leaving_with_the_shutter_open_asks_first(tmp_path):
    driver = ShellDriver(tmp_path / "data")
    try:
        driver.type("open")
        driver.type("exit", wait=False)
        driver.type("c", wait=False)                   # cancel: still here
        out = driver.type("wm xray_shutter")
        assert "staying" in out or "staying" in driver.text
        assert "xray_shutter open" in out
        driver.type("exit", wait=False)
        driver.type("y", wait=False)
        driver.wait_for("xray_shutter closed")
        driver._thread.join(30)
        assert not driver._thread.is_alive()
    finally:
        driver.close()


def test_peak_moves_to_a_sequence_s_alignment_scan_and_cen_says_why_not(shell, tmp_path):
    shell.type("seq run sequences/small.yaml shots=5")           # its rocking curve: scan 1
    row = _scans(tmp_path / "data")[1]
    assert row["kind"] == "alignment"
    out = shell.type("cen 1")
    assert "error: scan 1 is a sequence's alignment scan: it keeps its fitted peak only. " \
           "`peak 1` moves there." in out
    shell.type("mv theta 11.38")
    out = shell.type("peak 1")
    assert _pos(shell, "theta") == pytest.approx(row["result"]["center"])
    assert "(peak of scan 1)" in out
