"""Pure pieces of the console's output: ETA, locations, line fitting, scan rows, ct, plots."""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
import pytest

from expctl.engine.events import (
    ScanClosed,
    ScanOpened,
    ScanPointTaken,
    StateChanged,
    StepFinished,
    StepStarted,
)
from expctl.ui.counts import count_summary, format_counts
from expctl.ui.eta import Eta
from expctl.ui.location import StepTracker, expand_title
from expctl.ui.output import _TrimmedLines, fit_line, line_width, wrap_lines
from expctl.ui.scanview import ScanPrinter
from expctl.ui.termplot import text_plot
from expctl.units import Quantity


def test_eta_weighs_by_time_credits_the_step_under_way_and_leaves_out_pauses():
    now = [0.0]
    eta = Eta(100.0, {"1": 10.0, "2": 80.0, "3": 10.0}, lambda: now[0])
    assert eta.remaining_s() == 100.0                      # before it starts: the estimate
    eta(StateChanged("idle", "running", 0.0))
    eta(StepStarted("1", "a", 0.0))
    now[0] = 5.0
    assert eta.remaining_s() == pytest.approx(95.0)        # half of step 1 done, on pace
    now[0] = 10.0
    eta(StepFinished("1", 10.0))
    eta(StepStarted("2", "b", 10.0))
    now[0] = 50.0
    assert eta.remaining_s() == pytest.approx(50.0)        # a long step counts as it goes
    eta(StateChanged("running", "paused", 50.0))
    now[0] = 500.0                                         # paused: nothing changes
    assert eta.remaining_s() == pytest.approx(50.0) and "(on hold)" in eta.text()
    eta(StateChanged("paused", "running", 500.0))
    now[0] = 520.0
    assert eta.remaining_s() == pytest.approx(30.0)
    eta(StepFinished("2", 530.0))
    now[0] = 530.0                                         # 90 s of work took 80 s
    assert eta.remaining_s() == pytest.approx(10.0 * 80 / 90)


def test_eta_follows_the_pace_once_enough_is_done():
    now = [0.0]
    eta = Eta(100.0, {"1": 50.0, "2": 50.0}, lambda: now[0])
    eta(StateChanged("idle", "running", 0.0))
    eta(StepStarted("1", "", 0.0))
    now[0] = 100.0                                          # twice as slow as rehearsed
    eta(StepFinished("1", 100.0))
    assert eta.remaining_s() == pytest.approx(100.0)
    assert eta.text(speed=4) == "ETA 1 min 40 s (25.0 s wall)"


@dataclass(frozen=True)
class Peak:
    center: float


def _open(tracker, path, label, **context):
    tracker(StepStarted(path, label, 0.0, context))


def test_locations_are_one_based_with_loop_values_and_expanded_titles():
    results = {"rock": Peak(11.4023)}
    tracker = StepTracker({"2": 25, "2/2": 5}, {"reference_shots": 300,
                                                "weak": Quantity(200.0, "um")}, results)
    _open(tracker, "2", "for delay in ${delays}")
    _open(tracker, "2/delay[2]", "delay = 0.5 ps", delay=0.5)
    _open(tracker, "2/delay[2]/2", "repeat ${spots}× (spot)", delay=0.5)
    _open(tracker, "2/delay[2]/2/spot[1]", "spot = 1", delay=0.5, spot=1)
    _open(tracker, "2/delay[2]/2/spot[1]/8", "run reference: ${reference_shots} shots",
          delay=0.5, spot=1)
    assert tracker.location() == "delay 3/25 (0.5 ps) › spot 2/5 › run reference: 300 shots"
    assert tracker.location(leaf=False) == "delay 3/25 (0.5 ps) › spot 2/5"
    tracker(StepFinished("2/delay[2]/2/spot[1]/8", 1.0))
    _open(tracker, "2/delay[2]/2/spot[1]/7", "move theta → ${rock.center}", delay=0.5)
    assert tracker.location().endswith("› move theta → 11.4023")
    assert tracker.expand("set attenuator = ${weak}", {}) == "set attenuator = 200 um"
    assert tracker.expand("${not_known + 1}", {}) == "not_known + 1"   # never ${…}
    outside = StepTracker()
    _open(outside, "4", "rocking curve")
    assert outside.location(leaf=False) == "step 4"
    assert outside.location() == "step 4: rocking curve"


def test_expand_title_shows_lists_short():
    assert expand_title("for d in ${ds}", lambda _e: [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]) == \
        "for d in [1, 2, 3, 4, …]"


def test_the_shell_wraps_long_messages_at_words_with_a_hanging_indent():
    text = ("scan 2 stopped after 3 of 21 points; the points taken are kept in "
            "alignment/scan000002.h5, marked stopped\n  max 4023.2 at 11.39 deg")
    lines = wrap_lines(text, 40).split("\n")
    assert lines == ["scan 2 stopped after 3 of 21 points; the",
                     "  points taken are kept in",
                     "  alignment/scan000002.h5, marked",
                     "  stopped", "  max 4023.2 at 11.39 deg"]
    assert all(len(line) <= 40 for line in lines)
    assert wrap_lines("x" * 50, 40) == "x" * 50  # a word longer than the line stays whole


def test_lines_fit_at_word_boundaries_and_piped_output_is_not_padded(monkeypatch):
    text = "run 12 reference: 300 shots  [delay 3/25 (0.5 ps) › spot 2/5]"
    assert fit_line(text, 200) == text
    short = fit_line(text, 40)
    assert short == "run 12 reference: 300 shots  [delay…"
    assert fit_line(text, None) == text
    sink = io.StringIO()
    trimmed = _TrimmedLines(sink)
    trimmed.write("a   \nb")
    trimmed.write("  \nc ")
    trimmed.flush()
    assert sink.getvalue() == "a\nb\nc "
    monkeypatch.setenv("COLUMNS", "132")
    assert line_width(io.StringIO()) == 132
    monkeypatch.delenv("COLUMNS")
    assert line_width(io.StringIO()) is None


def test_scan_printer_prints_rows_as_they_arrive_within_the_width():
    lines: list[str] = []
    printer = ScanPrinter(lines.append, 80, where=lambda n: f"alignment/scan{n:06d}.h5")
    units = {"theta": "deg", "mpccd.roi0": "ADU", "pd_i0": "pC", "mpccd.roi1": "ADU",
             "mpccd.nphot": "counts"}
    printer(ScanOpened(7, "dscan", ("theta",), 9, 0.0, command="dscan theta -4 mdeg 4 mdeg 8",
                       signal="mpccd.roi0", i0="pd_i0", units=units))
    assert lines == ["scan 7  dscan theta -4 mdeg 4 mdeg 8  (9 points)"]
    xs = np.linspace(11.398, 11.406, 9)
    for i, x in enumerate(xs):
        printer(ScanPointTaken(7, i, {"theta": x, "pd_i0": 20.0, "mpccd.roi1": 1.0,
                                      "mpccd.nphot": 3.0,
                                      "mpccd.roi0": 20.0 * (5 + 100 * np.exp(
                                          -((x - 11.402) / 0.001) ** 2))}, 0.0))
        assert len(lines) == i + 3                           # header, titles, one row each
    assert all(len(line) <= 80 for line in lines)
    assert lines[1].split()[:4] == ["#", "theta", "[deg]", "mpccd.roi0"]
    assert lines[2].split()[:2] == ["1", "11.398000"]
    printer(ScanClosed(7, "stopped", 9, 1.0))
    assert lines[-3] == ("scan 7 stopped after 9 of 9 points; the points taken are kept in "
                         "alignment/scan000007.h5, marked stopped")
    assert lines[-2].startswith("  cen 11.402 deg  com 11.402 deg  fwhm ")
    assert "max 105 at 11.402 deg" in lines[-1]


def test_ct_reports_mean_sigma_units_and_the_normalised_signal():
    readings = [{"sig": 10.0 * k, "i0": 2.0 * k, "sig.saturated": 0.0} for k in (1, 2, 3, 4)]
    summary = count_summary(readings, "sig", "i0")
    assert summary["sig"]["mean"] == 25.0 and summary["sig"]["sigma"] == pytest.approx(12.91, 1e-3)
    assert summary["sig/i0"] == {"mean": 5.0, "sigma": 0.0, "n": 4.0}
    lines = format_counts(summary, {"sig": "ADU", "i0": "pC"}, ratio="sig/i0")
    assert lines[0].startswith("  i0") and " pC" in lines[0]
    assert "  sig     25 ± 12.9 ADU" in lines
    assert not any("saturated" in line for line in lines)   # zero saturation says nothing
    assert lines[-1].endswith("(Σ signal / Σ I0 ± standard error)")


def test_text_plot_stays_in_its_width_and_marks_the_centre():
    x = np.linspace(0, 1, 30)
    lines = text_plot(x, np.exp(-((x - 0.5) / 0.1) ** 2), width=60, height=10,
                      x_label="theta (deg)", y_label="roi0/i0", marks=[(0.5, "|")])
    assert all(len(line) <= 60 for line in lines)
    assert sum(line.count("*") for line in lines) == 30
    assert lines[-1].strip() == "roi0/i0 vs theta (deg)"
    assert text_plot([1.0], [2.0]) == ["(nothing to plot: 1 finite point)"]


def test_plain_notes_on_a_pipe_follow_columns_without_rich(monkeypatch, capsys):
    import sys

    from expctl.ui.output import print_plain

    monkeypatch.delitem(sys.modules, "rich.console", raising=False)
    monkeypatch.delenv("COLUMNS", raising=False)
    long = "note: " + "word " * 30
    print_plain(long, stderr=True)
    assert capsys.readouterr().err == long.rstrip() + "\n"  # piped, no COLUMNS: one line
    monkeypatch.setenv("COLUMNS", "40")
    print_plain(long, stderr=True)
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) > 1 and all(len(line) <= 40 for line in lines)
    assert " ".join(line.strip() for line in lines) == long.strip()
    assert "rich.console" not in sys.modules
