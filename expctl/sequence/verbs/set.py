"""``set: {pd_gain: high}``, ``open: xray_shutter`` and ``close: [a, b]`` (set to open/closed)."""

from __future__ import annotations

from typing import Any

from expctl.plans.actions import Set
from expctl.records import record
from expctl.sequence.model import Arg
from expctl.sequence.registry import ReadContext
from expctl.sequence.source import Node
from expctl.sequence.verbs.targets import TargetsStep, TargetsVerb, pairs

__all__ = ["SetStep", "SetVerb"]


@record
class SetStep(TargetsStep):
    """``set``, ``open`` and ``close`` (the last two become ``set`` to open/closed)."""

    verb: str = "set"


class SetVerb(TargetsVerb[SetStep]):
    keywords = ("set", "open", "close")
    step_type = SetStep
    verb = "set"
    action = Set

    def read(self, r: ReadContext, keyword: str, node: Node, body: dict[str, Node],
             common: dict[str, Any]) -> SetStep:
        if keyword == "set":
            return SetStep(**common, targets=r.targets(node, "set"))
        state = "open" if keyword == "open" else "closed"
        names = node.value if node.is_seq else [node]
        targets: dict[str, Arg] = {}
        for n in names:
            dev = r.name(n, f"the device to {keyword}", common["loc"])
            if dev is not None:
                targets[dev] = Arg(state, n.loc)
        return SetStep(**common, targets=targets, verb=keyword)

    def title(self, step: SetStep) -> str:
        if step.verb in ("open", "close"):
            return f"{step.verb} {', '.join(step.targets)}"
        return "set " + pairs(step.targets, " = ")
