"""Alignment plots off the engine thread: queued, drawn on a worker thread, recorded when
written, failures reported as warnings, a bounded queue, and none at all with --no-plots."""

from __future__ import annotations

import threading
from concurrent.futures import Future
from pathlib import Path

import numpy as np
import pytest

from expctl.analysis import find_peak
from expctl.engine.events import AnalysisDone, EventBus, RunContext, StepStarted
from expctl.plans.stubs import decide_alignment
from expctl.runlog import attach, read_alignment
from expctl.runlog.catalog import Catalog
from expctl.ui.plotworker import BackgroundPlotter, PlotBacklogError

ROOT = Path(__file__).resolve().parents[3]
PNG = b"\x89PNG\r\n\x1a\n"


def _scan_events(rng, n: int = 1) -> list:
    """``n`` rocking curves, each followed by the decision it caused."""
    x = np.linspace(11.395, 11.405, 41)
    events = []
    for k in range(n):
        i0 = rng.gamma(20.0, 5.0, x.size)
        y = rng.poisson(i0 * (2.0 + 40.0 * np.exp(-0.5 * ((x - 11.4012) / 0.0006) ** 2)))
        peak = find_peak(x, y, i0=i0, model="gaussian")
        ctx = RunContext(sequence="s", step_path=f"1/spot[{k}]/4")
        inputs = {"axis": "theta", "x": tuple(x), "y": tuple(y.astype(float)),
                  "signal": "mpccd.roi0", "i0": tuple(i0)}
        events += [AnalysisDone("rock", peak, 10.0 + k, inputs, ctx),
                   AnalysisDone("rock_align", decide_alignment("theta", peak, 11.4),
                                10.5 + k, {}, ctx)]
    return events


class _HeldPlotter:
    """A plotter that draws only when the test says so (as a slow worker would)."""

    def __init__(self, fail: bool = False) -> None:
        self.release = threading.Event()
        self.fail = fail
        self.threads: list[threading.Thread] = []

    def __call__(self, scan, png: Path) -> Future:
        future: Future = Future()

        def draw() -> None:
            self.release.wait(10)
            if self.fail:
                future.set_exception(OSError(28, "No space left on device", str(png)))
            else:
                png.write_bytes(PNG)
                future.set_result(png)

        thread = threading.Thread(target=draw)
        thread.start()
        self.threads.append(thread)
        return future

    def join(self) -> None:
        for t in self.threads:
            t.join()


def test_a_queued_plot_is_recorded_once_it_is_written(tmp_path, rng) -> None:
    bus = EventBus()
    plotter = _HeldPlotter()
    handle = attach(bus, tmp_path, alignment_plotter=plotter)
    for event in _scan_events(rng):
        bus.publish(event)  # returns while the PNG is still being drawn
    assert handle.catalog.alignments()[0]["png"] is None
    plotter.release.set()
    plotter.join()
    bus.publish(StepStarted("2", "next step", 12.0))  # the next event records it
    (row,) = handle.catalog.alignments()
    assert row["png"] == "alignment/scan000001.png"
    assert handle.close() == [] and not bus.warnings


def test_a_failed_background_plot_is_a_warning_from_the_next_event(tmp_path, rng) -> None:
    bus = EventBus()
    plotter = _HeldPlotter(fail=True)
    handle = attach(bus, tmp_path, alignment_plotter=plotter)
    for event in _scan_events(rng):
        bus.publish(event)
    plotter.release.set()
    plotter.join()
    bus.publish(StepStarted("2", "next step", 12.0))  # never raises
    (warning,) = bus.warnings
    assert warning.text.startswith("alignment log failed on StepStarted: OSError: [Errno 28] "
                                   "No space left on device")
    assert handle.catalog.alignments()[0]["png"] is None  # no PNG, no path in the row
    assert handle.close() == []  # already reported


def test_failures_left_at_the_end_are_returned(tmp_path, rng) -> None:
    bus = EventBus()
    plotter = _HeldPlotter(fail=True)
    handle = attach(bus, tmp_path, alignment_plotter=plotter)
    for event in _scan_events(rng, 2):
        bus.publish(event)
    plotter.release.set()
    failures = handle.alignment.finish(plotter.join)
    assert len(failures) == 2 and all("No space left on device" in f for f in failures)
    assert not bus.warnings
    handle.close()


def test_the_worker_thread_draws_the_scans(tmp_path, rng) -> None:
    bus = EventBus()
    plotter = BackgroundPlotter()
    handle = attach(bus, tmp_path, alignment_plotter=plotter)
    try:
        for event in _scan_events(rng, 3):
            bus.publish(event)
        handle.alignment.finish(plotter.wait)
        rows = handle.catalog.alignments()
    finally:
        handle.close()
        plotter.close()
    assert plotter.drawn == 3 and plotter.pending == 0 and not bus.warnings
    for row in rows:
        assert (tmp_path / row["png"]).read_bytes()[:8] == PNG


@pytest.mark.slow
def test_a_worker_failure_names_the_file(tmp_path, rng) -> None:
    bus = EventBus()
    plotter = BackgroundPlotter()
    handle = attach(bus, tmp_path, alignment_plotter=plotter)
    (tmp_path / "alignment").mkdir(exist_ok=True)
    (tmp_path / "alignment" / "scan000001.png").mkdir()  # a directory where the PNG goes
    try:
        for event in _scan_events(rng):
            bus.publish(event)
        failures = handle.alignment.finish(plotter.wait)
    finally:
        handle.close()
        plotter.close()
    (failure,) = failures
    assert "scan000001.png" in failure and plotter.drawn == 0


def test_a_full_queue_leaves_the_scan_undrawn_and_says_so(tmp_path, rng) -> None:
    bus = EventBus()
    plotter = BackgroundPlotter(max_pending=0)
    handle = attach(bus, tmp_path, alignment_plotter=plotter)
    for event in _scan_events(rng):
        bus.publish(event)
    bus.publish(StepStarted("2", "next step", 12.0))
    (row,) = handle.catalog.alignments()
    handle.close()
    plotter.close()
    assert row["png"] is None and (tmp_path / row["file"]).exists()
    (warning,) = bus.warnings
    assert "the plot worker is 0 scans behind: scan000001.png is not drawn" in warning.text
    with pytest.raises(PlotBacklogError):
        plotter(read_alignment(tmp_path / row["file"]), tmp_path / "x.png")


@pytest.mark.parametrize("plots", [True, False])
@pytest.mark.slow
def test_the_cli_writes_plots_before_it_exits_unless_told_not_to(tmp_path, plots) -> None:
    from expctl.cli import main

    data = tmp_path / "data"
    argv = ["run", str(ROOT / "sequences" / "small.yaml"), "--set", "shots=3",
            "--data-dir", str(data), "--json"] + ([] if plots else ["--no-plots"])
    assert main(argv) == 0
    with Catalog(data, readonly=True) as cat:
        (row,) = cat.alignments()
    pngs = sorted((data / "alignment").glob("*.png"))
    if plots:
        assert row["png"] == "alignment/scan000001.png" and len(pngs) == 1
        assert pngs[0].read_bytes()[:8] == PNG
    else:
        assert row["png"] is None and pngs == []
    assert (data / "alignment" / "scan000001.h5").exists()
