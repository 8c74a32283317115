"""Resume continues the campaign that was started: its text, overrides, profile and seed.

Campaigns are cut short in process (an exception out of an event subscriber, as a
Ctrl-C there would be), then resumed through the CLI's ``main`` or a Session.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from expctl.cli import main
from expctl.engine.events import StateChanged, StepStarted
from expctl.engine.journal import Journal, find_unfinished, list_campaigns
from expctl.errors import ExpctlError
from expctl.runlog.catalog import Catalog
from expctl.session import Session

ROOT = Path(__file__).resolve().parents[2]


class _Cut(ExpctlError):
    """Stands for a crash at a chosen moment (an ExpctlError: the event bus passes it on)."""

    def __init__(self) -> None:
        super().__init__("cut here")


def _cut_at_step(session: Session, path: str) -> None:
    """Cut the campaign as step ``path`` starts (every earlier step is journaled)."""

    def cut(event: object) -> None:
        if isinstance(event, StepStarted) and event.path == path:
            raise _Cut

    session.bus.subscribe(cut)


@pytest.fixture
def small(tmp_path) -> Path:
    path = tmp_path / "seq" / "small.yaml"
    path.parent.mkdir()
    shutil.copy(ROOT / "sequences" / "small.yaml", path)
    return path


def _started_and_cut(data: Path, seq: Path, *overrides: str, seed: int | None = None) -> str:
    with Session.open("bl3", data, seed) as session:
        _cut_at_step(session, "7")  # after the reference run
        with pytest.raises(_Cut):
            session.run(seq, list(overrides))
    info = find_unfinished(data)
    assert info is not None
    return info.id


def _shots(data: Path) -> list[tuple[str, int, str]]:
    with Catalog(data, readonly=True) as cat:
        return [(r["label"], r["shots"], r["outcome"]) for r in cat.rows()]


@pytest.mark.slow
def test_an_edited_sequence_is_refused_and_as_started_finishes_the_original(
        tmp_path, small, capsys) -> None:
    data = tmp_path / "data"
    cid = _started_and_cut(data, small, "shots=12")
    small.write_text(small.read_text().replace("shots: 20", "shots: 50"))
    assert main(["resume", "--data-dir", str(data)]) == 2
    err = capsys.readouterr().err
    assert f"error: the sequence of campaign {cid} was edited since the campaign started" in err
    assert "-  shots: 20\n" in err.replace("    ", "") and "+  shots: 50" in err
    assert main(["resume", "--data-dir", str(data), "--as-started"]) == 0
    out = capsys.readouterr().out
    assert f"resuming campaign {cid}: small from {small}" in " ".join(out.split())
    assert "with --set shots=12" in out
    assert _shots(data) == [("reference", 12, "completed"), ("pumped", 1, "completed")]
    assert find_unfinished(data) is None


def test_use_current_continues_with_a_compatible_edit_and_refuses_another(
        tmp_path, small, capsys) -> None:
    data = tmp_path / "data"
    _started_and_cut(data, small)
    text = small.read_text()
    small.write_text(text.replace("points: 21", "points: 11"))  # the rocking curve was done
    assert main(["resume", "--data-dir", str(data), "--use-current"]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert ("the sequence does not match what the campaign did: completed step 4 (rocking "
            "curve theta over ${span}, 11 points") in err
    assert "Resume with --as-started" in err
    small.write_text(text.replace("label: pumped}", "label: pumped, comment: edited}"))
    assert main(["resume", "--data-dir", str(data), "--use-current"]) == 0
    out = capsys.readouterr().out
    assert "the file on disk now (--use-current)" in " ".join(out.split())
    with Catalog(data, readonly=True) as cat:
        assert [r["comment"] for r in cat.rows()] == ["", "edited"]


def test_the_campaign_seed_is_honoured_and_another_refused(tmp_path, small, capsys) -> None:
    data = tmp_path / "data"
    cid = _started_and_cut(data, small, seed=7)
    assert main(["resume", "--data-dir", str(data), "--seed", "8"]) == 2
    assert f"campaign {cid} ran with seed 7, this session has seed 8" in capsys.readouterr().err
    with Session.open("bl3", data) as session:
        plan = session.prepare_resume()
        assert session.profile.seed == 7 and plan.info.seed == 7
        assert plan.walk.next_path == "7" and plan.kept == 1
        assert sorted(name for name, _, _ in plan.restore) == [
            "sample_x", "sample_y", "theta", "xray_shutter"]  # gain and attenuator: as parked


def test_the_resume_summary_says_what_it_skips_and_restores(tmp_path, small, capsys) -> None:
    data = tmp_path / "data"
    cid = _started_and_cut(data, small)
    assert main(["resume", "--data-dir", str(data)]) == 0
    lines = [" ".join(line.split()) for line in capsys.readouterr().out.splitlines()]
    text = " ".join(lines)
    assert f"resuming campaign {cid}" in text
    assert "done: 6 steps (skipped), 1 runs kept, spots used: 1 on sample" in text
    assert "next: step 7 (request pump = on)" in text
    assert "restores first: " in text
    for part in ("theta 11.4 deg → 11.40", "xray_shutter closed → open",
                 "sample_x 0 mm → "):
        assert part in text


def test_campaigns_lists_what_resume_would_continue(tmp_path, small, capsys) -> None:
    data = tmp_path / "data"
    cid = _started_and_cut(data, small)
    assert main(["campaigns", "--data-dir", str(data), "--json"]) == 0
    import json

    (row,) = json.loads(capsys.readouterr().out)["campaigns"]
    assert (row["id"], row["state"], row["runs_kept"], row["edited"]) == (
        cid, "failed", 1, False)
    assert row["samples"] == {"sample": "sample-1"}
    small.write_text(small.read_text() + "\n# edited\n")
    assert main(["campaigns", "--data-dir", str(data)]) == 0
    assert "its sequence file was edited since it started" in capsys.readouterr().out


def test_stopping_before_the_first_device_action_leaves_no_campaign(tmp_path, small) -> None:
    data = tmp_path / "data"
    older = _started_and_cut(data, small)
    with Session.open("bl3", data) as session:
        def pause_at_start(event: object) -> None:
            if isinstance(event, StateChanged) and event.new == "running":
                session.current_engine.pause(immediate=True)

        session.bus.subscribe(pause_at_start)
        summary = session.run(small, pause_hook=lambda engine: engine.abort())
        assert summary.outcome == "aborted" and summary.runs == ()
        assert session.journal is not None and not session.journal.live
    assert [c.id for c in list_campaigns(data)] == [older]  # resume still finds the older one
    assert find_unfinished(data).id == older
    assert Journal.read(data).info.id == older
