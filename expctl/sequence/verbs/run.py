"""``run: 300`` or ``run: {shots: 300, label: reference, comment: …, full_frames: true}``."""

from __future__ import annotations

from typing import Any

from expctl.plans import stubs
from expctl.plans.actions import Plan
from expctl.records import record
from expctl.sequence.expr import Unknown
from expctl.sequence.model import Arg, Step
from expctl.sequence.outline import OutlineNode
from expctl.sequence.registry import CheckContext, CompileContext, ReadContext, Verb
from expctl.sequence.results import result_shape
from expctl.sequence.source import Node
from expctl.sequence.values import count_value, whole_number

__all__ = ["RunStep", "RunVerb"]


@record
class RunStep(Step):
    """``run: {shots, label}``: one DAQ run."""

    shots: Arg | None = None
    run_label: Arg | None = None
    comment: Arg | None = None
    full_frames: bool = False
    result: str | None = None


class RunVerb(Verb[RunStep]):
    keywords = ("run",)
    step_type = RunStep

    def read(self, r: ReadContext, keyword: str, node: Node, body: dict[str, Node],
             common: dict[str, Any]) -> RunStep | None:
        if node.is_scalar:
            return RunStep(**common, shots=r.arg(node, "shots", node.loc),
                           result=r.result_name({}, body, node.loc))
        inner = r.mapping(node, "`run:`")
        if inner is None:
            return None
        r.keys(node, {"shots", "label", "comment", "full_frames", "as"}, "run")
        return RunStep(
            **common,
            shots=r.arg(inner.get("shots"), "run: shots", node.loc),
            run_label=r.arg(inner.get("label"), "run: label", node.loc, required=False),
            comment=r.arg(inner.get("comment"), "run: comment", node.loc, required=False),
            full_frames=r.flag(inner.get("full_frames"), "full_frames"),
            result=r.result_name(inner, body, node.loc),
        )

    def title(self, step: RunStep) -> str:
        label = f" {step.run_label.raw}" if step.run_label is not None else ""
        shots = step.shots.raw if step.shots is not None else 1
        return f"run{label}: {shots} shot{'' if str(shots) == '1' else 's'}"

    def check(self, c: CheckContext, step: RunStep, env: dict[str, Any], node: OutlineNode,
              weight: float, context: str) -> None:
        shots = count_value(step.shots, env, "shots", minimum=1) if step.shots else 1
        for extra in (step.run_label, step.comment):
            if extra is not None:
                extra.value(env)
        node.own_runs += weight
        if not isinstance(shots, Unknown):
            node.own_shots += weight * shots
            if step.full_frames:
                node.own_frames += weight * shots
        if step.result:
            c.bind(step.result, result_shape("run", {}, step.loc), env)

    def compile(self, c: CompileContext, step: RunStep, env: dict[str, Any], path: str,
                context: dict[str, Any]) -> Plan:
        shots = whole_number(step.shots, env, "shots", minimum=1)
        label = str(step.run_label.value(env)) if step.run_label is not None else ""
        comment = str(step.comment.value(env)) if step.comment is not None else ""
        record = yield from stubs.take_run(shots, label, comment, step.full_frames)
        c.bind(step.result, record, env)
