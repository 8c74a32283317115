"""A second process reads a run while the writer is still appending to it (SWMR)."""

from __future__ import annotations

import subprocess
import sys
import textwrap

from expctl.runlog import Catalog, read_run, run_file_path

_WRITER = textwrap.dedent("""
    import sys
    import numpy as np
    from expctl.engine.events import EventBus
    from expctl.runlog import attach
    from expctl.testing.synthetic_events import synthetic_run
    bus = EventBus()
    handle = attach(bus, sys.argv[1])
    events = synthetic_run(1, shots=3000, label="reference", laser=False, delay=0.0,
                           start_tag=100, start_time=1.768e9, rng=np.random.default_rng(1),
                           block_size=1000)
    bus.publish(events[0])
    for event in events[1:4]:
        bus.publish(event)
        print("block", flush=True)
        sys.stdin.readline()  # wait until the reader has looked
    bus.publish(events[4])
    handle.close()
    print("stopped", flush=True)
""")


def test_reader_in_another_process_sees_each_flushed_block(tmp_path):
    data_dir = tmp_path / "data"
    writer = subprocess.Popen([sys.executable, "-c", _WRITER, str(data_dir)],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        seen = []
        for _ in range(3):
            assert writer.stdout.readline().strip() == "block"
            run = read_run(run_file_path(data_dir, 3, 1))
            seen.append((run.shots, run.attrs["outcome"]))
            with Catalog(data_dir, readonly=True) as catalog:
                assert catalog.get(1)["status"] == 2  # still running
            writer.stdin.write("\n")
            writer.stdin.flush()
        assert writer.stdout.readline().strip() == "stopped"
    finally:
        writer.stdin.close()
        writer.wait(timeout=30)
        writer.stdout.close()
    assert seen == [(1000, "running"), (2000, "running"), (3000, "running")]
    final = read_run(run_file_path(data_dir, 3, 1))
    assert final.shots == 3000 and final.attrs["outcome"] == "completed"
    with Catalog(data_dir, readonly=True) as catalog:
        assert catalog.get(1)["shots"] == 3000 and catalog.get(1)["status"] == 0
