"""``analyze: {fn: dark_subtracted_sum, run: ${ref}, dark: ${dark}, detector: mpccd, as: s}``.

Calls one of the analyses of :data:`~expctl.sequence.results.ANALYSES` on
earlier results; its result is named for the steps that follow.
"""

from __future__ import annotations

from dataclasses import field
from typing import Any

from expctl.devices.protocols import RunRecord
from expctl.errors import ExpctlError
from expctl.plans.actions import Analyze, Plan
from expctl.records import record
from expctl.sequence.expr import describe_value
from expctl.sequence.model import Arg, Step
from expctl.sequence.outline import OutlineNode
from expctl.sequence.registry import CheckContext, CompileContext, ReadContext, Verb
from expctl.sequence.results import ANALYSES, result_shape
from expctl.sequence.source import Node
from expctl.sequence.suggest import did_you_mean

__all__ = ["AnalyzeStep", "AnalyzeVerb"]


@record
class AnalyzeStep(Step):
    """``analyze: {fn: …}``: one of the shipped analyses on earlier results."""

    fn: str = ""
    args: dict[str, Arg] = field(default_factory=dict)
    result: str | None = None


def _describe_input(value: Any) -> str:
    """An analysis input for logs: a run record as ``run 123``, anything else as written."""
    if isinstance(value, RunRecord):
        return f"run {value.run}"
    return describe_value(value)


class AnalyzeVerb(Verb[AnalyzeStep]):
    keywords = ("analyze",)
    step_type = AnalyzeStep

    def read(self, r: ReadContext, keyword: str, node: Node, body: dict[str, Node],
             common: dict[str, Any]) -> AnalyzeStep | None:
        inner = r.mapping(node, "`analyze:`")
        if inner is None:
            return None
        fn = r.name(inner.get("fn"), "analyze: fn", node.loc) or ""
        if fn and fn not in ANALYSES:
            r.err(f"unknown analysis {fn!r}", inner["fn"].loc,
                  allowed=", ".join(sorted(ANALYSES)), hint=did_you_mean(fn, set(ANALYSES)))
            return None
        analysis = ANALYSES.get(fn)
        params = (*analysis.required, *analysis.optional) if analysis else ()
        r.keys(node, set(params) | {"fn", "as"}, f"analyze {fn}")
        args = {k: a for k, v in inner.items() if k in params
                and (a := r.arg(v, f"analyze: {k}", node.key_locs[k])) is not None}
        missing = [k for k in (analysis.required if analysis else ()) if k not in inner]
        if missing:
            r.err(f"analyze {fn} lacks {', '.join(missing)}", node.loc)
        result = r.result_name(inner, body, node.loc)
        if result is None:
            r.err("analyze needs `as:` to name its result", node.loc)
        return AnalyzeStep(**common, fn=fn, args=args, result=result)

    def title(self, step: AnalyzeStep) -> str:
        return f"analyze {step.fn} → {step.result}"

    def check(self, c: CheckContext, step: AnalyzeStep, env: dict[str, Any],
              node: OutlineNode, weight: float, context: str) -> None:
        values = {k: a.value(env) for k, a in step.args.items()}
        try:
            shape = result_shape(step.fn, values, step.loc, c.profile,
                                 {k: a.loc for k, a in step.args.items()})
        except ExpctlError as exc:  # report it, still name the result: no cascade
            c.report(exc)
            shape = result_shape(step.fn, {}, step.loc)
        if step.result:
            c.bind(step.result, shape, env)

    def compile(self, c: CompileContext, step: AnalyzeStep, env: dict[str, Any], path: str,
                context: dict[str, Any]) -> Plan:
        analysis = ANALYSES[step.fn]
        kwargs = {k: a.value(env) for k, a in step.args.items()}
        inputs = {k: _describe_input(v) for k, v in kwargs.items()}
        if analysis.facility and c.max_shots is not None:
            kwargs["max_shots"] = c.max_shots
        result = yield Analyze(step.result or step.fn, analysis.run, (), kwargs, inputs=inputs,
                               facility=analysis.facility)
        c.bind(step.result, result, env)
