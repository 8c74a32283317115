"""The sampled dry-run's estimate is within 2 % of the real duration, for every shipped
sequence and for loop sizes varied by ``--set``: the ETA a shift is planned with.

Sampling is forced on every sequence (``LEAF_BUDGET = 0``) and compared with a full
rehearsal, which takes exactly as long on the twin as the run does on the simulator (one
real run checks that too).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from expctl.sequence import dryrun
from expctl.session import Session

pytest.importorskip("sim.backend", reason="the simulated backend is needed for dry-runs")

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = sorted(p.stem for p in (ROOT / "sequences").glob("*.yaml"))
#: loop sizes varied the way a user would with --set
VARIED = [
    ("delay_scan", ["delays=[-1 ps, 0 ps, 3 ps]", "shots=100"]),
    ("pd_calibration", ["gains_weak=[high, mid, low]"]),
    ("pumpprobe", ["spots_per_delay=3", "reference_shots=20"]),
    ("pumpprobe", ["delays=[0 ps, 1 ps]", "spots_per_delay=4"]),
    ("pumpprobe", ["delays={linspace: [0 ps, 4 ps, 9]}", "spots_per_delay=1",
                   "reference_shots=10"]),
]
TOLERANCE = 0.02


def _estimates(tmp_path: Path, name: str, overrides: list[str],
               monkeypatch: pytest.MonkeyPatch) -> tuple[dryrun.DryRun, dryrun.DryRun]:
    """(sampled, full) dry-runs of a shipped sequence."""
    with Session.open("bl3", tmp_path / "data") as session:
        loaded = session.load(ROOT / "sequences" / f"{name}.yaml", overrides)
        monkeypatch.setattr(dryrun, "LEAF_BUDGET", 0)
        sampled = dryrun.dry_run(loaded, session.beamline)
        monkeypatch.setattr(dryrun, "LEAF_BUDGET", 10**9)
        full = dryrun.dry_run(loaded, session.beamline)
    return sampled, full


@pytest.mark.parametrize(("name", "overrides"),
                         [(n, []) for n in SHIPPED if n != "pumpprobe"] + VARIED,
                         ids=lambda v: " ".join(v) if isinstance(v, list) else v)
def test_the_sampled_estimate_is_within_2_percent(tmp_path, monkeypatch, name, overrides):
    sampled, full = _estimates(tmp_path, name, overrides, monkeypatch)
    assert sampled.ok and full.ok and not full.sampled
    assert sampled.total_s == pytest.approx(full.total_s, rel=TOLERANCE)
    assert (sampled.runs, sampled.shots) == (full.runs, full.shots)


@pytest.mark.slow
def test_the_canonical_campaign_s_estimate_is_within_2_percent(tmp_path, monkeypatch):
    sampled, full = _estimates(tmp_path, "pumpprobe", [], monkeypatch)
    assert sampled.sampled and sampled.total_s == pytest.approx(full.total_s, rel=TOLERANCE)


def test_the_estimate_is_the_real_duration(tmp_path, monkeypatch):
    """A campaign run on the simulator lasts what the sampled dry-run said (± 2 %)."""
    monkeypatch.setattr(dryrun, "LEAF_BUDGET", 0)
    with Session.open("bl3", tmp_path / "data", plots=False) as session:
        loaded = session.load(ROOT / "sequences" / "pumpprobe.yaml",
                              ["delays=[-1 ps, 0 ps, 1 ps]", "spots_per_delay=2",
                               "reference_shots=10"])
        dry = session.dry_run(loaded)
        summary = session.run(loaded, rehearsal=dry)
    assert dry.sampled and summary.outcome == "completed"
    assert dry.total_s == pytest.approx(summary.duration, rel=TOLERANCE)
