"""``expctl runs``, ``expctl show``, ``expctl reduce`` and the --follow poller."""

from __future__ import annotations

import json

import h5py
import numpy as np
import pytest

from expctl.cli import main
from expctl.cli.reduce import parse_bins, parse_runs
from expctl.errors import UserError
from expctl.runlog import Follower, ReduceOptions, parse_where
from expctl.testing.synthetic_events import synthetic_campaign

from .conftest import DELAYS, TRUTH, log_events


def _json(capsys):
    return json.loads(capsys.readouterr().out)


def test_runs_json_with_where(campaign, capsys):
    assert main(["runs", "--json", "--data-dir", str(campaign),
                 "--where", "label==pumped and delay>=6"]) == 0
    rows = _json(capsys)
    assert [r["run"] for r in rows] == [122, 124, 126, 128, 130, 132, 134, 136]
    assert {r["scan"]["delay"] for r in rows} == {6.0, 8.0}
    assert all(r["shots"] == 2 and r["outcome"] == "completed" for r in rows)


def test_runs_table_and_show(campaign, capsys):
    assert main(["runs", "--data-dir", str(campaign), "--where", "run<=2"]) == 0
    out = capsys.readouterr().out
    assert "2 runs" in out and "reference" in out and "pumped" in out
    assert main(["show", "2", "--json", "--data-dir", str(campaign)]) == 0
    shown = _json(capsys)
    assert shown["catalog"]["label"] == "pumped"
    assert shown["file"]["attrs"]["run"] == 2
    assert shown["file"]["datasets"]["mpccd/ROI_0_sum"] == {"shape": [2], "dtype": "float64",
                                                             "units": "photons"}
    assert shown["file"]["epicsOnce"]["pd_gain"] == "low"
    assert main(["show", "2", "--data-dir", str(campaign)]) == 0
    assert "per-shot datasets" in capsys.readouterr().out


def test_reduce_writes_cube_and_png_and_reports_the_fit(campaign, tmp_path, capsys):
    out = tmp_path / "cube.h5"
    png = tmp_path / "cube.png"
    assert main(["reduce", "1-136", "--json", "--data-dir", str(campaign), "--out", str(out),
                 "--plot", str(png)]) == 0
    summary = _json(capsys)
    assert summary["runs"] == list(range(1, 137))
    assert abs(summary["fit"]["t0"] - TRUTH.t0_ps) < 0.1
    assert abs(summary["fit"]["tau"] - TRUTH.tau_ps) < 0.15 * TRUTH.tau_ps
    assert png.read_bytes()[:4] == b"\x89PNG"
    with h5py.File(out, "r") as f:
        assert f["entry/fit/t0"][()] == pytest.approx(summary["fit"]["t0"])
    # --where selection and the default output location
    assert main(["reduce", "--where", "delay>=2", "--bins", "2:10:2", "--no-fit",
                 "--data-dir", str(campaign)]) == 0
    line = capsys.readouterr().out
    assert "40 runs" in line and "4 bins" in line
    assert (campaign / "reduced" / "cube_97-136.png").exists()


@pytest.mark.parametrize(("argv", "message"), [
    (["reduce", "5-2"], "error: bad run specification '5-2' (allowed: numbers and ranges"),
    (["reduce", "1", "--bins", "x"], "error: --bins 'x' is not understood (allowed: unique,"),
    (["reduce", "1", "--i0-window", "5"], "error: --i0-window '5' is not a window"),
    (["reduce", "999"], "error: run 999 is not in the catalog"),
    (["reduce"], "error: no runs selected: no campaign in "),  # (synthetic: no journal)
    (["reduce", "--where", "label == dark"], "error: no runs selected: none of the 136 logged "
                                            "runs matches --where 'label == dark' and has the "
                                            "bin variable. `expctl runs --where ...`"),
    (["runs", "--where", "label=="], "error: --where 'label==': expected a value"),
    (["show", "4242"], "error: run 4242 is not in the catalog"),
])
def test_user_errors_are_one_paragraph_with_exit_2(campaign, capsys, argv, message):
    code = main([*argv, "--data-dir", str(campaign)])
    err = capsys.readouterr().err
    assert err.startswith(message), err
    assert err.count("\n") == 1 and code == 2


def test_unknown_run_names_the_logged_range(campaign, capsys):
    assert main(["show", "4242", "--data-dir", str(campaign)]) == 2
    assert capsys.readouterr().err == (
        f"error: run 4242 is not in the catalog {campaign / 'catalog.sqlite'} "
        "(allowed: 1 .. 136). `expctl runs` lists the logged runs.\n")


@pytest.mark.parametrize("command", [["runs"], ["show", "1"], ["reduce", "1"]])
def test_missing_catalog_is_a_user_error_naming_the_directory(tmp_path, capsys, command):
    empty = tmp_path / "empty"
    assert main([*command, "--data-dir", str(empty)]) == 2
    assert capsys.readouterr().err == (
        f"error: no runs logged in {empty} yet: it has no run catalog (the directory does not "
        "exist). Take runs with `expctl run SEQUENCE`, or give --data-dir DIR (or set "
        "EXPCTL_DATA_DIR) for another beamtime's data.\n")


def test_show_prints_local_iso_times_and_keeps_raw_ones_in_json(campaign, capsys):
    from datetime import datetime

    assert main(["show", "2", "--json", "--data-dir", str(campaign)]) == 0
    row = _json(capsys)["catalog"]
    assert isinstance(row["start_time"], float)
    assert main(["show", "2", "--data-dir", str(campaign)]) == 0
    out = capsys.readouterr().out
    start = datetime.fromtimestamp(row["start_time"]).isoformat(" ", "milliseconds")
    assert f"start_time     {start}" in out
    assert f"duration       {row['stop_time'] - row['start_time']:.3f} s" in out
    assert "status         0 (stopped)" in out
    assert str(row["start_time"]) not in out
    assert "epicsOnce" in out and "pd_gain" in out and '{"' not in out.split("epicsOnce")[1]


def test_runs_table_shows_status_in_words(campaign, capsys):
    assert main(["runs", "--data-dir", str(campaign), "--where", "run==1"]) == 0
    line = capsys.readouterr().out.splitlines()[2]
    assert line.split()[:3] == ["1", "stopped", "completed"]


def test_a_filter_matching_nothing_says_which_words_named_nothing(campaign, capsys):
    assert main(["runs", "--data-dir", str(campaign), "--where", "dealy > 1 ps"]) == 0
    captured = capsys.readouterr()
    assert "0 runs" in captured.out
    assert captured.err.startswith("none of the 136 logged runs matches --where 'dealy > 1 ps'."
                                   " Not a name here, so compared as text: 'dealy'. Names here:"
                                   " columns: beamline,")
    assert "scan: delay" in captured.err
    assert main(["runs", "--json", "--data-dir", str(campaign), "--where", "delay > 100"]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out) == []
    assert captured.err == "none of the 136 logged runs matches --where 'delay > 100'.\n"


def test_parsers():
    assert parse_runs(["3", "5-7,9"]) == [3, 5, 6, 7, 9]
    assert parse_bins(None) is None and parse_bins("unique") is None
    assert parse_bins("12") == 12
    assert parse_bins("-1,0,2") == [-1.0, 0.0, 2.0]
    assert parse_bins("0:1:0.25") == [0.0, 0.25, 0.5, 0.75, 1.0]
    with pytest.raises(UserError, match="is not understood"):
        parse_bins("1:0:1")


def test_follow_reduces_again_each_time_a_selected_run_stops(tmp_path):
    data_dir = tmp_path / "data"
    events = list(synthetic_campaign(DELAYS[:8], spots_per_delay=1, reference_shots=50,
                                     rng=np.random.default_rng(5), response=TRUTH))
    seen = []
    follower = Follower(data_dir, ReduceOptions(fit=False), parse_where("sequence==pumpprobe"),
                        on_cube=seen.append)
    assert follower.poll() is None  # no catalog yet
    per_run = len(events) // 16  # start, one block, stop
    log_events(data_dir, events[: 4 * per_run])
    first = follower.poll()
    assert first is not None and first.runs == (1, 2, 3, 4)
    assert follower.poll() is None  # nothing new
    log_events(data_dir, events[4 * per_run:])
    second = follower.poll()
    assert second is not None and len(second.runs) == 16 and len(seen) == 2


def test_selections_skip_runs_without_the_bin_variable(tmp_path, capsys):
    from expctl.devices.protocols import RunRecord, ShotBlock
    from expctl.engine.events import RunContext, RunStarted, RunStopped, ShotBlockTaken

    data_dir = tmp_path / "data"
    events = list(synthetic_campaign(DELAYS[:6], spots_per_delay=1, reference_shots=30,
                                     rng=np.random.default_rng(7), response=TRUTH))
    dark = RunContext(sequence="pumpprobe", label="dark")  # no scan variables
    block = ShotBlock(99, {"tag": np.arange(3), "pd_i0": np.zeros(3)})
    events += [RunStarted(RunRecord(99, 3, 202601, 0, None, 0.0, None, 2, 0), dark, 0.0),
               ShotBlockTaken(block, dark, 0.1),
               RunStopped(RunRecord(99, 3, 202601, 0, 4, 0.0, 0.1, 0, 3), "completed", 0.1,
                          dark)]
    log_events(data_dir, events)
    assert main(["reduce", "--where", "sequence==pumpprobe", "--no-fit", "--json",
                 "--data-dir", str(data_dir)]) == 0
    assert 99 not in json.loads(capsys.readouterr().out)["runs"]
    follower = Follower(data_dir, ReduceOptions(fit=False))
    assert 99 not in follower.poll().runs
    assert main(["reduce", "99", "--data-dir", str(data_dir)]) == 2  # named explicitly: user error
    assert "has no per-shot scan/delay" in capsys.readouterr().err


def test_show_says_where_a_run_was_taken_one_based_with_loop_values_and_units():
    from expctl.cli.runs import _show_items

    row = {"run": 4, "step_path": "3/delay[1]/2/pump[1]/2",
           "loop": {"delay": 0.5, "i_delay": 1, "pump": "off", "i_pump": 1},
           "params": {"delays": [-1.0, 0.5], "shots": 5}, "scan": {"delay": 0.5},
           "units": {"loop.delay": "ps", "params.delays": "ps", "scan.delay": "ps"}}
    items = dict(_show_items(row))
    assert items["location"] == "delay 2 (0.5 ps) › pump 2 (off) › step 2"
    assert items["loop"] == "delay = 0.5 ps, pump = off"  # loop indices left out
    assert items["params"] == "delays = [-1, 0.5] ps, shots = 5"
    assert items["scan"] == "delay = 0.5 ps"
    # a catalog without units (written before they were logged) shows the bare numbers
    items = dict(_show_items({**row, "units": {}}))
    assert items["scan"] == "delay = 0.5" and items["location"].startswith("delay 2 (0.5) ›")
