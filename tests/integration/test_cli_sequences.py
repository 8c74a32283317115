"""The CLI on the shipped sequences: validate, dry-run (rich and JSON), exit codes, a real run."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from expctl.cli import main

ROOT = Path(__file__).resolve().parents[2]
SEQUENCES = ROOT / "sequences"
SHIPPED = sorted(p.name for p in SEQUENCES.glob("*.yaml"))  # every sequence we ship

pytest.importorskip("sim.backend", reason="the simulated backend is needed for dry-runs")


def _json(capsys) -> dict:
    return json.loads(capsys.readouterr().out)


@pytest.mark.parametrize("name", SHIPPED)
def test_every_shipped_sequence_validates(name, capsys):
    assert main(["validate", str(SEQUENCES / name), "--json"]) == 0
    out = _json(capsys)
    assert out["ok"] is True and out["violations"] == []


@pytest.mark.parametrize("name", ["rocking.yaml", "delay_scan.yaml", "dark.yaml", "small.yaml"])
def test_every_shipped_sequence_dry_runs(name, capsys):
    assert main(["run", str(SEQUENCES / name), "--dry-run", "--json"]) == 0
    out = _json(capsys)
    assert out["ok"] is True
    assert out["estimated_duration_s"] > 0
    assert set(out) >= {"ok", "estimated_duration_s", "runs", "shots", "steps", "violations"}


def test_pumpprobe_dry_run_counts_the_whole_campaign(capsys):
    assert main(["run", str(SEQUENCES / "pumpprobe.yaml"), "--dry-run", "--json"]) == 0
    out = _json(capsys)
    assert (out["runs"], out["shots"]) == (250, 25 * 5 * 301)
    loops = {lv["path"]: lv["iterations"] for lv in out["loops"]}
    assert loops == {"2": 25, "2/2": 125}
    # the 14 steps: inside the two loops, a rocking curve rescanned wider when not ok
    inner = out["steps"][1]["steps"][1]["steps"]
    assert [s["title"].split(" ")[0] for s in inner] == [
        "next", "request", "set", "set", "rocking", "if", "align", "run", "request", "set", "set",
        "run"]
    assert out["results"]["rock"]["ok"] is True
    assert abs(out["results"]["rock"]["center"] - 11.40) < 0.01  # Si(111) at 10 keV


def test_set_overrides_shrink_the_campaign(capsys):
    code = main(["run", str(SEQUENCES / "pumpprobe.yaml"), "--dry-run", "--json",
                 "--set", "spots_per_delay=2", "--set", "delays=[0 ps, 5 ps]",
                 "--set", "reference_shots=10"])
    assert code == 0
    out = _json(capsys)
    assert (out["runs"], out["shots"]) == (8, 2 * 2 * 11)
    assert out["params"]["spots_per_delay"] == 2


def test_bad_override_is_a_user_error_with_suggestion(capsys):
    code = main(["validate", str(SEQUENCES / "pumpprobe.yaml"), "--set", "spots=2"])
    assert code == 2
    err = capsys.readouterr().err
    assert "--set: the sequence has no parameter 'spots'" in err
    assert "Did you mean 'spots_per_delay'?" in err


def test_loop_driven_limit_violation_fails_validation_with_line(tmp_path, capsys):
    seq = tmp_path / "far.yaml"
    seq.write_text("steps:\n  - for: d\n    in: {linspace: [0 ps, 2 ps, 5]}\n    steps:\n"
                   "      - request: {pump_delay: ${d}}\n", encoding="utf-8")
    assert main(["validate", str(seq), "--json"]) == 2
    (v,) = _json(capsys)["violations"]
    assert (v["file"], v["line"], v["column"]) == (str(seq), 5, 31)
    assert v["message"] == ("pump_delay target 1.5 ps is outside its limits when d = 1.5 ps "
                            "(allowed: 0 .. 1 ps)")


def test_dry_run_of_a_bad_sequence_exits_2_and_prints_no_traceback(tmp_path, capsys):
    seq = tmp_path / "bad.yaml"
    seq.write_text("steps:\n  - set: {pump: on}\n", encoding="utf-8")
    assert main(["run", str(seq), "--dry-run"]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert f"{seq}:2:17: pump is an accelerator parameter and cannot be set directly" in err


def test_real_run_of_small_sequence_logs_runs(tmp_path, capsys):
    data = tmp_path / "data"
    code = main(["run", str(SEQUENCES / "small.yaml"), "--json", "--data-dir", str(data),
                 "--set", "shots=5"])
    assert code == 0
    out = _json(capsys)
    assert out["outcome"] == "completed" and len(out["runs"]) == 2
    assert out["results"]["rock"]["ok"] is True
    assert Path(out["journal"]).is_file()


def test_devices_json_lists_every_profile_device(capsys):
    assert main(["devices", "--json"]) == 0
    out = _json(capsys)
    assert out["devices"]["theta"]["units"] == "deg"
    assert abs(out["devices"]["theta"]["value"] - 11.4) < 0.01
    assert out["devices"]["pump"]["access"] == "accelerator-request"


def test_resume_with_nothing_to_resume_is_a_user_error(tmp_path, capsys):
    assert main(["resume", "--data-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err == (f"error: nothing to resume: no unfinished campaign in {tmp_path}. "
                   "Start one with `expctl run SEQUENCE`; `--data-dir DIR` looks elsewhere.\n")


def test_validation_problems_are_listed_in_file_order(tmp_path, capsys):
    seq = tmp_path / "bad.yaml"
    seq.write_text("params:\n  delays: [0 ps, 120 ps]\nsteps:\n  - for: delay\n    in: ${delays}\n"
                   "    steps:\n      - request: {pump_delay: ${delay}}\n"
                   "      - move: {thetaa: 11.4 deg}\n      - set: {pump: on}\n",
                   encoding="utf-8")
    assert main(["validate", str(seq), "--json"]) == 2
    assert [v["line"] for v in _json(capsys)["violations"]] == [7, 8, 9]
    assert main(["validate", str(seq)]) == 2
    lines = capsys.readouterr().err.splitlines()
    assert lines[0] == f"{seq}: 3 problems"
    assert [ln.split(":")[1] for ln in lines[1:]] == ["7", "8", "9"]


def test_a_single_problem_is_one_error_line(tmp_path, capsys):
    seq = tmp_path / "one.yaml"
    seq.write_text("steps:\n  - set: {pump: on}\n", encoding="utf-8")
    assert main(["validate", str(seq)]) == 2
    assert capsys.readouterr().err.startswith(
        f"error: {seq}:2:17: pump is an accelerator parameter and cannot be set directly.")


@pytest.mark.parametrize(("name", "hint"), [
    ("pumprobe.yaml", "Did you mean {dir}/pumpprobe.yaml?"),
    ("zzz.yaml", "Sequences in {dir}: dark.yaml, pumpprobe.yaml."),
    ("nowhere/x.yaml", "There is no directory {dir}/nowhere."),
])
@pytest.mark.parametrize("command", ["run", "validate"])
def test_a_misspelled_sequence_path_suggests_the_file(tmp_path, capsys, name, hint, command):
    for present in ("pumpprobe.yaml", "dark.yaml"):
        (tmp_path / present).write_text("steps: []\n", encoding="utf-8")
    assert main([command, str(tmp_path / name), "--json"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == (f"error: {tmp_path / name}: no such sequence file. "
                            + hint.format(dir=tmp_path) + "\n")


def test_dry_run_tree_is_one_line_per_step_at_80_columns(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    assert main(["run", str(SEQUENCES / "pumpprobe.yaml"), "--dry-run"]) == 0
    lines = capsys.readouterr().out.splitlines()
    head = lines.index(next(line for line in lines if line.startswith("step ")))
    tree = lines[head + 1: head + 1 + 21]  # the 21 steps and branches of pumpprobe.yaml
    assert all(len(line) <= 80 for line in tree)
    assert re.search(r"^├── 2  for delay in \[-2 ps, -1\.5 ps, .*… +25 +250 / 37625 "
                     r"+\d+ min \d+ s$", tree[1])
    # parameters are shown as their values, not ${…}
    assert re.search(r"run reference: 300 shots +125 / 37500 +\d+ min \d+ s$", tree[14])
    assert tree[-1].startswith("└── 4  close xray_shutter")
