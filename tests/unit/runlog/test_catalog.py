"""The SQLite catalog and the --where language."""

from __future__ import annotations

import sqlite3

import h5py
import pytest

from expctl.errors import DataError, UserError
from expctl.runlog import Catalog, file_checksum, parse_where


def test_one_row_per_run_agreeing_with_the_files(campaign):
    with Catalog(campaign, readonly=True) as catalog:
        rows = list(catalog.rows())
        assert [r.run for r in rows] == list(range(1, 17 * 4 * 2 + 1))
        for row in rows[:6]:
            path = catalog.file_of(row.run)
            assert file_checksum(path) == row["checksum"]
            with h5py.File(path, "r") as f:
                assert f["tag"].shape[0] == row["shots"] == f.attrs["shots"]
                assert (f.attrs["start_tag"], f.attrs["end_tag"]) == (row["start_tag"],
                                                                      row["end_tag"])
                assert f.attrs["label"] == row["label"]
                assert f.attrs["step_path"] == row["step_path"]
    assert rows[0]["label"] == "reference" and rows[1]["label"] == "pumped"
    assert rows[1]["scan"] == {"delay": -1.0} and rows[1]["loop"] == {"delay": -1.0, "spot": 0}
    assert rows[1]["status"] == 0 and rows[1]["outcome"] == "completed"
    assert rows[1]["file"] == "runs/bl3/run000002.h5"


def test_catalog_is_in_wal_mode(campaign):
    db = sqlite3.connect(campaign / "catalog.sqlite")
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    db.close()


def test_unknown_run_names_the_known_range(campaign, tmp_path):
    with Catalog(campaign, readonly=True) as catalog, pytest.raises(DataError) as err:
        catalog.get(999)
    assert "run 999 is not in the catalog" in str(err.value)
    assert "(allowed: 1 .. 136)" in str(err.value)
    with pytest.raises(DataError, match="no run catalog at .*nowhere"):
        Catalog(tmp_path / "nowhere", readonly=True)


@pytest.mark.parametrize(("expr", "expected"), [
    ("label==pumped and delay>0 and run<40", [34, 36, 38]),
    ("label == 'pumped' and delay >= 8", [130, 132, 134, 136]),
    ("delay > 7500 fs and not label==reference", [130, 132, 134, 136]),
    ("run in (1, 2, 999)", [1, 2]),
    ("(run < 3 or run > 135) and shots == 200", [1]),
    ("step_path ~ '*reference' and spot == 3 and delay == -1", [7]),
    ("params.spots_per_delay == 4 and run <= 2", [1, 2]),
    ("nonexistent > 1", []),
])
def test_where_selects_runs(campaign, expr, expected):
    select = parse_where(expr)
    with Catalog(campaign, readonly=True) as catalog:
        got = [r.run for r in catalog.rows() if select(r.values)]
    assert got == expected


@pytest.mark.parametrize(("expr", "message"), [
    ("label==", "--where 'label==': expected a value, found end of expression at column 8"),
    ("run >> 3", "--where 'run >> 3': expected a value, found '>' at column 6"),
    ("(run < 3", "--where '(run < 3': expected ')', found end of expression at column 9"),
    ("__import__('os')", "--where \"__import__('os')\": unexpected '(' at column 11"),
    ("run; drop", "--where 'run; drop': unexpected ';' at column 4"),
    ("  ", "--where '  ': empty expression at column 1"),
])
def test_where_errors_name_the_column(expr, message):
    with pytest.raises(UserError) as err:
        parse_where(expr)
    assert str(err.value).startswith(message)
    assert "allowed: comparisons" in str(err.value)
    assert err.value.exit_code == 2


@pytest.mark.parametrize("in_memory_below, while_running", [(1000, 0), (15, 30)])
def test_a_runs_shot_count_is_committed_per_block_once_the_writer_streams_it(
        tmp_path, monkeypatch, in_memory_below, while_running):
    """A short run (kept in memory by the writer) has its count recorded at its stop, no
    commit per block; past the writer's bound every block is counted as it comes; a
    catalog closed mid-run keeps what was taken."""
    import numpy as np

    from expctl.engine.events import ShotBlockTaken
    from expctl.runlog import catalog as catalog_module
    from expctl.testing.synthetic_events import synthetic_run

    monkeypatch.setattr(catalog_module, "STREAM_AFTER_SHOTS", in_memory_below)
    events = synthetic_run(1, shots=30, label="x", laser=False, delay=0.0, start_tag=1,
                           start_time=0.0, rng=np.random.default_rng(0), block_size=10)
    assert sum(isinstance(e, ShotBlockTaken) for e in events) == 3

    def shots_in_row() -> int:
        with Catalog(tmp_path, readonly=True) as reader:
            return reader.get(1)["shots"]

    catalog = Catalog(tmp_path)
    for event in events[:-1]:
        catalog(event)
    assert shots_in_row() == while_running
    catalog(events[-1])
    assert shots_in_row() == 30
    catalog.close()
    catalog = Catalog(tmp_path / "closed")
    for event in events[:-1]:
        catalog(event)
    catalog.close()  # (the run never stopped: its lease is given back, its count kept)
    with Catalog(tmp_path / "closed", readonly=True) as reader:
        assert reader.get(1)["shots"] == 30
