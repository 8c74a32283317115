"""The HDF5 run writer: layout, metadata, NeXus, SWMR visibility and its failure messages."""

from __future__ import annotations

import json

import h5py
import numpy as np
import pytest
from nexusformat.nexus import nxload

from expctl.devices.protocols import RunRecord, ShotBlock
from expctl.engine.events import RunContext, RunStarted, RunStopped, ShotBlockTaken
from expctl.errors import DataError
from expctl.runlog import RunFileWriter, read_run, run_file_path
from expctl.testing.synthetic_events import synthetic_run


def _events(rng, run=7, shots=2500, block_size=1000, **kw):
    return synthetic_run(run, shots=shots, label="reference", laser=False, delay=1.5,
                         start_tag=1000, start_time=1.768e9, rng=rng, block_size=block_size,
                         **kw)


def test_one_file_per_run_with_smalldata_layout(tmp_path, rng):
    writer = RunFileWriter(tmp_path)
    for event in _events(rng):
        writer(event)
    path = run_file_path(tmp_path, 3, 7)
    assert path == tmp_path / "runs" / "bl3" / "run000007.h5"
    with h5py.File(path, "r") as f:
        per_shot = ["tag", "event_time", "lightStatus/xray", "lightStatus/laser", "pd_i0",
                    "beam/pulse_energy", "mpccd/ROI_0_sum", "mpccd/ROI_1_sum",
                    "mpccd/photon_nPhot", "scan/delay"]
        assert {f[k].shape for k in per_shot} == {(2500,)}
        assert np.all(f["scan/delay"][:] == 1.5)
        assert np.array_equal(f["tag"][:], 1000 + 2 * np.arange(2500))
        assert f["tag"].chunks is not None
        assert f["tag"].compression == "gzip"  # counters compress
        assert f["pd_i0"].compression is None  # shot noise does not: stored raw
        assert f["UserDataCfg/mpccd/roi0"][:].tolist() == [500, 540, 240, 280]
        assert f["UserDataCfg/pedestal"][()].decode() == "dark run"
        assert f["epicsOnce/theta"][()] == 11.4
        assert f["epicsOnce/pd_gain"][()].decode() == "high"
        assert f["Sums"].attrs["shots"] == 2500
        assert f["Sums/mpccd_raw"].shape == (8, 4)
        assert f["Sums/mpccd_ROI_0_sum"][()] == pytest.approx(np.sum(f["mpccd/ROI_0_sum"]))
        assert f["Sums/mpccd_ROI_0_sum"].attrs["units"] == "photons"
        a = f.attrs
        assert (a["run"], a["beamline"], a["hightag"]) == (7, 3, 202601)
        assert (a["start_tag"], a["end_tag"], a["shots"]) == (1000, 1000 + 2 * 2499, 2500)
        assert a["status"] == 0 and a["outcome"] == "completed"
        assert a["label"] == "reference" and a["sequence"] == "synthetic"
        assert json.loads(a["scan"]) == {"delay": 1.5}
        assert a["stop_time"] > a["start_time"]
        assert a["file_format"] == "expctl-smalldata/2"
        # NeXus: hard links, so the entry shares the data (no copy)
        assert f["entry"].attrs["NX_class"] == "NXentry"
        assert f["entry/data"].attrs["signal"] == "mpccd_ROI_0_sum"
        assert f["entry/data/mpccd_ROI_0_sum"].id == f["mpccd/ROI_0_sum"].id
        assert f["entry/end_time"][()].decode() == "2026-01-09T23:08:03.333333+00:00"


def test_nexus_reader_opens_run_file_without_warnings(tmp_path, rng):
    writer = RunFileWriter(tmp_path)
    for event in _events(rng, shots=10):
        writer(event)
    root = nxload(str(run_file_path(tmp_path, 3, 7)))  # filterwarnings=error makes any fatal
    assert root.entry.nxclass == "NXentry"
    assert root.entry.data.nxsignal.nxname == "mpccd_ROI_0_sum"
    assert root.entry.data.nxsignal.shape == (10,)
    assert root.entry.data.nxaxes[0].nxname == "tag"


def test_reader_follows_a_run_while_it_is_written(tmp_path, rng):
    events = _events(rng, shots=3000, block_size=1000)
    writer = RunFileWriter(tmp_path)
    path = run_file_path(tmp_path, 3, 7)
    writer(events[0])
    writer(events[1])
    first = read_run(path)  # the writer holds the file open in SWMR mode
    assert first.shots == 1000 and first.attrs["outcome"] == "running"
    writer(events[2])
    assert read_run(path).shots == 2000
    for event in events[3:]:
        writer(event)
    done = read_run(path)
    assert done.shots == 3000 and done.attrs["outcome"] == "completed"
    assert writer.open_runs == ()


def test_full_frames_are_per_shot_datasets(tmp_path, rng):
    record = RunRecord(7, 3, 202601, 10, None, 0.0, None, 2, 0)
    ctx = RunContext(label="dark")
    writer = RunFileWriter(tmp_path)
    writer(RunStarted(record, ctx, 0.0))
    frames = rng.normal(size=(3, 16, 8))
    writer(ShotBlockTaken(ShotBlock(7, {"tag": np.array([10, 12, 14])},
                                    frames={"mpccd": frames}), ctx, 0.1))
    writer(RunStopped(RunRecord(7, 3, 202601, 10, 14, 0.0, 0.1, 0, 3), "completed", 0.1, ctx))
    with h5py.File(run_file_path(tmp_path, 3, 7), "r") as f:
        assert f["mpccd/frames"].shape == (3, 16, 8)
        assert f["mpccd/frames"].chunks == (1, 16, 8)
        np.testing.assert_array_equal(f["mpccd/frames"][:], frames)


def test_keys_that_come_and_go_keep_lengths_equal_and_are_reported(tmp_path):
    record = RunRecord(9, 3, 202601, 10, None, 0.0, None, 2, 0)
    ctx = RunContext()
    writer = RunFileWriter(tmp_path)
    writer(RunStarted(record, ctx, 0.0))
    writer(ShotBlockTaken(ShotBlock(9, {"tag": np.arange(2), "pd_i0": np.ones(2)}), ctx, 0))
    writer(ShotBlockTaken(ShotBlock(9, {"tag": np.arange(2, 5), "new": np.ones(3)}), ctx, 0))
    writer(RunStopped(RunRecord(9, 3, 202601, 10, 4, 0.0, 1.0, 0, 5), "aborted", 1.0, ctx))
    with h5py.File(run_file_path(tmp_path, 3, 9), "r") as f:
        assert f["pd_i0"].shape == f["tag"].shape == (5,)
        assert np.isnan(f["pd_i0"][2:]).all()
        assert "new" not in f
        assert f.attrs["outcome"] == "aborted"
        problems = json.loads(f.attrs["problems"])
    assert problems == ["'new' first appeared after shot 2; not logged",
                        "'pd_i0' missing for shots 2..5"]


def test_failure_messages(tmp_path, rng):
    writer = RunFileWriter(tmp_path)
    events = _events(rng, shots=5)
    with pytest.raises(DataError, match="shot block for run 7, which is not being written"):
        writer(events[1])
    writer(events[0])
    with pytest.raises(DataError, match="run 7 is already being written"):
        writer(events[0])
    bad = ShotBlock(7, {"tag": np.arange(5), "pd_i0": np.ones(4)})
    with pytest.raises(DataError, match="per-shot data 'pd_i0' of run 7 has 4 entries for 5"):
        writer(ShotBlockTaken(bad, events[1].context, 0.0))
    for event in events[1:]:
        writer(event)
    with pytest.raises(DataError, match="already exists; run numbers are never reused"):
        writer(events[0])
    with pytest.raises(DataError, match="run 7 stopped but was never started here"):
        writer(events[-1])


def test_a_short_run_is_written_whole_at_its_stop(tmp_path, rng):
    """Built in memory: the file holds the start until the stop replaces it whole, and the
    writer knows the checksum of what it wrote."""
    from expctl.runlog import file_checksum

    events = _events(rng, shots=30, block_size=10)
    writer = RunFileWriter(tmp_path)
    path = run_file_path(tmp_path, 3, 7)
    writer(events[0])
    started = read_run(path)
    assert started.shots == 0 and started.attrs["outcome"] == "running"
    for event in events[1:-1]:
        writer(event)
    assert read_run(path).shots == 0  # the blocks are in memory
    writer(events[-1])
    written = writer.written(7)
    assert written is not None and written.shots == 30 and written.path == path
    assert written.checksum == file_checksum(path)
    assert read_run(path).shots == 30 and writer.written(7) is None  # (handed over once)
    assert not path.with_name(path.name + ".partial").exists()


def test_a_slow_run_streams_from_its_first_block(tmp_path, rng):
    events = _events(rng, shots=30, block_size=10)
    writer = RunFileWriter(tmp_path, stream_after_s=0.0)  # every block counts as late
    path = run_file_path(tmp_path, 3, 7)
    writer(events[0])
    writer(events[1])
    assert read_run(path).shots == 10  # on disk, SWMR, as it is taken
    for event in events[2:]:
        writer(event)
    assert read_run(path).shots == 30 and writer.written(7).checksum is None


def test_closing_with_a_run_in_memory_keeps_its_shots(tmp_path, rng):
    events = _events(rng, shots=30, block_size=10)
    writer = RunFileWriter(tmp_path)
    for event in events[:3]:
        writer(event)
    writer.close()  # (the engine stopped without a RunStopped)
    left = read_run(run_file_path(tmp_path, 3, 7))
    assert left.shots == 20 and left.attrs["outcome"] == "running"  # recovery's to close


def _columns_of(path):
    """Every per-shot (growing) 1-D dataset of a run file: its dtype and raw bytes."""
    out = {}

    def visit(name, obj):
        if isinstance(obj, h5py.Dataset) and obj.ndim == 1 and obj.maxshape[0] is None:
            out[name] = (obj.dtype.str, obj[()].tobytes())

    with h5py.File(path, "r") as f:
        f.visititems(visit)
    return out


@pytest.mark.parametrize("stream_after_shots", [15, 1000])
def test_blocks_kept_back_in_memory_write_the_same_columns_as_streamed_ones(
        tmp_path, stream_after_shots):
    """A run in memory writes each column once (its blocks joined) when it streams or
    stops; a column whose blocks change dtype or miss a block is written block by block:
    the columns equal those of a run streamed block by block from its first."""
    record = RunRecord(9, 3, 202601, 10, None, 0.0, None, 2, 0)
    ctx = RunContext()
    blocks = [{"tag": np.arange(0, 10), "pd_i0": np.linspace(0, 1, 10), "gain": np.ones(10)},
              {"tag": np.arange(10, 20), "pd_i0": np.linspace(1, 2, 10),
               "gain": np.arange(10, dtype=np.int64)},
              {"tag": np.arange(20, 30)},
              {"tag": np.arange(30, 40), "pd_i0": np.full(10, 0.1), "gain": np.zeros(10)}]
    files = []
    for name, kw in (("kept", {"stream_after_shots": stream_after_shots}),
                     ("streamed", {"stream_after_s": 0.0})):
        writer = RunFileWriter(tmp_path / name, **kw)
        writer(RunStarted(record, ctx, 0.0))
        for data in blocks:
            writer(ShotBlockTaken(ShotBlock(9, data), ctx, 0.0))
        writer(RunStopped(RunRecord(9, 3, 202601, 10, 49, 0.0, 1.0, 0, 40), "completed",
                          1.0, ctx))
        writer.close()
        files.append(_columns_of(run_file_path(tmp_path / name, 3, 9)))
    kept, streamed = files
    assert {"tag", "pd_i0", "gain"} <= {name.rsplit("/", 1)[-1] for name in kept}
    assert kept == streamed


def test_two_writers_in_one_process_each_keep_a_run_in_memory(tmp_path):
    """Two sessions in one script (two data directories) write at the same time: their
    in-memory files and kept trees do not share a name."""
    record = RunRecord(9, 3, 202601, 10, None, 0.0, None, 2, 0)
    ctx = RunContext()
    writers = [RunFileWriter(tmp_path / name) for name in ("a", "b")]
    for writer in writers:
        writer(RunStarted(record, ctx, 0.0))
        writer(ShotBlockTaken(ShotBlock(9, {"tag": np.arange(3)}), ctx, 0.0))
    for writer in writers:
        writer(RunStopped(RunRecord(9, 3, 202601, 10, 2, 0.0, 1.0, 0, 3), "completed",
                          1.0, ctx))
        writer.close()
    assert [read_run(run_file_path(tmp_path / name, 3, 9)).shots for name in "ab"] == [3, 3]
