"""Alignment scans: logged to the catalog and a small file, with a PNG and the move they caused."""

from __future__ import annotations

import json

import h5py
import numpy as np
from nexusformat.nexus import nxload

from expctl.analysis import find_peak
from expctl.engine.events import AnalysisDone, EventBus, RunContext, StepFinished, StepStarted
from expctl.plans.stubs import decide_alignment
from expctl.runlog import attach, read_alignment
from expctl.ui.plots import plot_alignment


def _rocking_events(rng, start=11.40):
    x = np.linspace(11.395, 11.405, 41)
    i0 = rng.gamma(20.0, 5.0, x.size)
    y = rng.poisson(i0 * (2.0 + 40.0 * np.exp(-0.5 * ((x - 11.4012) / 0.0006) ** 2)))
    peak = find_peak(x, y, i0=i0, model="gaussian")
    ctx = RunContext(sequence="pumpprobe", step_path="steps[0]/steps[1]/steps[4]")
    inputs = {"axis": "theta", "x": tuple(x), "y": tuple(y.astype(float)),
              "signal": "mpccd.roi0", "i0": tuple(i0)}
    return peak, [AnalysisDone("rock", peak, 12.0, inputs, ctx),
                  AnalysisDone("rock_align", decide_alignment("theta", peak, start), 12.1,
                               {}, ctx),
                  StepFinished("steps[0]/steps[1]/steps[4]", 12.2)]


def test_rocking_curve_is_logged_with_fit_flags_move_and_png(tmp_path, rng):
    bus = EventBus()
    handle = attach(bus, tmp_path, alignment_plotter=plot_alignment)
    peak, events = _rocking_events(rng)
    for event in events:
        bus.publish(event)
    rows = handle.catalog.alignments()
    handle.close()
    assert not bus.warnings
    assert peak.ok and abs(peak.center - 11.4012) < 1e-4
    (row,) = rows
    assert (row["name"], row["axis"], row["points"]) == ("rock", "theta", 41)
    assert row["center"] == peak.center and row["fwhm"] == peak.fwhm
    assert row["flags"] == sorted(peak.flags)
    assert row["moved_to"] == {"axis": "theta", "moved": True, "target": peak.center,
                               "reason": "fit ok"}
    assert row["step_path"] == "steps[0]/steps[1]/steps[4]"
    png = tmp_path / "alignment" / "scan000001.png"
    assert row["png"] == "alignment/scan000001.png"  # relative: the data directory may move
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with h5py.File(tmp_path / row["file"], "r") as f:
        assert f["entry/data/position"].shape == (41,)
        assert json.loads(f.attrs["moved_to"])["target"] == peak.center
        assert json.loads(f.attrs["result"])["center"] == peak.center
    assert nxload(str(tmp_path / row["file"])).entry.data.nxsignal.shape == (41,)
    scan = read_alignment(tmp_path / row["file"])
    np.testing.assert_allclose(scan.normalized, np.asarray(events[0].inputs["y"])
                               / np.asarray(events[0].inputs["i0"]))


def test_a_failed_fit_records_why_the_axis_stayed(tmp_path, rng):
    bus = EventBus()
    handle = attach(bus, tmp_path)  # no plotter: files and rows only
    x = np.linspace(11.395, 11.405, 21)
    flat = rng.poisson(100.0, x.size).astype(float)
    peak = find_peak(x, flat)
    ctx = RunContext()
    bus.publish(AnalysisDone("rock", peak, 1.0, {"axis": "theta", "x": tuple(x),
                                                 "y": tuple(flat)}, ctx))
    bus.publish(AnalysisDone("rock_align", decide_alignment("theta", peak, 11.4), 1.1, {}, ctx))
    (row,) = handle.catalog.alignments()
    handle.close()
    assert not peak.ok and "no_peak" in row["flags"]
    assert row["moved_to"]["moved"] is False
    assert row["moved_to"]["reason"].startswith("stayed at 11.4: ")
    assert row["png"] is None


def test_the_yaml_move_step_after_a_scan_is_recorded_as_the_move_it_caused(tmp_path, rng):
    bus = EventBus()
    handle = attach(bus, tmp_path)
    peak, events = _rocking_events(rng)
    bus.publish(events[0])
    bus.publish(StepFinished("2/delay[0]/2/spot[0]/4", 12.05))
    bus.publish(StepStarted("2/delay[0]/2/spot[0]/5", "align theta (move theta → ${rock.center})",
                            12.1))
    bus.publish(AnalysisDone("rock", peak, 13.0, dict(events[0].inputs), RunContext()))
    bus.publish(StepStarted("x", "move sample_x → 1.0", 13.1))  # not caused by the scan
    first, second = handle.catalog.alignments()
    handle.close()
    assert first["moved_to"] == {"axis": "theta", "moved": True, "target": peak.center,
                                 "reason": "step 'align theta (move theta → rock.center)'"}
    assert second["moved_to"] is None


def test_runs_scans_lists_alignment_scans(tmp_path, rng, capsys):
    from expctl.cli import main

    bus = EventBus()
    handle = attach(bus, tmp_path)
    peak, events = _rocking_events(rng)
    for event in events:
        bus.publish(event)
    handle.close()
    assert main(["runs", "--scans", "--json", "--data-dir", str(tmp_path),
                 "--where", "axis==theta"]) == 0
    (scan,) = json.loads(capsys.readouterr().out)
    assert scan["center"] == peak.center and scan["moved_to"]["moved"] is True
    assert main(["runs", "--scans", "--data-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "1 scan" in out and f"→ {peak.center:.6g}" in out


def test_a_failing_plot_is_a_warning_and_logging_goes_on(tmp_path, rng):
    """The alignment log is not critical: a plot that fails is reported, the scan is kept."""
    def broken_plotter(scan, png):
        raise OSError(28, "No space left on device", str(png))

    bus = EventBus()
    handle = attach(bus, tmp_path, alignment_plotter=broken_plotter)
    _, events = _rocking_events(rng)
    for event in events:
        bus.publish(event)  # never raises: data taking must not stop for a plot
    rows = handle.catalog.alignments()
    handle.close()
    assert [r["name"] for r in rows] == ["rock"] and rows[0]["png"] is None
    (warning,) = bus.warnings
    assert warning.text == (
        f"alignment log failed on AnalysisDone: OSError: [Errno 28] No space left on device: "
        f"'{tmp_path / 'alignment' / 'scan000001.png'}'")
