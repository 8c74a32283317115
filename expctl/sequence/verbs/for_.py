"""``for: delay`` ``in: ${delays}`` with ``steps:``: once per value, the variable bound to it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from expctl.errors import SequenceError
from expctl.plans.actions import Plan
from expctl.sequence.expr import Unknown, describe_value
from expctl.sequence.model import Arg, Step
from expctl.sequence.outline import OutlineNode
from expctl.sequence.registry import RESERVED, CheckContext, CompileContext, ReadContext, Verb
from expctl.sequence.source import Node
from expctl.sequence.values import MAX_LOOP, known, scalar

__all__ = ["ForStep", "ForVerb", "loop_values"]


@dataclass(frozen=True)
class ForStep(Step):
    var: str = ""
    values: Arg | None = None
    steps: tuple[Step, ...] = ()


def loop_values(arg: Arg, env: Mapping[str, Any]) -> list[Any] | Unknown:
    """The values a ``for`` loop runs over."""
    value = arg.value(dict(env))
    if isinstance(value, Unknown):
        return value
    if isinstance(value, list | tuple):
        if len(value) > MAX_LOOP:
            raise SequenceError(f"for … in has {len(value)} values; at most {MAX_LOOP}",
                                location=arg.loc)
        return [scalar(v) for v in value]
    raise SequenceError(f"for … in needs a list, got {describe_value(value)}",
                        location=arg.loc, hint="Write a list, {linspace: [a, b, n]}, "
                        "{range: [a, b, step]} or a ${…} giving a list.")


class ForVerb(Verb[ForStep]):
    keywords = ("for",)
    step_type = ForStep
    extra_keys = frozenset({"in", "steps"})

    def read(self, r: ReadContext, keyword: str, node: Node, body: dict[str, Node],
             common: dict[str, Any]) -> ForStep:
        var = r.name(node, "the loop variable of `for:`", node.loc)
        if var in RESERVED:
            r.err(f"{var!r} is reserved and cannot be a loop variable", node.loc)
        values: Arg | None = None
        if "in" not in body:
            r.err("for needs `in:` (a list, {linspace: …}, {range: …} or ${…})", common["loc"])
        else:
            values = r.values_arg(body["in"], "for … in")
        if "steps" not in body:
            r.err("for needs `steps:`", common["loc"])
        return ForStep(**common, var=var or "", values=values,
                       steps=r.steps(body["steps"], "steps") if "steps" in body else ())

    def title(self, step: ForStep) -> str:
        return f"for {step.var} in {step.values.raw if step.values else '?'}"

    def check(self, c: CheckContext, step: ForStep, env: dict[str, Any], node: OutlineNode,
              weight: float, context: str) -> None:
        found = loop_values(step.values, env) if step.values else []
        items = [found] if isinstance(found, Unknown) else found
        c.loop(step.steps, node, env, weight, context, list(enumerate(items)), step.var)

    def compile(self, c: CompileContext, step: ForStep, env: dict[str, Any], path: str,
                context: dict[str, Any]) -> Plan:
        values = known(loop_values(step.values, env)) if step.values else []
        yield from c.loop(step.steps, step.loc, env, path, context, step.var,
                          list(enumerate(values)), step.var)
