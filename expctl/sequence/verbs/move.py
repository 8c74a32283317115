"""``move: {theta: 11.4 deg, sample_x: 1 mm}`` (``relative: true`` moves by the amounts)."""

from __future__ import annotations

from typing import Any

from expctl.errors import ExpctlError
from expctl.plans import stubs
from expctl.plans.actions import Action, Move, Plan
from expctl.records import record
from expctl.sequence.devices import device_spec, target
from expctl.sequence.expr import Unknown
from expctl.sequence.outline import OutlineNode
from expctl.sequence.registry import CheckContext, CompileContext, ReadContext, Verb
from expctl.sequence.source import Node
from expctl.sequence.verbs.targets import TargetsStep, pairs

__all__ = ["MoveStep", "MoveVerb"]


@record
class MoveStep(TargetsStep):
    """``move: {axis: position, …}``: absolute (or ``relative``) moves."""

    relative: bool = False


class MoveVerb(Verb[MoveStep]):
    keywords = ("move",)
    step_type = MoveStep
    extra_keys = frozenset({"relative"})
    safe = True

    def read(self, r: ReadContext, keyword: str, node: Node, body: dict[str, Node],
             common: dict[str, Any]) -> MoveStep:
        relative = r.flag(body.get("relative") or (node.value.get("relative")
                                                    if node.is_map else None), "relative")
        return MoveStep(**common, targets=r.targets(node, "move"), relative=relative)

    def title(self, step: MoveStep) -> str:
        return ("move by " if step.relative else "move ") + pairs(step.targets, " → ")

    def check(self, c: CheckContext, step: MoveStep, env: dict[str, Any], node: OutlineNode,
              weight: float, context: str) -> None:
        if not step.relative:
            c.targets(step.targets, "move", env, context)
            return
        for dev, arg in step.targets.items():
            try:
                spec = device_spec(c.devices, dev, arg.loc)
                target(spec, Unknown(spec.units), "move", arg.loc, c.access)
                arg.value(env)
            except ExpctlError as exc:
                c.report(exc)

    def compile(self, c: CompileContext, step: MoveStep, env: dict[str, Any], path: str,
                context: dict[str, Any]) -> Plan:
        targets = {dev: c.value(dev, a, env, "move", relative=step.relative)
                   for dev, a in step.targets.items()}
        yield from (stubs.mvr(targets) if step.relative else stubs.mv(targets))

    def safe_actions(self, c: CompileContext, step: MoveStep, env: dict[str, Any]
                     ) -> list[Action]:
        return [Move({d: c.value(d, a, env, "move") for d, a in step.targets.items()})]
