"""Errors inside a running YAML step name its file:line; rocking_curve takes an I0 window."""

from __future__ import annotations

import pytest

from expctl.analysis import AnalysisError
from expctl.engine import Engine
from expctl.errors import Location, MotorStallError
from expctl.plans import Analyze, step
from expctl.plans.actions import Checkpoint, StepBegin
from expctl.sequence.load import load_sequence
from expctl.testing import make_fake_beamline, record_plan

NO_SHUTTER = """\
name: closed
steps:
  - next_spot: sample
  - set: {pd_gain: high, attenuator: 200 um}
  - rocking_curve: {axis: theta, span: 0.01 deg, points: 9, signal: mpccd.roi0 / pd_i0,
                    as: rock}
"""

HINT = ("Is the shutter open? To leave out shots with bad I0, give an I0 window: "
        "`i0_window: [low, high]` in the rocking_curve step (`i0_window=(low, high)` from "
        "Python).")


def _load(tmp_path, profile, text):
    path = tmp_path / "seq.yaml"
    path.write_text(text, encoding="utf-8")
    return load_sequence(path, profile)


def test_an_analysis_error_in_a_step_names_its_line_and_what_to_set(tmp_path, profile) -> None:
    loaded = _load(tmp_path, profile, NO_SHUTTER)
    assert loaded.ok, [e.paragraph() for e in loaded.errors]
    bl = make_fake_beamline()
    bl.devices["pd_i0"].charge = 0.0  # the I0 monitor sees no beam (shutter closed)
    with pytest.raises(AnalysisError) as info:
        Engine(bl).run(loaded.plan_factory()())  # no rehearsal: fails live
    err = info.value
    assert err.location == Location(str(tmp_path / "seq.yaml"), 5, 5)
    assert err.exit_code == 2
    assert err.paragraph() == (f"{tmp_path / 'seq.yaml'}:5:5: rocking_curve rock: i0 has 9 "
                               "non-positive or infinite values. " + HINT)
    assert bl.devices["xray_shutter"].value == "closed"  # failed into the safe state


def test_an_error_that_has_a_location_keeps_it() -> None:
    def boom():
        raise MotorStallError("theta stalled", location=Location("other.yaml", 2, 1))

    def fail_analysis():
        raise AnalysisError("no data")

    where = Location("s.yaml", 7, 3)
    for fn, expected in ((boom, Location("other.yaml", 2, 1)), (fail_analysis, where)):
        with pytest.raises(Exception) as info:
            Engine(make_fake_beamline()).run(step("1", "x", _analyze(fn), location=where))
        assert info.value.location == expected


def _analyze(fn):
    yield Analyze("a", fn)


WINDOWED = """\
steps:
  - open: xray_shutter
  - rocking_curve: {axis: theta, span: 0.01 deg, points: 9, signal: mpccd.roi0 / pd_i0,
                    i0_window: [WINDOW], as: rock}
"""


def _analyze_kwargs(loaded):
    flat = {"theta": 11.4, "mpccd.roi0": 1.0, "pd_i0": 1.0}
    rec = record_plan(loaded.plan_factory()(),
                      {Analyze: lambda a: None, **_reads(flat)})
    (analysis,) = [a for a in rec.actions if isinstance(a, Analyze)]
    return analysis.kwargs


def _reads(flat):
    from expctl.plans import Read

    return {Read: lambda a: flat}


@pytest.mark.parametrize("window, expected", [
    ("50, null", (50.0, None)), ("null, 2 nC", (None, 2000.0)), ("5 pC, 80", (5.0, 80.0))])
def test_i0_window_reaches_the_peak_finder_in_the_i0_units(tmp_path, profile, window,
                                                           expected) -> None:
    loaded = _load(tmp_path, profile, WINDOWED.replace("WINDOW", window))
    assert loaded.ok, [e.paragraph() for e in loaded.errors]
    kwargs = _analyze_kwargs(loaded)
    assert kwargs["i0_window"] == expected and kwargs["name"] == "rock"


def test_i0_window_leaves_bad_shots_out_of_the_fit() -> None:
    from expctl.plans.stubs import _fit_peak

    x = [11.395 + 0.001 * k for k in range(11)]
    y = [100.0 * 2.0 ** (-((v - 11.4) / 0.002) ** 2) + 1.0 for v in x]
    i0 = [1.0] * 11
    y[2], i0[2] = 0.0, 0.0  # one point without beam
    with pytest.raises(AnalysisError) as info:
        _fit_peak(x, y, i0, name="rock")
    assert info.value.message == "rocking_curve rock: i0 has 1 non-positive or infinite values"
    peak = _fit_peak(x, y, i0, i0_window=(0.5, None), name="rock")
    assert peak.center == pytest.approx(11.4, abs=2e-4)


@pytest.mark.parametrize("window, message", [
    ("5, 1", "i0_window low must be below high, got [5, 1]"),
    ("a, 1", "i0_window ends must be numbers or null, got a"),
    ("5 ps, 1", "pd_i0 is in pC (charge); 5 ps is a time"),
])
def test_bad_i0_windows_are_reported_at_their_line(tmp_path, profile, window, message) -> None:
    loaded = _load(tmp_path, profile, WINDOWED.replace("WINDOW", window))
    (err,) = loaded.errors  # and no cascade: ${rock} stays known
    assert err.location is not None and (err.location.line, err.location.column) == (4, 32)
    assert err.message == message


def test_i0_window_needs_an_i0(tmp_path, profile) -> None:
    text = WINDOWED.replace("WINDOW", "5, 10").replace("mpccd.roi0 / pd_i0", "mpccd.roi0")
    (err,) = _load(tmp_path, profile, text).errors
    assert err.paragraph().endswith("i0_window needs an I0 to apply to. Divide the signal by "
                                    "it (`signal: mpccd.roi0 / pd_i0`) or give `i0: pd_i0`.")


def test_every_compiled_step_opens_with_a_checkpoint(tmp_path, profile) -> None:
    loaded = _load(tmp_path, profile, NO_SHUTTER)
    rec = record_plan(loaded.plan_factory()(), _reads({"theta": 11.4, "mpccd.roi0": 1.0,
                                                         "pd_i0": 1.0}) | {
        Analyze: lambda a: None})
    begins = [i for i, a in enumerate(rec.actions) if isinstance(a, StepBegin)]
    assert len(begins) == 3
    assert all(isinstance(rec.actions[i + 1], Checkpoint) for i in begins)
