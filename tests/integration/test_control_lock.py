"""One controller per beamline, with real processes: a second ``run`` or ``resume`` is refused
(exit 2, holder named) while read-only commands keep working; ``kill -9`` frees control."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from expctl.beamtime.lock import BeamlineLock, ControllerBusyError, lock_path
from expctl.engine.journal import Journal, find_unfinished
from expctl.runlog.catalog import Catalog

ROOT = Path(__file__).resolve().parents[2]
LAUNCH = "import sys; from expctl.cli import main; sys.exit(main())"
SMALL = "sequences/small.yaml"


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "200"}


def _start(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-c", LAUNCH, *args], cwd=ROOT, env=_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", LAUNCH, *args], cwd=ROOT, env=_env(),
                          capture_output=True, text=True, timeout=120)


def _wait_for_holder(data: Path, proc: subprocess.Popen[str], timeout: float = 60.0) -> dict:
    path = lock_path(data, 3)
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        assert proc.poll() is None, proc.communicate()
        try:
            return json.loads(path.read_text())
        except (OSError, ValueError):
            time.sleep(0.05)
    raise AssertionError("the first controller never took the lock")


def _wait_for_a_run(data: Path, proc: subprocess.Popen[str], timeout: float = 120.0) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        assert proc.poll() is None, proc.communicate()
        journals = list((data / "journal").glob("*.jsonl"))
        if journals and '"t":"run"' in journals[0].read_text():
            return
        time.sleep(0.05)
    raise AssertionError("the campaign never finished a run")


@pytest.mark.slow
def test_a_second_run_is_refused_and_readers_keep_working(tmp_path) -> None:
    data = tmp_path / "data"
    first = _start("run", SMALL, "--speed", "1", "--data-dir", str(data))
    try:
        holder = _wait_for_holder(data, first)
        assert holder["pid"] == first.pid and holder["purpose"] == f"expctl run {SMALL}"
        second = _cli("run", SMALL, "--data-dir", str(data))
        assert second.returncode == 2, second.stderr
        assert second.stderr.startswith(f"error: bl3: beamline 3 is controlled by pid "
                                        f"{first.pid} on {socket.gethostname()}")
        assert f"running `expctl run {SMALL}`" in second.stderr
        for readonly in (["validate", SMALL], ["run", SMALL, "--dry-run"], ["devices"],
                         ["campaigns"], ["sample", "list"]):
            done = _cli(*readonly, "--data-dir", str(data))
            assert done.returncode == 0, (readonly, done.stderr)
    finally:
        out, err = first.communicate(timeout=120)
    assert first.returncode == 0, err
    assert not lock_path(data, 3).read_text()  # released cleanly: no description left
    with Catalog(data, readonly=True) as cat:
        assert [r["label"] for r in cat.rows()] == ["reference", "pumped"]


def test_kill_9_frees_control_and_the_next_controller_says_it_took_over(tmp_path) -> None:
    data = tmp_path / "data"
    first = _start("run", SMALL, "--speed", "1", "--data-dir", str(data))
    _wait_for_holder(data, first)
    first.send_signal(signal.SIGKILL)
    first.communicate(timeout=30)
    assert BeamlineLock(data, 3).holder() is None  # its description is stale: this host, dead
    again = _cli("run", SMALL, "--data-dir", str(data))
    assert again.returncode == 0, again.stderr
    assert f"note: took over control of beamline 3: pid {first.pid} on" in again.stderr
    assert "ended without giving it back" in again.stderr


@pytest.mark.slow
def test_two_resumes_of_one_campaign_cannot_both_run(tmp_path) -> None:
    data = tmp_path / "data"
    first = _start("run", "sequences/pumpprobe.yaml", "--set", "delays=[0 ps, 1 ps]",
                   "--set", "spots_per_delay=2", "--set", "reference_shots=30",
                   "--speed", "4", "--data-dir", str(data))
    _wait_for_holder(data, first)
    _wait_for_a_run(data, first)  # into the campaign
    first.send_signal(signal.SIGKILL)
    first.communicate(timeout=30)
    campaign = find_unfinished(data)
    assert campaign is not None
    resumes = [_start("resume", "--speed", "4", "--data-dir", str(data)) for _ in range(2)]
    results = [p.communicate(timeout=240) for p in resumes]
    codes = sorted(p.returncode for p in resumes)
    assert codes == [0, 2], results
    refused = results[[p.returncode for p in resumes].index(2)][1]
    assert "is controlled by pid" in refused and "expctl resume" in refused
    journal = Journal.read(data, campaign.id)
    kept = [(r.step, r.label) for r in journal.campaign_runs()]
    assert len(kept) == len(set(kept)) == 8  # 2 delays x 2 spots x (reference, pumped)
    numbers = [r.run for r in journal.runs()]
    assert len(numbers) == len(set(numbers))


def test_lock_metadata_and_stale_descriptions(tmp_path) -> None:
    lock = BeamlineLock(tmp_path, 3, "bl3")
    assert lock.acquire("test one", campaign=None) is None
    lock.update(campaign="c1")
    other = BeamlineLock(tmp_path, 3)
    with pytest.raises(ControllerBusyError) as info:
        other.acquire("test two")
    assert "running `test one`, campaign c1" in info.value.paragraph()
    assert info.value.exit_code == 2
    assert other.holder().campaign == "c1"
    lock.release()
    assert other.holder() is None
    # a description left behind by a dead holder is reported once and replaced
    path = lock_path(tmp_path, 3)
    path.write_text(json.dumps({"pid": 999_999_999, "host": "elsewhere", "user": "x",
                                "purpose": "expctl run old.yaml", "since": 0.0}))
    stale = other.acquire("test three")
    assert stale is not None and stale.purpose == "expctl run old.yaml"
    assert json.loads(path.read_text())["purpose"] == "test three"
    other.release()
