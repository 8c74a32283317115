"""kill -9 during a run: earlier files intact, the interrupted one readable and recovered."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap

import h5py
import pytest
from nexusformat.nexus import nxload

from expctl.engine.events import EventBus
from expctl.errors import DataError
from expctl.runlog import Catalog, attach, file_checksum, read_run, run_file_path

_CHILD = textwrap.dedent("""
    import os, signal, sys
    import numpy as np
    from expctl.engine.events import EventBus
    from expctl.runlog import attach
    from expctl.testing.synthetic_events import synthetic_run
    bus = EventBus()
    attach(bus, sys.argv[1])
    rng = np.random.default_rng(1)
    for e in synthetic_run(1, shots=500, label="reference", laser=False, delay=0.0,
                           start_tag=100, start_time=1.768e9, rng=rng):
        bus.publish(e)
    events = synthetic_run(2, shots=5000, label="pumped", laser=True, delay=0.5,
                           start_tag=2000, start_time=1.768e9 + 60, rng=rng, block_size=1000)
    for e in events[:3]:  # start + two blocks of 1000 shots, then the power cord
        bus.publish(e)
    os.kill(os.getpid(), signal.SIGKILL)
""")


@pytest.fixture
def crashed(tmp_path):
    data_dir = tmp_path / "data"
    proc = subprocess.run([sys.executable, "-c", _CHILD, str(data_dir)], capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    return data_dir


def test_kill_9_leaves_earlier_files_intact_and_the_interrupted_run_readable(crashed):
    with Catalog(crashed, readonly=True) as catalog:
        first, second = catalog.get(1), catalog.get(2)
    assert first["outcome"] == "completed"
    assert file_checksum(crashed / first["file"]) == first["checksum"]
    with h5py.File(crashed / first["file"], "r") as f:
        assert f["tag"].shape == (500,)
    assert (second["status"], second["outcome"], second["shots"]) == (2, "running", 2000)
    partial = read_run(run_file_path(crashed, 3, 2))  # through an SWMR reader
    assert partial.shots == 2000
    assert {len(v) for v in partial.columns.values()} == {2000}


def test_next_start_marks_the_run_incomplete_and_makes_its_file_ordinary(crashed):
    bus = EventBus()
    handle = attach(bus, crashed)
    assert handle.recovered == [2]
    row = handle.catalog.get(2)
    handle.close()
    assert (row["status"], row["outcome"], row["shots"]) == (0, "incomplete", 2000)
    assert row["end_tag"] == 2000 + 2 * 1999
    path = run_file_path(crashed, 3, 2)
    assert row["checksum"] == file_checksum(path)
    with h5py.File(path, "r") as f:  # no SWMR flag any more
        assert f.attrs["outcome"] == "incomplete"
        assert f["mpccd/ROI_0_sum"].shape == (2000,)
        assert f["entry/data/pd_i0"].id == f["pd_i0"].id  # NeXus links restored
    assert nxload(str(path)).entry.data.nxsignal.shape == (2000,)
    # a second attach finds nothing left to recover
    again = attach(EventBus(), crashed)
    assert again.recovered == []
    again.close()


def test_run_numbers_are_never_reused(crashed):
    import numpy as np

    from expctl.testing.synthetic_events import synthetic_run

    handle = attach(EventBus(), crashed)
    start = synthetic_run(2, shots=1, label="x", laser=False, delay=0.0, start_tag=1,
                          start_time=0.0, rng=np.random.default_rng(0))[0]
    with pytest.raises(DataError) as err:
        handle(start)
    assert err.value.paragraph() == (
        f"run 2 is already in the catalog {crashed / 'catalog.sqlite'} (file "
        "runs/bl3/run000002.h5); run numbers are never reused. Check that the facility run "
        "counter was not reset.")
    handle.close()


@pytest.mark.parametrize("left_behind", ["never_swmr", "garbage"])
def test_files_killed_before_swmr_or_first_flush_are_recovered_or_set_aside(crashed,
                                                                             left_behind):
    """A kill between creating the file and its first SWMR flush must not stop the next start."""
    path = run_file_path(crashed, 3, 2)
    path.unlink()
    if left_behind == "never_swmr":  # created, attributes written, SWMR not yet switched on
        with h5py.File(path, "w", libver="latest") as f:
            f.attrs["run"] = 2
            f.create_dataset("tag", data=[2000, 2002, 2004])
    else:
        path.write_bytes(b"\x89HDF\r\n\x1a\n" + b"\0" * 64)  # a header and nothing else
    handle = attach(EventBus(), crashed)
    row = handle.catalog.get(2).as_dict()
    handle.close()
    assert (row["status"], row["outcome"]) == (0, "incomplete")
    if left_behind == "never_swmr":
        with h5py.File(path, "r") as f:  # an ordinary file again, marked as such
            assert row["shots"] == 3 and f.attrs["outcome"] == "incomplete"
    else:
        assert row["shots"] == 0 and not path.exists()
        assert path.with_suffix(".unreadable.h5").exists()


_KILLED_AMENDING = textwrap.dedent("""
    import os, signal, sys
    from pathlib import Path
    from expctl.runlog.recovery import amend_run_file
    def change(f):
        f.attrs["outcome"] = "superseded"
        f.flush()
        os.kill(os.getpid(), signal.SIGKILL)  # the power cord, mid-amendment
    amend_run_file(Path(sys.argv[1]), change)
""")


def test_a_kill_while_amending_a_run_file_leaves_it_readable_and_unchanged(crashed):
    """Marking a run superseded or incomplete never leaves a file flagged open for writing."""
    with Catalog(crashed, readonly=True) as catalog:
        path = crashed / catalog.get(1)["file"]
    before = file_checksum(path)
    proc = subprocess.run([sys.executable, "-c", _KILLED_AMENDING, str(path)],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    assert file_checksum(path) == before
    with h5py.File(path, "r") as f:  # an ordinary reader, no SWMR flag, no open-for-write flag
        assert f.attrs["outcome"] == "completed"
    scratch = path.with_name(path.name + ".amending")
    assert scratch.exists()
    attach(EventBus(), crashed).close()  # the next session removes the scratch copy
    assert not scratch.exists()
    assert file_checksum(path) == before
