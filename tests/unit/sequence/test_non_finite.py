"""Values that are not finite numbers (.nan, .inf, 1e400 deg, --set x=nan) are located user errors.

Before, such a value slipped through where nothing compared it with a limit
(an unused parameter, a relative move, an ``if``, a loop value that only
tags runs, a rocking-curve span): validation said "no problems".
"""

from __future__ import annotations

import pytest

from expctl.cli import main
from expctl.sequence.load import load_sequence

from .conftest import SEQUENCES

HINT = ("A value that is not a finite number (.nan, .inf, beyond ±1.8e308) cannot drive a "
        "device, count shots or time a wait.")

QUIET_BEFORE = """\
name: quiet
params:
  unused: .inf
  gap: .nan
  delays: [1 ps, -.inf]
  big: 1.0e400
steps:
  - move: {theta: 0.001 deg}
    relative: true
  - rocking_curve: {axis: theta, span: 1e400 deg, points: 5, signal: mpccd.roi0 / pd_i0,
                    i0_window: [.nan, null]}
  - if: ${1e999 > 1}
    then:
      - wait: ${2e400 s}
  - for: d
    in: {linspace: [0 ps, .inf, 3]}
    steps:
      - run: {shots: 1, label: "d ${d}"}
"""


def _messages(tmp_path, profile, text, overrides=()):
    path = tmp_path / "seq.yaml"
    path.write_text(text, encoding="utf-8")
    loaded = load_sequence(path, profile, overrides)
    return [e.paragraph().split("seq.yaml:", 1)[-1] for e in loaded.errors]


def test_every_non_finite_literal_is_reported_where_it_is_written(tmp_path, profile) -> None:
    assert _messages(tmp_path, profile, QUIET_BEFORE) == [
        f"3:11: parameter unused must be a finite number, got .inf. {HINT}",
        f"4:8: parameter gap must be a finite number, got .nan. {HINT}",
        f"5:18: parameter delays must be a finite number, got -.inf. {HINT}",
        f"6:8: parameter big must be a finite number, got '1.0e400'. {HINT}",
        f"10:40: rocking_curve: span must be a finite number, got '1e400 deg'. {HINT}",
        f"11:33: rocking_curve: i0_window must be a finite number, got .nan. {HINT}",
        f"12:9: a number in ${{1e999 > 1}} is not finite. {HINT}",
        f"14:15: 2e400 s is not a finite number. {HINT}",
        f"16:27: for … in must be a finite number, got .inf. {HINT}",
    ]


@pytest.mark.parametrize(("given", "column", "shown"), [
    ("nan", 1, "'nan'"), ("-inf", 1, "'-inf'"), ("Infinity", 1, "'Infinity'"),
    (".nan", 1, ".nan"), ("1e400", 1, "'1e400'"), ("1e400 deg", 1, "'1e400 deg'"),
    ("[0.01 deg, .inf]", 12, ".inf"),
])
def test_set_values_that_are_not_finite_name_the_parameter(given, column, shown,
                                                           profile) -> None:
    loaded = load_sequence(SEQUENCES / "small.yaml", profile, [f"span={given}"])
    assert [e.paragraph() for e in loaded.errors] == [
        f"--set span:1:{column}: parameter span must be a finite number, got {shown}. {HINT}"]


def test_the_words_nan_and_inf_stay_text_where_text_is_meant(tmp_path, profile) -> None:
    text = "name: t\nsteps:\n  - run: {shots: 1, label: nan, comment: inf}\n"
    assert _messages(tmp_path, profile, text) == []


def test_validate_and_dry_run_exit_2_for_a_non_finite_value(tmp_path, capsys) -> None:
    path = tmp_path / "seq.yaml"
    path.write_text("name: n\nparams:\n  x: .nan\nsteps:\n  - wait: 1 s\n", encoding="utf-8")
    assert main(["validate", str(path)]) == 2
    assert "3:6: parameter x must be a finite number, got .nan" in capsys.readouterr().err
    assert main(["run", str(SEQUENCES / "small.yaml"), "--dry-run", "--set", "shots=nan",
                 "--data-dir", str(tmp_path / "data")]) == 2
    assert "parameter shots must be a finite number, got 'nan'" in capsys.readouterr().err
