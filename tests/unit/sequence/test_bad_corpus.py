"""The corpus of bad sequences: each reports its first problem at an exact place, in exact words."""

from __future__ import annotations

from pathlib import Path

import pytest

from expctl.errors import UserError
from expctl.sequence.load import load_sequence

from .conftest import DATA

BAD = DATA / "bad"
ALLOWED_FNS = ("abs, cos, exp, float, int, len, linspace, log, log10, max, min, range, round, "
               "sin, sqrt")

# file, line, column, message (the paragraph after "file:line:column: ")
CASES = [
    ("a_directory.yaml", None, None,
     "is a directory, not a sequence file. Give the path of a .yaml file inside it."),
    ("access_accel.yaml", 2, 17, "pump is an accelerator parameter and cannot be set directly. "
     "Use a request instead, e.g. `request: {pump: VALUE}`."),
    ("access_staff.yaml", 2, 25, "moved mono_energy needs staff access; this session has user. "
     "Ask beamline staff, or start the session with the staff access level."),
    ("analyze_unknown.yaml", 2, 19,
     "unknown analysis 'fit_peak' (allowed: dark_subtracted_sum, find_peak). "
     "Did you mean 'find_peak'?"),
    ("analyze_run_not_run.yaml", 4, 59, "analyze dark_subtracted_sum: dark must be a run "
     "result such as ${dark} (a `run:` step with `as: dark`) or a run number, got a "
     "rocking_curve result"),
    ("analyze_run_number_text.yaml", 3, 59, "analyze dark_subtracted_sum: dark must be a run "
     "result such as ${dark} (a `run:` step with `as: dark`) or a run number, got 'dark'"),
    ("analyze_sum_field.yaml", 5, 9, "s has no field 'photons'. Did you mean 'photons_std'?"),
    ("analyze_wrong_detector.yaml", 4, 78, "analyze dark_subtracted_sum: 'mpcd' is not a "
     "detector of profile bl3 (allowed: mpccd, mpccd_octal). Did you mean 'mpccd'?"),
    ("bad_choice.yaml", 2, 23, "attenuator cannot be set to 250 um "
     "(allowed: 0 um, 100 um, 200 um, 400 um, 800 um, 1600 um)"),
    ("bad_state.yaml", 2, 20, "pd_gain cannot be set to medium (allowed: low, mid, high)"),
    ("deep_nesting.yaml", 60, 71, "nesting deeper than 60 levels"),
    ("duplicate_key.yaml", 3, 1, "duplicate key 'steps' (first given at line 1)"),
    ("empty.yaml", 1, 1, "the file is empty; a sequence needs at least `steps:`"),
    ("expr_call.yaml", 2, 11, f"open() is not an allowed function. Allowed: {ALLOWED_FNS}."),
    ("expr_dunder.yaml", 2, 19, "attribute '__class__' is not allowed; only result fields are"),
    ("expr_import.yaml", 2, 11, "names starting with '_' are not allowed (__import__)"),
    ("expr_lambda.yaml", 2, 11, "lambda is not allowed in expressions. Expressions may use "
     "numbers, quantities, + - * / **, comparisons, and/or/not, names, result fields and "
     f"{ALLOWED_FNS}()."),
    ("expr_result_field.yaml", 3, 19, "rock has no field 'centre'. Did you mean 'center'?"),
    ("expr_syntax.yaml", 2, 11, "invalid expression ${1 +* 2}: invalid syntax"),
    ("expr_units_mismatch.yaml", 4, 11, "cannot add ps (time) and deg (angle)"),
    ("expr_unknown_name.yaml", 5, 9, "unknown name 'delay' in ${delay}. Did you mean 'delays'?"),
    ("for_not_list.yaml", 3, 9, "for … in needs a list, got 5. Write a list, "
     "{linspace: [a, b, n]}, {range: [a, b, step]} or a ${…} giving a list."),
    ("huge_int.yaml", 2, 13, "repeat count must be between 0 and 1000000, got 1e+23 "
     "(allowed: 0 .. 1000000)"),
    ("huge_number.yaml", 2, 18, "shots must be between 1 and 1000000, got 1e+300 "
     "(allowed: 1 .. 1000000)"),
    ("include_bad_param.yaml", 3, 14,
     "dark.yaml has no parameter 'shot' (allowed: shots). Did you mean 'shots'?"),
    ("include_missing.yaml", 2, 14, "included file 'nowhere.yaml' does not exist. "
     f"Looked for {BAD / 'nowhere.yaml'}."),
    ("loop_limit.yaml", 7, 31, "pump_delay target 52 ps is outside its limits when "
     "delay = 52 ps (allowed: -5 .. 50 ps)"),
    ("move_switch.yaml", 2, 26, "xray_shutter has states, not positions; use `set:` to change "
     "it (allowed: open, closed)"),
    ("no_steps.yaml", 1, 1, "the sequence has no `steps:`"),
    ("not_utf8.yaml", 3, None, "the file is not UTF-8 text"),
    ("on_fault_bad.yaml", 3, 23, "on_fault retry count must be a whole number 1..100, got 'many'"),
    ("only_comment.yaml", 1, 1, "the file is empty; a sequence needs at least `steps:`"),
    ("out_of_limits.yaml", 2, 19,
     "theta target 14 deg is outside its limits (allowed: 10 .. 13 deg)"),
    ("read_only.yaml", 2, 18, "pd_i0 is a photodiode and can only be read"),
    ("request_motor.yaml", 2, 22, "theta is not an accelerator parameter; it cannot be "
     "requested. Use `move: {theta: VALUE}` instead."),
    ("rocking_span_negative.yaml", 2, 40,
     "theta: rocking_curve span must be positive, got -0.01 deg"),
    ("rocking_unknown_signal.yaml", 2, 70, "unknown signal device 'mpcd'. Did you mean 'mpccd'?"),
    ("run_result_field.yaml", 3, 18, "ref has no field 'shot'. Did you mean 'shots'?"),
    ("safe_state_run.yaml", 2, 5,
     "`run` cannot be part of safe_state (allowed: close, move, open, request, set)"),
    ("shots_float.yaml", 2, 18, "shots must be a whole number, got 2.5"),
    ("shots_type.yaml", 2, 18, "shots must be a whole number, got many"),
    ("top_not_mapping.yaml", 1, 1, "a sequence file must be a mapping (key: value), got a list"),
    ("two_verbs.yaml", 3, 5,
     "one step may do one thing; found move, set. Split them into separate `- ` items."),
    ("unicode.yaml", 3, 15, "unknown device 'θ'. See `expctl devices` for the names."),
    ("unknown_device.yaml", 2, 20, "unknown device 'thetta'. Did you mean 'theta'?"),
    ("unknown_step.yaml", 2, 5, "unknown step 'mvoe' (allowed: analyze, checkpoint, close, "
     "for, if, include, move, next_spot, open, repeat, request, rocking_curve, run, scan, set, "
     "wait). Did you mean 'move'?"),
    ("unknown_top_key.yaml", 2, 1, "unknown key 'step' in the sequence file (allowed: "
     "beamline, description, name, params, safe_state, steps). Did you mean 'steps'?"),
    ("unknown_unit.yaml", 2, 19, "unknown unit 'degree' in '11.4 degree'. Did you mean 'deg'?"),
    ("wait_wrong.yaml", 2, 11, "wait needs a time, got 5 mm (allowed: e.g. 2 s, 500 ms, 1 min)"),
    ("wrong_dimension.yaml", 2, 22,
     "sample_x is in mm (length); 10 ps is a time (allowed: -25 .. 25 mm)"),
    ("yaml_syntax.yaml", 4, 1, "YAML syntax error: did not find expected ',' or '}' "
     "while parsing a flow mapping"),  # (libyaml's words: expctl parses with it)
    ("yaml_tab.yaml", 3, 1, "YAML syntax error: found character '\\t' that cannot start any "
     "token while scanning for the next token"),
]


@pytest.mark.parametrize(("name", "line", "column", "message"), CASES, ids=[c[0] for c in CASES])
def test_bad_sequence_reports_exact_place_and_words(profile, name, line, column, message):
    path = BAD / name
    loaded = load_sequence(path, profile)
    assert not loaded.ok
    err = loaded.errors[0]
    assert isinstance(err, UserError)
    assert err.exit_code == 2
    assert (err.location.file, err.location.line, err.location.column) == (str(path), line,
                                                                           column)
    assert err.paragraph() == f"{err.location}: {message}"


@pytest.mark.parametrize("first", ["a", "b"])
def test_include_cycle_is_reported_where_it_closes(profile, first):
    other = "b" if first == "a" else "a"
    loaded = load_sequence(BAD / f"include_cycle_{first}.yaml", profile)
    (err,) = loaded.errors
    assert Path(err.location.file).name == f"include_cycle_{other}.yaml"
    assert (err.location.line, err.location.column) == (2, 14)
    assert err.message == (f"include cycle: include_cycle_{first}.yaml -> "
                           f"include_cycle_{other}.yaml -> include_cycle_{first}.yaml")


def test_corpus_is_large_and_every_file_is_covered():
    covered = {c[0] for c in CASES} | {"include_cycle_a.yaml", "include_cycle_b.yaml"}
    on_disk = {p.name for p in BAD.iterdir()}
    assert on_disk == covered
    assert len(covered) >= 30


def test_all_errors_are_collected_not_just_the_first(profile, tmp_path):
    seq = tmp_path / "many.yaml"
    seq.write_text(
        "steps:\n"
        "  - move: {theta: 20 deg}\n"
        "  - set: {pump: on}\n"
        "  - move: {sampel_x: 1 mm}\n"
        "  - wait: ${nope}\n", encoding="utf-8")
    loaded = load_sequence(seq, profile)
    assert [(e.location.line, e.location.column) for e in loaded.errors] == [
        (2, 19), (3, 17), (4, 22), (5, 11)]
    assert "Did you mean 'sample_x'?" in loaded.errors[2].paragraph()
