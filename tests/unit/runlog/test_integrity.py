"""expctl check, catalog rebuild and recover: each inconsistency found, named and repairable."""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from expctl.engine.events import EventBus
from expctl.errors import CorruptFileError, StorageLockedError
from expctl.paths import DataDir, UnsafePathError
from expctl.runlog import Catalog, RunFileWriter, attach, rebuild_catalog
from expctl.runlog.integrity import check_data_dir
from expctl.runlog.lease import take_lease
from expctl.runlog.recovery import recover
from expctl.testing.synthetic_events import synthetic_run


@pytest.fixture
def data(campaign, tmp_path):
    """A private copy of the shared synthetic campaign (136 runs)."""
    target = tmp_path / "data"
    shutil.copytree(campaign, target)
    return target


def _kinds(report):
    return sorted((f.kind, f.run) for f in report.problems)


def test_a_fresh_campaign_is_consistent(data) -> None:
    report = check_data_dir(data)
    assert report.consistent, report.findings
    assert report.runs == 136 and report.files_verified == 136


def test_missing_changed_and_foreign_files_are_each_named(data) -> None:
    layout = DataDir(data)
    layout.run_file(3, 5).unlink()                               # dangling row
    path = layout.run_file(3, 6)
    raw = bytearray(path.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    path.write_bytes(bytes(raw))                                 # changed since its stop
    layout.run_file(3, 7).write_bytes(b"not hdf5 at all")        # unreadable
    shutil.copy(layout.run_file(3, 8), layout.run_file(3, 900))  # orphan (a copy of run 8)
    with sqlite3.connect(layout.catalog) as db:
        db.execute("UPDATE runs SET label = 'other' WHERE run = 9")  # metadata differs
    db.close()
    report = check_data_dir(data)
    assert _kinds(report) == [("checksum", 6), ("metadata", 9), ("missing-file", 5),
                              ("orphan", 900), ("unreadable", 7)]
    by_kind = {f.kind: f for f in report.problems}
    assert by_kind["metadata"].message == (
        "run 9: catalog and file disagree (label: catalog 'other', file 'reference')")
    assert by_kind["missing-file"].remedy.startswith("Restore it from a copy (its SHA-256 is ")
    assert "run000900.h5 has no catalog row" in by_kind["orphan"].message


def test_runs_left_running_partials_and_bad_journals_are_unfinished_business(data) -> None:
    layout = DataDir(data)
    with sqlite3.connect(layout.catalog) as db:
        db.execute("UPDATE runs SET status = 2, outcome = 'running' WHERE run = 3")
    db.close()
    layout.partial(layout.run_file(3, 700)).write_bytes(b"")
    layout.journal.mkdir()
    (layout.journal / "bad.jsonl").write_bytes(b"\xff\n")
    report = check_data_dir(data)
    assert _kinds(report) == [("journal", None), ("partial", 700), ("unfinished", 3)]
    assert [f.remedy for f in report.problems if f.kind == "unfinished"] == [
        "`expctl catalog recover` closes it now (the next `expctl run` or `expctl resume` "
        "does too)."]
    # a live writer's run is a note, not a problem
    lease = take_lease(layout, 3, 3)
    try:
        live = check_data_dir(data)
    finally:
        lease.release()
    assert ("unfinished", 3) not in _kinds(live)
    assert any(f.kind == "running" and not f.problem for f in live.findings)


def test_recover_closes_what_check_found_and_the_directory_is_consistent_again(data) -> None:
    layout = DataDir(data)
    with sqlite3.connect(layout.catalog) as db:
        db.execute("UPDATE runs SET status = 2, outcome = 'running' WHERE run = 3")
    db.close()
    shutil.copy(layout.run_file(3, 8), layout.run_file(3, 900))
    with Catalog(data) as catalog:
        assert recover(catalog) == [3, 900]
        rows = {r.run: r for r in catalog.rows()}
    assert (rows[3]["status"], rows[3]["outcome"]) == (0, "incomplete")
    assert rows[900]["outcome"] == "completed" and rows[900]["shots"] == rows[8]["shots"]
    report = check_data_dir(data)
    # run 900's file is a copy of run 8's: its own attributes say run 8
    assert _kinds(report) == [("metadata", 900)]


def test_rebuild_recreates_every_row_from_the_files(data) -> None:
    with Catalog(data, readonly=True) as catalog:
        before = [r.as_dict() for r in catalog.rows()]
        scans = catalog.alignments()
    DataDir(data).catalog.write_bytes(b"garbage" * 100)           # the catalog is lost
    assert [f.kind for f in check_data_dir(data).problems] == ["catalog"]
    report = rebuild_catalog(data)
    assert report.runs == [r["run"] for r in before] and report.lost_rows == []
    assert report.old_catalog is not None and report.old_catalog.exists()
    with Catalog(data, readonly=True) as catalog:
        after = [r.as_dict() for r in catalog.rows()]
    assert after == before
    assert len(report.scans) == len(scans)
    assert check_data_dir(data).consistent


def test_rebuild_refuses_while_another_process_has_the_catalog_open(data) -> None:
    holder = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(f"""
            import sqlite3, sys
            db = sqlite3.connect({str(DataDir(data).catalog)!r})
            db.execute("SELECT count(*) FROM runs").fetchone()
            print("open", flush=True)
            sys.stdin.readline()
        """)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "open"
        with pytest.raises(StorageLockedError) as err:
            rebuild_catalog(data)
    finally:
        holder.stdin.close()
        holder.wait(timeout=30)
        holder.stdout.close()
    assert f"it is open in process {holder.pid} (python -c" in err.value.message


def test_reading_writes_nothing_beside_the_catalog(data) -> None:
    before = sorted(p.name for p in data.iterdir())
    with Catalog(data, readonly=True) as catalog:
        assert len(list(catalog.rows())) == 136
    assert sorted(p.name for p in data.iterdir()) == before  # no -wal, no -shm


def test_a_catalog_with_a_wal_left_by_a_killed_writer_reads_through_a_snapshot(tmp_path) -> None:
    data = tmp_path / "data"
    child = textwrap.dedent(f"""
        import os, numpy as np
        from expctl.engine.events import EventBus
        from expctl.runlog import attach
        from expctl.testing.synthetic_events import synthetic_run
        bus = EventBus()
        attach(bus, {str(data)!r})
        for e in synthetic_run(1, shots=10, label="r", laser=False, delay=0.0, start_tag=1,
                               start_time=1.0, rng=np.random.default_rng(1)):
            bus.publish(e)
        os._exit(0)  # no checkpoint: the row is only in the WAL
    """)
    subprocess.run([sys.executable, "-c", child], check=True, timeout=60)
    wal, shm = data / "catalog.sqlite-wal", data / "catalog.sqlite-shm"
    assert wal.stat().st_size > 0
    shm.unlink()  # as after copying an archive without it
    with Catalog(data, readonly=True) as catalog:
        assert [r.run for r in catalog.rows()] == [1]
    assert not shm.exists()


def test_a_symlink_planted_among_the_run_files_is_refused(tmp_path) -> None:
    data, outside = tmp_path / "data", tmp_path / "elsewhere.h5"
    bus = EventBus()
    handle = attach(bus, data)
    DataDir(data).run_dir(3).mkdir(parents=True)
    DataDir(data).run_file(3, 1).symlink_to(outside)
    start = synthetic_run(1, shots=5, label="x", laser=False, delay=0.0, start_tag=1,
                          start_time=0.0, rng=np.random.default_rng(0))[0]
    with pytest.raises(Exception) as err:
        bus.publish(start)
    handle.close()
    assert err.value.paragraph() == (
        f"refusing to write {DataDir(data).run_file(3, 1)}: it is a symbolic link to "
        f"{outside}. expctl never writes through links inside the data directory; remove the "
        "link (and check who planted it).")
    assert not outside.exists()


def test_a_run_folder_swapped_for_a_link_between_runs_is_refused(tmp_path) -> None:
    """The writer remembers the run folder it checked; a folder put in its place (here a
    link leading out of the data directory) is checked again, not trusted."""
    data, outside = tmp_path / "data", tmp_path / "elsewhere"
    outside.mkdir()
    writer = RunFileWriter(data)
    for event in synthetic_run(1, shots=5, label="x", laser=False, delay=0.0, start_tag=1,
                               start_time=0.0, rng=np.random.default_rng(0)):
        writer(event)
    folder = DataDir(data).run_dir(3)
    folder.rename(tmp_path / "kept")
    folder.symlink_to(outside)
    start = synthetic_run(2, shots=5, label="x", laser=False, delay=0.0, start_tag=10,
                          start_time=1.0, rng=np.random.default_rng(0))[0]
    with pytest.raises(UnsafePathError, match="outside the data directory"):
        writer(start)
    writer.close()
    assert list(outside.iterdir()) == []


def test_a_corrupt_row_value_is_a_corrupt_catalog_not_a_bug(data) -> None:
    with sqlite3.connect(DataDir(data).catalog) as db:
        db.execute("UPDATE runs SET scan = '{' WHERE run = 4")
    db.close()
    with Catalog(data, readonly=True) as catalog, pytest.raises(CorruptFileError) as err:
        catalog.get(4)
    assert "holds a damaged 'scan' value in run 4" in err.value.message


def test_the_layout_marker_is_written_and_a_newer_layout_refused(tmp_path) -> None:
    data = tmp_path / "data"
    attach(EventBus(), data).close()
    assert json.loads(DataDir(data).layout_marker.read_text())["layout"] == 2
    DataDir(data).layout_marker.write_text('{"layout": 3}')
    with pytest.raises(Exception) as err:
        Catalog(data, readonly=True)
    assert err.value.paragraph() == (
        f"{data} holds data in layout 3; this expctl reads layouts up to 2. Use a newer "
        "expctl to read it.")
