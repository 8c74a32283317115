"""Polling a run another process is taking: status 2 while it runs, 0 once stopped.

The child process runs the simulator on its own virtual clock and writes the
facility in a data directory under tmp; this process reads it only through
``dbpy``/``stpy`` — the pattern facility users rely on to start analysis as
soon as a run ends.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import pytest

from expctl.compat import bind, configure, dbpy, stpy

CHILD = """
    import sys
    from pathlib import Path
    from expctl.clock import VirtualClock
    from expctl.devices.registry import BackendRegistry

    registry = BackendRegistry()
    bl = registry.connect(registry.find_profile("bl3"), VirtualClock(),
                          data_dir=Path(sys.argv[1]), seed=5)
    print("READY", flush=True)
    sys.stdin.readline()
    bl.daq.start_run(None, comment="open-ended")
    bl.clock.sleep(1.0)
    bl.daq.collect()
    print("RUNNING", flush=True)
    sys.stdin.readline()
    bl.clock.sleep(1.0)
    bl.daq.collect()
    bl.daq.stop_run()
    print("STOPPED", flush=True)
    sys.stdin.readline()
    bl.close()
"""


@pytest.fixture
def child(tmp_path):
    data_dir = tmp_path / "expctl-data"
    script = tmp_path / "child.py"
    script.write_text(textwrap.dedent(CHILD))
    proc = subprocess.Popen([sys.executable, str(script), str(data_dir)], text=True,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    configure(data_dir)
    try:
        yield proc
    finally:
        configure()
        bind(None)
        if proc.poll() is None:
            proc.stdin.close()
            proc.wait(timeout=60)
        proc.stdout.close()


def _step(proc: subprocess.Popen, expect: str) -> None:
    """Let the child go on to its next point and check it got there."""
    if expect != "READY":
        proc.stdin.write("\n")
        proc.stdin.flush()
    line = proc.stdout.readline().strip()
    assert line == expect, f"child said {line!r}"


def test_a_run_in_progress_then_stopped(child):
    _step(child, "READY")
    with pytest.raises(dbpy.APIError, match="no run on BL3 yet"):
        dbpy.read_runnumber_newest(3)
    _step(child, "RUNNING")
    run = dbpy.read_runnumber_newest(3)
    assert dbpy.read_runstatus(3, run) == 2
    info = dbpy.read_runinfo(3, run)
    assert info["stoptime"] is None and info["comment"] == "open-ended"
    tags = dbpy.read_taglist_byrun(3, run)
    assert 28 <= len(tags) <= 31  # one second at 30 Hz
    assert info["end_tagnumber"] == tags[-1]
    hightag = dbpy.read_hightagnumber(3, run)
    charge = dbpy.read_syncdatalist_float("xfel_bl_3_tc_bm_2_pd/charge", hightag, tags)
    assert len(charge) == len(tags) and all(np.isfinite(charge))
    reader = stpy.StorageReader(dbpy.read_detidlist(3, run)[0], 3, (run,))
    buf = stpy.StorageBuffer(reader)
    reader.collect(buf, tags[-1])
    assert buf.read_det_data(0).shape == (1024, 512)

    _step(child, "STOPPED")
    assert dbpy.read_runstatus(3, run) == 0
    final = dbpy.read_taglist_byrun(3, run)
    assert final[:len(tags)] == tags and 58 <= len(final) <= 61
    reader.collect(buf, final[-1])  # the reader sees tags taken after it was made
    assert dbpy.read_stoptime(3, run) > dbpy.read_starttime(3, run)
    assert dbpy.read_runnumber_newest(3) == run
