"""An IOC killed and restarted in the middle of a run: the run is retaken, nothing lost or
duplicated, and nothing moves again before every PV is back and re-read.

A campaign runs small.yaml with a long reference run over Channel Access; once the
IOC's DAQ reports the run going, the IOC is killed (SIGKILL) and restarted a moment
later on the same port and data directory.  The session's link suspender holds the
engine until every PV is connected and fresh again, the cut run is kept as cut,
and the reference run is retaken under a new run number.
"""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from expctl.engine.events import RunStopped, ShotBlockTaken, StateChanged
from expctl.runlog.catalog import Catalog
from expctl.session import Session
from sim.backend import open_archive
from tests.integration.epics_ioc import (
    IOC,
    ROOT,
    SPEED,
    Operator,
    free_port,
    ioc_environment,
    registry,
)

SHOTS = 600  # 20 s of beam at 30 Hz: one second of wall time at SPEED


def _kill_during_the_run(ioc: IOC, killed: threading.Event, restarted: threading.Event) -> None:
    """Wait for the reference run, kill the IOC, restart it a moment later."""
    operator = Operator()
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if operator.get("BL3:DAQ:RUNSTATUS") == 2 and operator.get("BL3:DAQ:SHOTS") > 60:
                break
            time.sleep(0.05)
    finally:
        operator.close()
    ioc.kill()
    killed.set()
    time.sleep(1.0)
    ioc.start()
    restarted.set()


@pytest.mark.slow
def test_a_run_cut_by_an_ioc_restart_is_retaken(tmp_path):
    port = free_port()
    ioc = IOC(tmp_path / "ioc", port).start()
    killed, restarted = threading.Event(), threading.Event()
    killer = threading.Thread(target=_kill_during_the_run, args=(ioc, killed, restarted),
                              daemon=True)
    try:
        with ioc_environment(port):
            with Session.open("bl3-epics", tmp_path / "data", speed=SPEED,
                              registry=registry()) as session:
                events: list = []
                session.bus.subscribe(events.append)
                killer.start()
                summary = session.run(ROOT / "sequences" / "small.yaml", [f"shots={SHOTS}"])
    finally:
        if killer.ident is not None:
            killer.join(timeout=60)  # (it may be restarting the IOC)
        ioc.stop()
    assert killed.is_set() and restarted.is_set()
    assert summary.outcome == "completed"

    # the cut run is kept and marked; the reference run is retaken under a new number
    (cut,) = summary.cut_runs
    kept = [(r.label, r.shots) for r in summary.runs]
    assert kept == [("reference", SHOTS), ("pumped", 1)]
    assert cut.label == "reference" and cut.run < summary.runs[0].run
    assert "cut, disconnected: the link to the DAQ was lost" in cut.comment
    stops = {e.record.run: e.outcome for e in events if isinstance(e, RunStopped)}
    assert stops[cut.run] == "disconnected"
    assert [stops[r.run] for r in summary.runs] == ["completed", "completed"]

    # the engine was suspended by the link, and resumed only once it was back
    states = [(e.old, e.new, e.reason) for e in events if isinstance(e, StateChanged)]
    suspended = next(s for s in states if s[1] == "suspended")
    assert "control-system link lost" in suspended[2]
    assert ("suspended", "running", "condition good again") in states

    # nothing lost or duplicated: the retaken run has every shot once, every 2nd tag
    by_run: dict[int, list[np.ndarray]] = {}
    for e in events:
        if isinstance(e, ShotBlockTaken):
            by_run.setdefault(e.block.run, []).append(e.block.data["tag"])
    tags = np.concatenate(by_run[summary.runs[0].run])
    assert len(tags) == SHOTS and (np.diff(tags) == 2).all()
    cut_tags = np.concatenate(by_run.get(cut.run, [np.zeros(0, dtype=np.int64)]))
    assert not set(cut_tags.tolist()) & set(tags.tolist())

    # the catalog keeps every run once; the IOC's facility closed the run it lost
    with Catalog(tmp_path / "data", readonly=True) as catalog:
        rows = {row.run: row for row in catalog.rows()}
    assert sorted(rows) == sorted([cut.run, *(r.run for r in summary.runs)])
    archive = open_archive(tmp_path / "ioc")
    lost = archive.run_record(3, cut.run)
    assert lost.status == 0 and "interrupted" in lost.comment
    assert archive.run_record(3, summary.runs[0].run).shots == SHOTS
