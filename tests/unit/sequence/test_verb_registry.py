"""A new sequence verb is one class: read, title, check and compile, registered per load.

``flash`` below exists only in this test.  Nothing else in expctl knows it,
yet it is read with located errors, checked against the profile inside loops,
shown in the outline and compiled into the same plans as every other step.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from expctl.engine import Engine
from expctl.errors import ExpctlError, Location, SequenceError
from expctl.plans import stubs
from expctl.plans.actions import Plan, Set, Sleep, StepBegin
from expctl.sequence.load import load_sequence
from expctl.sequence.model import Arg, Step
from expctl.sequence.outline import OutlineNode
from expctl.sequence.registry import CheckContext, CompileContext, ReadContext, Verb
from expctl.sequence.source import Node
from expctl.sequence.values import known
from expctl.sequence.verbs import standard_verbs
from expctl.sequence.verbs.wait import seconds_value
from expctl.testing import make_fake_beamline, record_plan

from .conftest import DATA


@dataclass(frozen=True)
class FlashStep(Step):
    shutter: str = ""
    shutter_loc: Location = field(default_factory=Location)
    seconds: Arg | None = None
    times: Arg | None = None


class FlashVerb(Verb[FlashStep]):
    """``flash: {shutter: xray_shutter, open_for: 0.5 s, times: 3}``: open, wait, close."""

    keywords = ("flash",)
    step_type = FlashStep

    def read(self, r: ReadContext, keyword: str, node: Node, body: dict[str, Node],
             common: dict[str, Any]) -> FlashStep | None:
        inner = r.mapping(node, "`flash:`")
        if inner is None:
            return None
        r.keys(node, {"shutter", "open_for", "times"}, "flash")
        shutter = inner.get("shutter")
        return FlashStep(**common,
                         shutter=r.name(shutter, "flash: shutter", node.loc) or "",
                         shutter_loc=shutter.loc if shutter is not None else node.loc,
                         seconds=r.arg(inner.get("open_for"), "flash: open_for", node.loc),
                         times=r.arg(inner.get("times"), "flash: times", node.loc,
                                     required=False))

    def title(self, step: FlashStep) -> str:
        return f"flash {step.shutter} for {step.seconds.raw if step.seconds else '?'}"

    def check(self, c: CheckContext, step: FlashStep, env: dict[str, Any], node: OutlineNode,
              weight: float, context: str) -> None:
        c.targets({step.shutter: Arg("open", step.shutter_loc)}, "set", env, context)
        if step.seconds is not None:
            seconds_value(step.seconds, env)

    def compile(self, c: CompileContext, step: FlashStep, env: dict[str, Any], path: str,
                context: dict[str, Any]) -> Plan:
        seconds = float(known(seconds_value(step.seconds, env))) if step.seconds else 0.0
        times = int(step.times.value(env)) if step.times else 1
        for _ in range(times):
            yield from stubs.put(step.shutter, c.value(step.shutter, Arg("open", step.loc), env,
                                                       "set"))
            yield from stubs.wait(seconds)
            yield from stubs.put(step.shutter, "closed")


VERBS = standard_verbs().with_verbs(FlashVerb())

FLASHES = """\
name: flashes
params:
  gaps: [0.5 s, 1 s]
steps:
  - for: gap
    in: ${gaps}
    steps:
      - flash: {shutter: xray_shutter, open_for: ${gap}, times: 2}
        label: expose
"""


def _write(tmp_path, text):
    path = tmp_path / "seq.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_a_registered_verb_is_read_checked_outlined_and_compiled(tmp_path, profile) -> None:
    loaded = load_sequence(_write(tmp_path, FLASHES), profile, verbs=VERBS)
    assert loaded.ok, [e.paragraph() for e in loaded.errors]
    loop = loaded.report.outline.children[0]
    assert loop.children[0].title == "expose (flash xray_shutter for ${gap})"
    assert loop.children[0].executions == 2
    actions = record_plan(loaded.plan_factory()()).actions
    assert [a.seconds for a in actions if isinstance(a, Sleep)] == [0.5, 0.5, 1.0, 1.0]
    assert [a.value for a in actions if isinstance(a, Set)] == ["open", "closed"] * 4
    assert [a.path for a in actions if isinstance(a, StepBegin)] == [
        "1", "1/gap[0]", "1/gap[0]/1", "1/gap[1]", "1/gap[1]/1"]


def test_the_new_verb_runs_on_the_engine(tmp_path, profile) -> None:
    loaded = load_sequence(_write(tmp_path, FLASHES), profile, verbs=VERBS)
    bl = make_fake_beamline()
    summary = Engine(bl).run(loaded.plan_factory()())
    assert summary.outcome == "completed"
    assert bl.devices["xray_shutter"].value == "closed"
    assert summary.duration >= 3.0  # four exposures of 0.5, 0.5, 1 and 1 s


def test_the_new_verb_reports_located_errors(tmp_path, profile) -> None:
    text = FLASHES.replace("xray_shutter", "xray_shuter").replace("${gap}", "${gap * 1 deg}")
    loaded = load_sequence(_write(tmp_path, text + "  - flash: {open_for: 1 s, color: red}\n"),
                           profile, verbs=VERBS)
    assert [e.paragraph().split(": ", 1)[1] for e in loaded.errors] == [
        "unknown key 'color' in flash (allowed: open_for, shutter, times)",
        "flash: shutter is missing",
    ]
    loaded = load_sequence(_write(tmp_path, text), profile, verbs=VERBS)
    assert [e.paragraph().split("seq.yaml:", 1)[1] for e in loaded.errors] == [
        "8:26: unknown device 'xray_shuter'. Did you mean 'xray_shutter'?",
        "8:49: cannot multiply quantity 0.5 s by quantity 1 deg: products of units are not "
        "supported",
    ]


def test_without_registering_it_the_verb_is_an_unknown_step(tmp_path, profile) -> None:
    loaded = load_sequence(_write(tmp_path, FLASHES), profile)
    (error,) = loaded.errors
    assert error.paragraph().split("seq.yaml:", 1)[1] == (
        "8:9: unknown step 'flash' (allowed: analyze, checkpoint, close, for, if, include, "
        "move, next_spot, open, repeat, request, rocking_curve, run, scan, set, wait)")


def test_a_keyword_or_step_type_cannot_be_registered_twice() -> None:
    with pytest.raises(ExpctlError, match="sequence verb 'flash' registered twice"):
        VERBS.with_verbs(FlashVerb())

    class Other(FlashVerb):
        keywords = ("other",)

    with pytest.raises(ExpctlError, match="step type FlashStep registered twice"):
        VERBS.with_verbs(Other())


def test_a_step_of_an_unregistered_kind_is_refused_by_name() -> None:
    @dataclass(frozen=True)
    class Stray(Step):
        extra: list[str] = field(default_factory=list)

    with pytest.raises(SequenceError, match="no verb is registered for Stray steps"):
        standard_verbs().of(Stray(Location("x.yaml", 3, 5)))


def test_safe_state_takes_only_safe_verbs(tmp_path, profile) -> None:
    text = "name: s\nsafe_state:\n  - checkpoint\n  - flash: {shutter: a, open_for: 1 s}\n" \
           "steps:\n  - checkpoint\n"
    loaded = load_sequence(_write(tmp_path, text), profile, verbs=VERBS)
    assert [e.paragraph().split(": ", 1)[1] for e in loaded.errors] == [
        "`checkpoint` cannot be part of safe_state (allowed: close, move, open, request, set)",
        "`flash` cannot be part of safe_state (allowed: close, move, open, request, set)",
    ]


def test_a_session_reads_its_sequences_with_its_verbs(tmp_path) -> None:
    from expctl.session import Session

    with Session.open(DATA / "profiles" / "bl3-mini.yaml", tmp_path / "data",
                      beamline=make_fake_beamline()) as session:
        assert not session.load(_write(tmp_path, FLASHES)).ok  # the shipped verbs only
        session.verbs = VERBS
        assert session.load(_write(tmp_path, FLASHES)).ok


def test_the_shipped_verbs_are_named_with_their_own_keywords() -> None:
    import importlib

    from expctl.sequence.verbs import SHIPPED

    for words, module, name in SHIPPED:
        verb = getattr(importlib.import_module(f"expctl.sequence.verbs.{module}"), name)
        assert verb.keywords == words, name
    assert sorted(standard_verbs().keywords) == sorted(w for ws, _, _ in SHIPPED for w in ws)


def test_a_sequence_imports_only_the_verbs_it_uses(tmp_path) -> None:
    """Each shipped verb module is imported when a sequence first uses its keyword."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    seq = _write(tmp_path, "name: s\nsteps:\n  - wait: 1 s\n  - repeat: 2\n    steps:\n"
                           "      - open: xray_shutter\n")
    profile = DATA / "profiles" / "bl3-mini.yaml"
    code = ("import sys; from expctl.devices.profile import load_profile\n"
            "from expctl.sequence.load import load_sequence\n"
            f"loaded = load_sequence({str(seq)!r}, load_profile({str(profile)!r}))\n"
            "assert loaded.ok, [e.paragraph() for e in loaded.errors]\n"
            "list(loaded.plan_factory()())\n"
            "print(sorted(m.rsplit('.', 1)[1] for m in sys.modules "
            "if m.startswith('expctl.sequence.verbs.')))")
    root = Path(__file__).resolve().parents[3]
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env={**os.environ, "PYTHONPATH": str(root)}, cwd=root, check=True)
    assert out.stdout.split("\n")[0] == str(["repeat", "set", "targets", "wait"])


def test_a_step_made_without_reading_it_finds_its_lazy_verb() -> None:
    from expctl.sequence.verbs.wait import WaitStep

    step = WaitStep(Location("x.yaml", 1, 1), seconds=Arg("2 s", Location()))
    assert standard_verbs().title(step) == "wait 2 s"
