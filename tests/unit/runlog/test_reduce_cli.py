"""``expctl reduce`` says when it does not know: exit codes and messages of each case."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest

from expctl.cli import main
from expctl.engine.events import ShotBlockTaken
from expctl.testing.synthetic_events import synthetic_campaign

from .conftest import TRUTH, log_events

COARSE = [-2.0, -1.0, 0.0, 1.0, 2.0, 3.0, 4.0, 6.0, 8.0]
FINE = [-1.0, -0.5, 0.0, 0.1, 0.2, 0.3, 0.4, 0.6, 0.8, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0]
TT_RMS = 0.15


def _with_timing_tool(events, rng):
    """The events with a per-shot timing-tool column (arrival time, ps) in every block."""
    for event in events:
        if isinstance(event, ShotBlockTaken):
            n = len(event.block.data["tag"])
            data = {**event.block.data, "tt/FLTPOS_PS": rng.normal(0.0, TT_RMS, n)}
            event = replace(event, block=replace(event.block, data=data))
        yield event


@pytest.fixture(scope="module")
def coarse(tmp_path_factory):
    """A campaign whose delays are far coarser than the edge: t0 is only bracketed."""
    data_dir = tmp_path_factory.mktemp("coarse") / "data"
    log_events(data_dir, synthetic_campaign(COARSE, spots_per_delay=3, reference_shots=40,
                                            rng=np.random.default_rng(3), response=TRUTH))
    return data_dir


@pytest.fixture(scope="module")
def with_tt(tmp_path_factory):
    """A fine campaign whose runs carry a timing tool."""
    data_dir = tmp_path_factory.mktemp("tt") / "data"
    rng = np.random.default_rng(4)
    log_events(data_dir, _with_timing_tool(synthetic_campaign(
        FINE, spots_per_delay=3, reference_shots=40, rng=rng, response=TRUTH), rng))
    return data_dir


def _reduce(data_dir, *args):
    return main(["reduce", "--where", "sequence == 'pumpprobe'", "--data-dir", str(data_dir),
                 *args])


def test_a_sharp_edge_between_two_delays_is_bracketed(coarse, capsys):
    """A sharp edge (10 fs, given) between delays 1 ps apart: t0 is that step's midpoint ±
    step/√12, and A (the change at t0) is carried there with that spread."""
    assert _reduce(coarse, "--jitter", "0.01", "--json") == 0
    fit = json.loads(capsys.readouterr().out)["fit"]
    assert fit["bracketed"] and fit["t0_bracket"] == [0.0, 1.0] and fit["complete"]
    assert fit["t0"] == 0.5 and fit["t0_err"] == pytest.approx(1 / 12 ** 0.5)
    truth_at_mid = TRUTH.amplitude * np.exp(-(0.5 - TRUTH.t0_ps) / TRUTH.tau_ps)
    assert abs(fit["amplitude"] - truth_at_mid) < 3 * fit["amplitude_err"]
    assert abs(fit["tau"] - TRUTH.tau_ps) < 3 * fit["tau_err"]
    assert fit["sigma_source"] == "given: 0.01" and not fit["sigma_fitted"]
    assert _reduce(coarse, "--jitter", "0.01") == 0
    out = capsys.readouterr().out
    assert "t0 = 0.5 ± 0.29 ps" in out
    assert "t0 bracketed: the edge lies between 0 and 1 ps, sharper than that step" in out


def test_an_edge_outside_the_scan_fails_naming_what_to_measure(coarse, capsys):
    assert _reduce(coarse, "--where", "delay >= 1") == 1
    captured = capsys.readouterr()
    err = captured.err
    assert err.startswith("error: the pump-response fit leaves t0")
    assert "lies outside the scanned delays 1…8 ps; extend the scan across it" in err
    assert err.endswith("The cube and plot are written; --allow-partial accepts a partial "
                        "result (exit 0).\n") and err.count("\n") == 1
    assert "t0 not constrained" in captured.out and "undetermined: t0 is not" in captured.out
    assert "cube_19-54.h5" in captured.out and (coarse / "reduced" / "cube_19-54.h5").exists()
    # accepted as partial: exit 0, and the JSON says what is missing
    assert _reduce(coarse, "--where", "delay >= 1", "--allow-partial", "--json") == 0
    fit = json.loads(capsys.readouterr().out)["fit"]
    assert not fit["complete"] and "t0" in fit["undetermined"] and not fit["bracketed"]


def test_too_few_delays_fail_with_exit_1(coarse, capsys):
    assert _reduce(coarse, "--where", "delay <= 1", "--allow-partial", "--json") == 0
    fit = json.loads(capsys.readouterr().out)["fit"]
    assert fit["undetermined"]["t0"] == ("only 4 delays have pumped shots; fitting 4 "
                                         "parameters (t0, amplitude, tau, sigma) needs at "
                                         "least 6: measure more delays")
    assert _reduce(coarse, "--where", "delay <= 1") == 1
    assert "measure more delays" in capsys.readouterr().err


@pytest.mark.parametrize(("where", "message"), [
    ("label == 'reference'", "error: no pumped shots selected: none of the 27 shots has "
                             "lightStatus/laser on. A pump-probe reduction needs both"),
    ("label == 'pumped'", "error: no reference shots selected: none of the 27 shots has "
                          "lightStatus/laser off. A pump-probe reduction needs both"),
])
def test_no_pumped_or_no_reference_shots_is_a_user_error(coarse, capsys, where, message):
    extra = ["--where", f"sequence == 'pumpprobe' and {where} and run <= 6"]
    code = main(["reduce", *extra, "--data-dir", str(coarse)])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith(message.replace("27", "3" if "pumped'" in where
                                                        else "120")), err


def test_filters_that_drop_every_pumped_shot_say_so(coarse, capsys):
    assert _reduce(coarse, "--i0-rel", "5,") == 2
    err = capsys.readouterr().err
    assert err.startswith("error: no pumped shots selected: none of the 1107 shots has "
                          "lightStatus/laser on; the filters dropped all 27 of them (i0_window")


@pytest.mark.parametrize(("args", "message"), [
    (["--jitter", "0.1", "--fit-jitter"],
     "error: --jitter fixes the jitter and --fit-jitter fits it; give one\n"),
    (["--jitter", "-1"], "error: --jitter -1.0 is not a jitter (allowed: > 0 ps)\n"),
    (["--timing-tool", "tt/nothing"], "error: no timing-tool column tt/nothing in the selected "
                                      "runs (allowed: no tt/ columns). Give another "
                                      "--timing-tool, or none to fit the jitter.\n"),
])
def test_bad_jitter_options_are_user_errors(coarse, capsys, args, message):
    assert _reduce(coarse, *args) == 2
    assert capsys.readouterr().err == message


@pytest.mark.slow
def test_the_timing_tool_sets_the_jitter_and_the_result_says_so(with_tt, capsys):
    assert _reduce(with_tt, "--json") == 0
    fit = json.loads(capsys.readouterr().out)["fit"]
    assert fit["sigma_source"].startswith("timing tool tt/FLTPOS_PS (robust rms of 45 pumped "
                                          "shots): ")
    assert not fit["sigma_fitted"] and abs(fit["sigma"] / TT_RMS - 1.0) < 0.5  # MAD of 45
    assert fit["complete"] and abs(fit["t0"] - TRUTH.t0_ps) < 3 * fit["t0_err"]
    # ignoring it falls back to fitting the jitter under the prior
    assert _reduce(with_tt, "--json", "--timing-tool", "none", "--allow-partial") == 0
    assert json.loads(capsys.readouterr().out)["fit"]["sigma_source"].startswith("fitted, ")


def test_baseline_is_fitted_on_request(with_tt, capsys):
    assert _reduce(with_tt, "--baseline", "--allow-partial") == 0
    out = capsys.readouterr().out
    assert ", baseline = " in out and "jitter sigma: timing tool tt/FLTPOS_PS" in out
