"""Journal: durable records, resume skipping completed steps, no spot reused, codec."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from expctl.devices.protocols import RunRecord
from expctl.engine import Engine, Journal, find_unfinished, list_campaigns
from expctl.engine.codec import decode, encode
from expctl.engine.journal import journal_problems
from expctl.errors import CorruptFileError, DataError, UserError
from expctl.plans import PumpProbeSettings, pump_probe
from expctl.plans.stubs import AlignmentDecision
from expctl.testing import make_fake_beamline

SETTINGS = PumpProbeSettings(rock_points=9, rock_span=0.006)


def _plan():
    return pump_probe([0.0, 1.0], spots_per_delay=2, reference_shots=30, settings=SETTINGS)


def test_codec_round_trips_results() -> None:
    rec = RunRecord(7, 3, 202601, 10, 70, 1.0, 3.0, 0, 30, "reference")
    value = {"run": rec, "decision": AlignmentDecision("theta", False, 11.4, "edge"),
             "flags": frozenset({"edge", "no_peak"}), "xs": (1.0, float("nan"), float("inf")),
             "arr": np.arange(3.0), "n": np.int64(4), 3: "int key"}
    back = decode(json.loads(json.dumps(encode(value))))
    assert back["run"] == rec and back["decision"] == value["decision"]
    assert back["flags"] == value["flags"] and back[3] == "int key" and back["n"] == 4
    assert back["xs"][0] == 1.0 and np.isnan(back["xs"][1]) and back["xs"][2] == float("inf")
    np.testing.assert_array_equal(back["arr"], np.arange(3.0))


def test_codec_refuses_untrusted_classes_and_unknown_objects() -> None:
    with pytest.raises(DataError, match="journal names os:PathLike, outside the trusted"):
        decode({"__dc__": "os:PathLike", "f": {}})
    with pytest.raises(DataError, match="cannot journal a result of type object"):
        encode(object())


def test_completed_campaign_is_finished_and_records_every_run(tmp_path) -> None:
    journal = Journal.create(tmp_path, sequence="pp", params={"delays": [0.0, 1.0]},
                             profile="bl3", seed=5)
    bl = make_fake_beamline(data_dir=tmp_path)
    summary = Engine(bl, journal=journal).run(_plan())
    journal.close()
    runs = journal.campaign_runs()
    assert [(r.step, r.label) for r in runs] == [
        (f"delay[{i}]/spot[{j}]", label) for i in range(2) for j in range(2)
        for label in ("reference", "pumped")]
    assert [r.run for r in runs] == [r.run for r in summary.runs]
    info = list_campaigns(tmp_path)[0]
    assert info.finished and info.params == {"delays": [0.0, 1.0]} and info.seed == 5
    assert find_unfinished(tmp_path) is None
    with pytest.raises(DataError, match="no unfinished campaign in"):
        Journal.resume(tmp_path)


def _crash_after(journal_path, n_lines):
    """Simulate kill -9: keep the first ``n_lines`` lines and half of the next one."""
    lines = journal_path.read_text().splitlines(keepends=True)
    torn = lines[n_lines][: len(lines[n_lines]) // 2] if n_lines < len(lines) else ""
    journal_path.write_text("".join(lines[:n_lines]) + torn)


@pytest.mark.parametrize("keep", [2, 5, 9, 14, 20, 27, 33])
def test_resume_after_a_crash_skips_completed_steps_and_spots(tmp_path, keep) -> None:
    ref_dir = tmp_path / "ref"
    ref = Journal.create(ref_dir)
    Engine(make_fake_beamline(data_dir=ref_dir), journal=ref).run(_plan())
    ref.close()
    expected = [(r.step, r.label) for r in ref.campaign_runs()]

    data = tmp_path / "crash"
    first = Journal.create(data, sequence="pp")
    bl = make_fake_beamline(data_dir=data)
    Engine(bl, journal=first).run(_plan())
    first.close()
    _crash_after(first.path, keep)

    info = find_unfinished(data)
    assert info is not None and info.id == first.info.id and info.sequence == "pp"
    journal = Journal.resume(data)
    done_before = {r.run for r in journal.campaign_runs()}
    spots_before = journal.consumed_spots("sample")
    bl2 = make_fake_beamline(data_dir=data)
    summary = Engine(bl2, journal=journal).run(_plan())
    journal.close()

    kept = journal.campaign_runs()
    assert [(r.step, r.label) for r in kept] == expected
    assert len({r.run for r in kept}) == len(kept)
    assert done_before <= {r.run for r in kept}  # nothing completed was redone
    assert {r.run for r in summary.runs}.isdisjoint(done_before)
    spots = [rec["index"] for rec in map(json.loads, journal.path.read_text().splitlines())
             if rec["t"] == "spot"]
    assert len(spots) == len(set(spots))  # no spot ever used twice
    new_spots = {v[0] for v in (s.spot for s in summary.value)} - spots_before
    assert all(i not in spots_before for i in new_spots)
    assert summary.steps_skipped + summary.steps_done >= 7
    assert summary.value[0].peak.center == pytest.approx(11.4)  # replayed results flow on


def test_replay_detects_a_changed_plan(tmp_path) -> None:
    journal = Journal.create(tmp_path)
    Engine(make_fake_beamline(data_dir=tmp_path), journal=journal).run(_plan())
    journal.finish("failed")  # reopenable
    journal.close()
    again = Journal.resume(tmp_path)

    with pytest.raises(DataError, match=r"journal replay of step 'delay\[0\]/spot\[0\]': "
                                        "expected Analyze, the plan yields Read"):
        Engine(make_fake_beamline(data_dir=tmp_path), journal=again).run(
            pump_probe([0.0, 1.0], 2, 30, PumpProbeSettings(rock_points=11)))
    again.close()


def test_resume_unknown_campaign_lists_known(tmp_path) -> None:
    j = Journal.create(tmp_path)
    j.close()
    with pytest.raises(UserError) as info:
        Journal.resume(tmp_path, "nope")
    assert info.value.paragraph() == (
        f"no campaign 'nope' in {tmp_path} (allowed: {j.info.id}). "
        "`expctl campaigns --all` lists them.")


def test_a_journal_that_is_not_one_is_reported_and_isolated(tmp_path) -> None:
    good = Journal.create(tmp_path, sequence="good")
    good.close()
    bad = tmp_path / "journal" / "x.jsonl"
    bad.write_text('{"t": "run"}\n')
    assert [c.id for c in list_campaigns(tmp_path)] == [good.info.id]
    assert find_unfinished(tmp_path).id == good.info.id
    (problem,) = journal_problems(tmp_path)
    assert problem.paragraph() == (
        f"campaign journal {bad} line 1 is not an expctl journal: its first record is not a "
        "campaign record. Other campaigns are not affected. Keep the file for inspection (a "
        "copy may be intact); this campaign cannot be resumed from it.")
    with pytest.raises(CorruptFileError):
        Journal.resume(tmp_path, "x")


def test_fsync_only_where_a_power_cut_would_repeat_a_run_or_reuse_a_spot(
        tmp_path, monkeypatch) -> None:
    synced: list[str] = []
    journal = Journal.create(tmp_path, sequence="pp")

    real_fsync = os.fsync

    def fsync(fd: int) -> None:  # the journal's record just written is its last line
        if journal._fh is not None and fd == journal._fh.fileno():
            synced.append(json.loads(journal.path.read_text().splitlines()[-1])["t"])
        else:
            real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    Engine(make_fake_beamline(data_dir=tmp_path), journal=journal).run(_plan())
    journal.close()
    records = [json.loads(line) for line in journal.path.read_text().splitlines()]
    kinds = [r["t"] for r in records]
    run_steps = {r["step"] for r in records if r["t"] == "run"}
    assert kinds.count("spot") == 4 and kinds.count("run") == 8
    # every spot, every step that completed runs (which makes its runs durable), the end
    assert synced.count("spot") == 4 and synced.count("step") == len(run_steps) == 4
    assert synced[-1] == "end" and "run" not in synced and "begin" not in synced
    assert len(synced) == 4 + 4 + 1 < len(records)
    # each run record precedes the fsynced end of its step
    for r in records:
        if r["t"] == "run":
            end = next(i for i, s in enumerate(records)
                       if s["t"] == "step" and s["path"] == r["step"])
            assert records.index(r) < end


def test_a_live_journal_keeps_step_results_on_disk_and_reads_them_back(tmp_path) -> None:
    """A campaign's results grow with it: a live journal keeps where each completed step's
    record is, not its results, and gives the same transcript a resumed journal does."""
    journal = Journal.create(tmp_path, sequence="pp")
    Engine(make_fake_beamline(data_dir=tmp_path), journal=journal).run(_plan())
    live = {path: journal._raw_steps[path] for path in journal.completed_paths()}
    assert live and all(isinstance(where, tuple) for where in live.values())
    transcripts = {path: journal.completed_step(path) for path in live}
    journal.close()
    reread = Journal.read(tmp_path, journal.info.id)
    for path, transcript in transcripts.items():
        assert transcript is not None and len(transcript) == len(reread.completed_step(path))
        assert repr(transcript) == repr(reread.completed_step(path))
