"""`run: … as:` binds the run record; `analyze: dark_subtracted_sum` is checked and compiled."""

from __future__ import annotations

from expctl.analysis import RunSumResult
from expctl.devices.protocols import RunRecord
from expctl.plans.actions import Analyze, Set, TakeRun
from expctl.sequence.compile import compile_plan
from expctl.sequence.load import load_sequence

SEQ = """\
params: {limit: 50}
steps:
  - run: {shots: 20, label: dark, as: dark}
  - run: 30
    as: ref
  - analyze: {fn: dark_subtracted_sum, run: ${ref}, dark: ${dark}, detector: mpccd,
              threshold: 0.4, as: s}
  - if: ${s.ok and s.roi0_photons < limit}
    then: [{set: {attenuator: 0 um}}]
  - analyze: {fn: dark_subtracted_sum, run: ${ref}, dark: 12, detector: mpccd_octal,
              roi: [280, 320, 180, 220], as: octal}
"""


def _load(tmp_path, profile, text):
    path = tmp_path / "seq.yaml"
    path.write_text(text, encoding="utf-8")
    return load_sequence(path, profile)


def _record(run: int, shots: int) -> RunRecord:
    return RunRecord(run, 3, 202601, 0, 0, 0.0, 1.0, 0, shots)


def test_run_results_and_run_sums_have_static_shapes(tmp_path, profile):
    loaded = _load(tmp_path, profile, SEQ)
    assert loaded.ok, [e.paragraph() for e in loaded.errors]
    shapes = loaded.report.results
    assert shapes["dark"].kind == "run" and "shots" in shapes["ref"].fields
    assert shapes["s"].kind == "run_sum"
    assert {"roi0_photons", "photons_mean", "saturated_shots", "flags", "ok"} <= set(
        shapes["s"].fields)


def test_compiled_plan_feeds_the_run_records_to_a_facility_analysis(tmp_path, profile):
    loaded = _load(tmp_path, profile, SEQ)
    plan = compile_plan(loaded._doc(), profile, max_shots=8)()
    sent = None
    analyses = []
    seen: list = []
    runs = iter([_record(4, 20), _record(5, 30)])
    try:
        action = plan.send(None)
        while True:
            if isinstance(action, TakeRun):
                sent = next(runs)
            elif isinstance(action, Analyze):
                analyses.append(action)
                sent = RunSumResult(5, 4, "mpccd", 20.0, 25.0, 3044.0, 900.0, 0.0, 300.0,
                                    5.0, 30, 20, 0, 152.2, 300.0, 8.3)
            else:
                sent = None
            seen.append(action)
            action = plan.send(sent)
    except StopIteration:
        pass
    first, second = analyses
    assert first.facility and first.name == "s"
    assert first.kwargs["run"].run == 5 and first.kwargs["dark"].run == 4
    assert first.kwargs["threshold"] == 0.4 and first.kwargs["max_shots"] == 8
    assert dict(first.inputs) == {"run": "run 5", "dark": "run 4", "detector": "mpccd",
                                  "threshold": "0.4"}
    assert second.kwargs["dark"] == 12 and second.kwargs["roi"] == [280, 320, 180, 220]
    assert first.kwargs["run"].shots == 30  # ${ref}: the reference run's record
    # 20 photons < limit 50 and ok: the attenuator comes out
    assert any(isinstance(a, Set) and a.device == "attenuator" and a.value == 0
               for a in seen)


def test_threshold_outside_a_photon_fraction_is_reported(tmp_path, profile):
    loaded = _load(tmp_path, profile, SEQ.replace("threshold: 0.4", "threshold: 2"))
    (err,) = loaded.errors  # and no follow-up error where ${s.ok} is used
    assert (err.location.line, err.location.column) == (7, 26)
    assert err.paragraph().endswith(
        "analyze dark_subtracted_sum: threshold is a fraction of a photon in (0, 1], got 2 "
        "(allowed: 0 < threshold <= 1)")


def test_run_and_detector_must_be_given(tmp_path, profile):
    loaded = _load(tmp_path, profile, "steps:\n  - analyze: {fn: dark_subtracted_sum, "
                   "run: 3, as: s}\n")
    (err,) = loaded.errors
    assert err.message == "analyze dark_subtracted_sum lacks dark, detector"
