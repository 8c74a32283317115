"""``next_spot: sample``: move the sample stages to a fresh, never-exposed spot of a grid."""

from __future__ import annotations

from typing import Any

from expctl.errors import SequenceError
from expctl.plans import stubs
from expctl.plans.actions import Plan
from expctl.records import record
from expctl.sequence.model import Step
from expctl.sequence.outline import OutlineNode
from expctl.sequence.registry import CheckContext, CompileContext, ReadContext, Verb
from expctl.sequence.source import Node

__all__ = ["NextSpotStep", "NextSpotVerb"]


@record
class NextSpotStep(Step):
    """``next_spot: GRID``: the stage to a never-exposed spot of the grid."""

    grid: str = "sample"


class NextSpotVerb(Verb[NextSpotStep]):
    keywords = ("next_spot",)
    step_type = NextSpotStep

    def read(self, r: ReadContext, keyword: str, node: Node, body: dict[str, Node],
             common: dict[str, Any]) -> NextSpotStep:
        grid = "sample" if node.value is None else r.name(node, "next_spot grid", node.loc)
        return NextSpotStep(**common, grid=grid or "sample")

    def title(self, step: NextSpotStep) -> str:
        return f"next spot on {step.grid}"

    def check(self, c: CheckContext, step: NextSpotStep, env: dict[str, Any],
              node: OutlineNode, weight: float, context: str) -> None:
        grids = c.profile.spot_grids
        if grids and step.grid not in grids:
            raise SequenceError(f"unknown spot grid {step.grid!r}", location=step.loc,
                                device=step.grid, allowed=", ".join(grids))

    def compile(self, c: CompileContext, step: NextSpotStep, env: dict[str, Any], path: str,
                context: dict[str, Any]) -> Plan:
        yield from stubs.next_spot(step.grid)
