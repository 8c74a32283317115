"""Scan records and the logbook, written from engine events only (no engine needed)."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from expctl.engine.events import (
    AnalysisDone,
    CommentAdded,
    EventBus,
    RunStarted,
    RunStopped,
    ScanClosed,
    ScanOpened,
    ScanPointTaken,
    StateChanged,
    StepStarted,
)
from expctl.plans.stubs import AlignmentDecision
from expctl.runlog import Catalog, attach, read_alignment
from expctl.runlog.logbook import read_logbook
from expctl.runlog.scans import read_scan_columns, scan_file
from tests.unit.runlog.test_alignment import _rocking_events


def _opened(number: int, points: int = 11) -> ScanOpened:
    return ScanOpened(number, "dscan", ("theta",), points, 1.0, detectors=("mpccd", "pd_i0"),
                      command="dscan theta -5 mdeg 5 mdeg 10", signal="mpccd.roi0", i0="pd_i0",
                      units={"theta": "deg", "mpccd.roi0": "ADU", "pd_i0": "pC"})


def _points(number: int, n: int):
    xs = np.linspace(11.397, 11.407, 11)[:n]
    for i, x in enumerate(xs):
        yield ScanPointTaken(number, i, {"theta": float(x), "pd_i0": 20.0, "state": "open",
                                         "mpccd.roi0": float(20 * (3 + 200 * np.exp(
                                             -((x - 11.402) / 0.0012) ** 2)))}, 1.0 + i)


@pytest.fixture
def logged(tmp_path):
    bus = EventBus()
    handle = attach(bus, tmp_path)
    yield bus, handle, tmp_path
    handle.close()


def test_a_completed_scan_is_a_numbered_row_and_a_file_with_units_and_stats(logged):
    bus, handle, data = logged
    number = handle.scans.reserve()
    for event in (_opened(number), *_points(number, 11), ScanClosed(number, "completed", 11,
                                                                     12.0)):
        bus.publish(event)
    row = Catalog(data, readonly=True).scan(number)
    assert (row["kind"], row["outcome"], row["points"], row["planned"], row["unit"]) == (
        "dscan", "completed", 11, 11, "deg")
    assert row["center"] == pytest.approx(11.402, abs=2e-4) and row["result"]["ok"]
    scan = read_scan_columns(scan_file(data, number))
    assert scan.columns["theta"].shape == (11,) and scan.units["theta"] == "deg"
    assert "state" not in scan.columns                        # words are not columns
    assert scan.result["cen"] == pytest.approx(row["result"]["cen"])
    # the same file reads as an alignment scan (one reader, one table)
    old = read_alignment(scan_file(data, number))
    assert old.axis == "theta" and old.normalized == pytest.approx(
        scan.columns["mpccd.roi0"] / 20.0)
    with h5py.File(scan_file(data, number)) as f:
        assert f["entry/data/position"][()] == pytest.approx(scan.columns["theta"])


def test_a_stopped_scan_keeps_its_points_and_a_move_made_with_it_is_recorded(logged):
    bus, handle, data = logged
    number = handle.scans.reserve()
    for event in (_opened(number), *_points(number, 4), ScanClosed(number, "stopped", 4, 5.0)):
        bus.publish(event)
    bus.publish(AnalysisDone("scan1_cen", AlignmentDecision("theta", True, 11.4, "cen of scan"),
                             6.0, {"scan": number}))
    row = Catalog(data, readonly=True).scan(number)
    assert (row["outcome"], row["points"], row["planned"]) == ("stopped", 4, 11)
    assert row["moved_to"] == {"axis": "theta", "moved": True, "target": 11.4,
                               "reason": "cen of scan"}
    assert read_scan_columns(scan_file(data, number)).moved_to["target"] == 11.4
    from expctl.runlog import file_checksum

    assert row["checksum"] == file_checksum(scan_file(data, number))  # updated after the move


def test_a_scan_a_crashed_session_left_open_is_recovered_as_incomplete(tmp_path):
    bus = EventBus()
    handle = attach(bus, tmp_path)
    number = handle.scans.reserve()
    for event in (_opened(number), *_points(number, 3)):
        bus.publish(event)
    handle.close()                                             # no ScanClosed: a crash
    handle = attach(EventBus(), tmp_path)
    try:
        row = handle.catalog.scan(number)
        assert (row["outcome"], row["points"]) == ("incomplete", 3)
    finally:
        handle.close()


def test_scans_and_alignment_scans_share_one_numbering(logged, rng):
    bus, handle, data = logged
    first = handle.scans.reserve()
    for event in (_opened(first), *_points(first, 3), ScanClosed(first, "completed", 3, 4.0)):
        bus.publish(event)
    _, events = _rocking_events(rng)
    for event in events:
        bus.publish(event)
    rows = Catalog(data, readonly=True).alignments()
    assert [(r["id"], r["kind"]) for r in rows] == [(first, "dscan"), (first + 1, "alignment")]


def test_comments_are_filed_with_the_run_and_scan_going_on(logged):
    from types import SimpleNamespace

    bus, handle, data = logged
    bus.publish(CommentAdded("before anything", 0.5, "op"))
    number = handle.scans.reserve()
    bus.publish(_opened(number))
    record = SimpleNamespace(run=17, label="ref", shots=0, beamline=3, start_time=0.0,
                             hightag=1, start_tag=1, comment="", detectors=())
    handle.logbook(RunStarted(record, SimpleNamespace(sequence="small"), 2.0))
    bus.publish(CommentAdded("beam unstable", 2.5, "op"))
    handle.logbook(RunStopped(record, "completed", 3.0))
    bus.publish(CommentAdded("after the run", 3.5, "op"))
    notes = list(read_logbook(data))
    assert [(n["text"], n["run"], n["run_running"], n["scan"]) for n in notes] == [
        ("before anything", None, 0, None), ("beam unstable", 17, 1, number),
        ("after the run", 17, 0, number)]
    assert [n["text"] for n in read_logbook(data, run=17)] == ["beam unstable", "after the run"]
    assert handle.logbook.last == {"comment": 3, "run": 17, "scan": number, "step": ""}


def test_a_comment_after_a_sequence_ended_is_not_filed_with_its_last_step(logged):
    from types import SimpleNamespace

    bus, handle, data = logged
    record = SimpleNamespace(run=4, label="ref", shots=0, beamline=3, start_time=0.0,
                             hightag=1, start_tag=1, comment="", detectors=())
    handle.logbook(StepStarted("6", "run reference", 1.0))
    handle.logbook(RunStarted(record, SimpleNamespace(sequence="small"), 1.5))
    bus.publish(CommentAdded("during step 6", 2.0, "op"))
    handle.logbook(RunStopped(record, "completed", 3.0))
    handle.logbook(StateChanged("running", "idle", 4.0))
    bus.publish(CommentAdded("after the sequence", 5.0, "op"))
    notes = [(n["text"], n["run"], n["sequence"], n["step_path"]) for n in read_logbook(data)]
    assert notes == [("during step 6", 4, "small", "6"), ("after the sequence", 4, "", "")]
