"""``repeat: 5`` with ``steps:`` (``var: spot`` names the 0-based iteration)."""

from __future__ import annotations

from typing import Any

from expctl.plans.actions import Plan
from expctl.records import record
from expctl.sequence.expr import Unknown
from expctl.sequence.model import Arg, Step
from expctl.sequence.outline import OutlineNode
from expctl.sequence.registry import CheckContext, CompileContext, ReadContext, Verb
from expctl.sequence.source import Node
from expctl.sequence.values import count_value, whole_number

__all__ = ["RepeatStep", "RepeatVerb"]


@record
class RepeatStep(Step):
    """``repeat: N``: its steps N times (``var`` names the 0-based iteration)."""

    count: Arg | None = None
    var: str | None = None
    steps: tuple[Step, ...] = ()


class RepeatVerb(Verb[RepeatStep]):
    keywords = ("repeat",)
    step_type = RepeatStep
    extra_keys = frozenset({"steps", "var"})

    def read(self, r: ReadContext, keyword: str, node: Node, body: dict[str, Node],
             common: dict[str, Any]) -> RepeatStep:
        var = body.get("var")
        if "steps" not in body:
            r.err("repeat needs `steps:`", common["loc"])
        return RepeatStep(
            **common, count=r.arg(node, "repeat count", node.loc),
            var=r.name(var, "repeat var", node.loc) if var is not None else None,
            steps=r.steps(body["steps"], "steps") if "steps" in body else (),
        )

    def title(self, step: RepeatStep) -> str:
        var = f" ({step.var})" if step.var else ""
        return f"repeat {step.count.raw if step.count else '?'}×{var}"

    def check(self, c: CheckContext, step: RepeatStep, env: dict[str, Any], node: OutlineNode,
              weight: float, context: str) -> None:
        n = count_value(step.count, env, "repeat count", minimum=0) if step.count else 0
        count = 1 if isinstance(n, Unknown) else n
        values = [(i, i if step.var else None) for i in range(count)]
        c.loop(step.steps, node, env, weight, context, values, step.var)

    def compile(self, c: CompileContext, step: RepeatStep, env: dict[str, Any], path: str,
                context: dict[str, Any]) -> Plan:
        n = whole_number(step.count, env, "repeat count", default=0)
        yield from c.loop(step.steps, step.loc, env, path, context, step.var,
                          [(i, i) for i in range(n)], step.var or "repeat")
