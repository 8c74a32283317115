"""``if: ${not rock.ok}`` with ``then:`` (and ``else:``) steps."""

from __future__ import annotations

from typing import Any

from expctl.errors import SequenceError
from expctl.plans.actions import Plan
from expctl.records import record
from expctl.sequence.expr import Unknown, describe_value
from expctl.sequence.model import Arg, Step
from expctl.sequence.outline import OutlineNode
from expctl.sequence.registry import CheckContext, CompileContext, ReadContext, Verb
from expctl.sequence.source import Node

__all__ = ["IfStep", "IfVerb"]


@record
class IfStep(Step):
    """``if: ${…}``: ``then`` steps when the condition holds, else ``else`` steps."""

    condition: Arg | None = None
    then: tuple[Step, ...] = ()
    orelse: tuple[Step, ...] = ()


class IfVerb(Verb[IfStep]):
    keywords = ("if",)
    step_type = IfStep
    extra_keys = frozenset({"then", "else"})

    def read(self, r: ReadContext, keyword: str, node: Node, body: dict[str, Node],
             common: dict[str, Any]) -> IfStep:
        if "then" not in body:
            r.err("if needs `then:`", common["loc"])
        return IfStep(
            **common, condition=r.arg(node, "if condition", node.loc),
            then=r.steps(body["then"], "then") if "then" in body else (),
            orelse=r.steps(body["else"], "else") if "else" in body else (),
        )

    def title(self, step: IfStep) -> str:
        return f"if {step.condition.raw if step.condition else '?'}"

    def check(self, c: CheckContext, step: IfStep, env: dict[str, Any], node: OutlineNode,
              weight: float, context: str) -> None:
        cond = step.condition.value(env) if step.condition else True
        branches = [(0, step.then), (1, step.orelse)]
        if not isinstance(cond, Unknown):
            if not isinstance(cond, bool | int | float):
                raise SequenceError(f"if needs true/false, got {describe_value(cond)}",
                                    location=step.condition.loc if step.condition
                                    else step.loc)
            branches = [branches[0] if cond else branches[1]]
        for k, branch in branches:
            sub = node.child(k, step, "then" if k == 0 else "else")
            sub.executions += weight
            c.block(branch, env, sub, weight, context)

    def compile(self, c: CompileContext, step: IfStep, env: dict[str, Any], path: str,
                context: dict[str, Any]) -> Plan:
        cond = step.condition.value(env) if step.condition else True
        yield from c.block(step.then if cond else step.orelse, env,
                           f"{path}/{'then' if cond else 'else'}", context)
