"""A bad `--set` value is reported where it is used, saying it came from `--set`."""

from __future__ import annotations

from expctl.sequence.load import load_sequence

SEQ = """\
params:
  shots: 20
  n: 3
steps:
  - run: {shots: ${shots}, label: a}
  - repeat: ${n}
    steps:
      - run: {shots: ${shots + 1}, label: b}
  - run: {shots: 0, label: c}
"""


def _errors(tmp_path, profile, overrides):
    path = tmp_path / "seq.yaml"
    path.write_text(SEQ, encoding="utf-8")
    return path, [e.paragraph() for e in load_sequence(path, profile, overrides).errors]


def test_a_set_value_is_reported_where_used_and_where_it_came_from(tmp_path, profile) -> None:
    path, errors = _errors(tmp_path, profile, ["shots=abc"])
    assert errors[0] == f"{path}:5:18: shots must be a whole number, got abc (from --set shots=abc)"
    # the second use (an expression over it) says the same; the literal 0 says nothing of --set
    assert errors[1].startswith(f"{path}:8:22: ") and errors[1].endswith("(from --set shots=abc)")
    assert errors[2] == (f"{path}:9:18: shots must be between 1 and 1000000, got 0 "
                         "(allowed: 1 .. 1000000)")
    assert len(errors) == 3


def test_several_set_values_at_one_place_are_all_named(tmp_path, profile) -> None:
    path, errors = _errors(tmp_path, profile, [" n = -1 ", "shots=5"])
    assert errors == [f"{path}:6:13: repeat count must be between 0 and 1000000, got -1 "
                      "(from --set n = -1) (allowed: 0 .. 1000000)",
                      f"{path}:9:18: shots must be between 1 and 1000000, got 0 "
                      "(allowed: 1 .. 1000000)"]


def test_values_given_by_python_have_no_command_line_to_blame(tmp_path, profile) -> None:
    path, errors = _errors(tmp_path, profile, {"shots": "abc"})
    assert errors[0] == f"{path}:5:18: shots must be a whole number, got abc"
