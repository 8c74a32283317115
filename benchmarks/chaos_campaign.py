"""Chaos: ``kill -9`` pump-probe campaigns at random moments (in runs and resumes), resume
until done, and check what an operator relies on.  Prints figures; exits 1 if a check fails.

    python benchmarks/chaos_campaign.py [--kills 50] [--seed 1] [--speed 8] [--json]

Each campaign is ``expctl run sequences/pumpprobe.yaml`` (4 delays x 2 spots, 16 runs) on
the simulator with a sped-up wall clock, killed at a random time after each (re)start
and continued with ``expctl resume`` until it completes; campaigns follow each other in
one data directory (one mounted sample) until the number of kills is reached.  Checks:

* every campaign keeps exactly the runs of an uninterrupted one (step, label, shots);
* the catalog counts as ``completed`` exactly the runs the campaigns keep;
* no spot was exposed by two steps (or two campaigns): every run at a spot belongs to
  the step that took it in the sample registry;
* no run number was used twice (catalog, journals, facility run table agree);
* every run file in the catalog is readable and holds the shots the catalog says.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # this checkout's expctl, as the processes it starts use
LAUNCH = "import sys; from expctl.cli import main; sys.exit(main())"
OVERRIDES = ["delays=[0 ps, 1 ps, 2 ps, 3 ps]", "spots_per_delay=2", "reference_shots=120"]


def _expected() -> list[tuple[str, str, int]]:
    """The runs an uninterrupted campaign keeps (in process, on a virtual clock)."""
    from expctl.session import Session

    with tempfile.TemporaryDirectory() as tmp, Session.open("bl3", Path(tmp)) as session:
        summary = session.run(ROOT / "sequences" / "pumpprobe.yaml", OVERRIDES)
        journal = session.journal
        assert journal is not None
        return [(r.step, r.label, r.shots) for r in journal.campaign_runs()] \
            if summary.outcome == "completed" else []


def _start(args: list[str], data: Path, speed: float) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "EXPCTL_DATA_DIR": str(data)}
    return subprocess.Popen([sys.executable, "-c", LAUNCH, *args, "--speed", str(speed)],
                            cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)


def _wait_until_live(proc: subprocess.Popen[bytes], data: Path, before: int) -> None:
    """Until the started campaign has its journal (pre-flight done) or the process ended."""
    from expctl.engine.journal import list_campaigns

    while proc.poll() is None and len(list_campaigns(data)) <= before:
        time.sleep(0.05)


def run_chaos(data: Path, kills: int, rng: random.Random, speed: float,
              max_wait: float) -> dict[str, Any]:
    """Kill campaigns ``kills`` times; returns the figures and the commands that failed
    otherwise than by the kill (see :func:`check` for the rest)."""
    from expctl.engine.journal import find_unfinished, list_campaigns

    figures: Counter[str] = Counter()
    failures: list[str] = []  # commands that ended otherwise than done or killed
    started = time.perf_counter()
    while figures["kills"] < kills or find_unfinished(data) is not None:
        unfinished = find_unfinished(data)
        phase = "resume" if unfinished is not None else "run"
        argv = (["resume"] if unfinished else
                ["run", "sequences/pumpprobe.yaml", *sum((["--set", o] for o in OVERRIDES),
                                                         [])])
        before = len(list_campaigns(data))
        proc = _start(argv, data, speed)
        figures[f"starts_{phase}"] += 1
        if figures["kills"] < kills:
            # one kill in five lands while a new campaign is still being checked; the
            # others at a random time after it went live (or after a resume started)
            early = phase == "run" and rng.random() < 0.2
            if phase == "run" and not early:
                _wait_until_live(proc, data, before)
            try:
                proc.wait(timeout=rng.uniform(0.2, 2.0 if early else max_wait))
            except subprocess.TimeoutExpired:
                proc.kill()
                live = len(list_campaigns(data)) > before or phase == "resume"
                figures["kills"] += 1
                figures[f"kills_in_{phase}" + ("" if live else "_before_it_went_live")] += 1
        _, err = proc.communicate(timeout=600)
        if proc.returncode not in (0, -9):
            failures.append(f"`expctl {argv[0]}` exited {proc.returncode}: "
                            f"{err.decode().strip()[-1000:]}")
            if len(failures) > 3:
                break
    figures["campaigns"] = len(list_campaigns(data))
    figures["wall_s"] = round(time.perf_counter() - started, 1)
    return {**figures, "failed_commands": failures}


def check(data: Path, expected: list[tuple[str, str, int]]) -> dict[str, Any]:
    """Every check of the module docstring; returns counts and the problems found."""
    import h5py

    from expctl.beamtime.samples import SampleRegistry
    from expctl.engine.journal import Journal, list_campaigns
    from expctl.runlog.catalog import Catalog

    problems: list[str] = []
    kept: set[int] = set()
    journaled: list[int] = []
    started: dict[int, str] = {}  # run -> the campaign that started it
    for info in list_campaigns(data):
        journal = Journal.read(data, info.id)
        got = [(r.step, r.label, r.shots) for r in journal.campaign_runs()]
        if not info.finished or got != expected:
            problems.append(f"campaign {info.id} ({info.outcome}) kept {got}")
        kept |= {r.run for r in journal.campaign_runs()}
        journaled += [r.run for r in journal.runs()]
        started |= dict.fromkeys([r.run for r in journal.runs()]
                                 + [r.run for r in journal.superseded_runs()], info.id)
    if len(journaled) != len(set(journaled)):
        problems.append("a run number is in two journal records")
    with Catalog(data, readonly=True) as cat:
        rows = [r.as_dict() for r in cat.rows()]
    completed = {r["run"] for r in rows if r["outcome"] == "completed"}
    if completed != kept:
        problems.append(f"catalog and journals disagree on kept runs {sorted(completed ^ kept)}")
    with SampleRegistry(data, readonly=True) as reg:
        spots = {(s.name, r.spot): r for s in reg.samples() for r in reg.records(s.name)}
    for row in rows:
        spot = row["sample_spot"]
        record = spots.get((spot["sample"], spot["index"])) if spot else None
        if spot and record is None:
            problems.append(f"run {row['run']} at a spot the registry never gave out")
        elif record is not None and not (
                row["step_path"].startswith(record.step.rsplit("/", 1)[0] + "/")
                and started.get(row["run"]) == record.campaign):
            problems.append(f"run {row['run']} ({row['step_path']}) at spot {spot['index']}, "
                            f"which {record.campaign} step {record.step} took")
    facility = json.loads((data / "facility" / "facility.json").read_text())
    if int(facility["next_run"]["3"]) <= max(r["run"] for r in rows):
        problems.append("the facility would hand out a run number again")
    for row in rows:
        path = data / row["file"] if row["file"] else None
        if path is None:
            continue
        if path.name.endswith(".unreadable.h5"):  # kept aside by recovery, never deleted
            if row["outcome"] == "completed":
                problems.append(f"run {row['run']}: completed, but its file was set aside")
            continue
        try:
            with h5py.File(path, "r") as f:
                shots = len(f["tag"]) if "tag" in f else 0  # (per-shot arrays: tag, …)
        except OSError as exc:
            aside = path.with_suffix(".unreadable.h5").exists()
            problems.append(f"run {row['run']} ({row['outcome']}): file unreadable"
                            + (" (set aside as *.unreadable.h5; the row still names the old "
                               "file)" if aside else f": {exc}"))
            continue
        if row["outcome"] == "completed" and shots != row["shots"]:
            problems.append(f"run {row['run']}: {shots} shots in the file, {row['shots']} "
                            "in the catalog")
    outcomes = Counter(r["outcome"] for r in rows)
    return {"runs_in_catalog": len(rows), "runs_kept": len(kept), "outcomes": dict(outcomes),
            "spots_used": len(spots), "problems": problems}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--kills", type=int, default=50)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--speed", type=float, default=8.0, help="simulated s per wall s")
    ap.add_argument("--max-wait", type=float, default=10.0,
                    help="kill at a random time up to this many wall seconds after a start")
    ap.add_argument("--data-dir", default=None, help="keep the data here (default: temporary)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    expected = _expected()
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(args.data_dir or tmp)
        figures = run_chaos(data, args.kills, random.Random(args.seed), args.speed,
                            args.max_wait)
        figures |= check(data, expected)
        figures["ok"] = not figures["problems"] and not figures["failed_commands"]
    if args.json:
        print(json.dumps(figures, indent=2))
    else:
        for key, value in figures.items():
            print(f"{key:>34}: {value}")
    return 0 if figures["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
