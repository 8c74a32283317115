"""``checkpoint``: a place where a deferred pause takes effect and a resume starts over."""

from __future__ import annotations

from typing import Any

from expctl.plans import stubs
from expctl.plans.actions import Plan
from expctl.records import record
from expctl.sequence.model import Step
from expctl.sequence.registry import CompileContext, ReadContext, Verb
from expctl.sequence.source import Node

__all__ = ["CheckpointStep", "CheckpointVerb"]


@record
class CheckpointStep(Step):
    """``checkpoint``: where a deferred pause takes effect and a resume starts over."""


class CheckpointVerb(Verb[CheckpointStep]):
    keywords = ("checkpoint",)
    step_type = CheckpointStep
    bare = True

    def read(self, r: ReadContext, keyword: str, node: Node, body: dict[str, Node],
             common: dict[str, Any]) -> CheckpointStep:
        if node.value not in (None, {}, True):
            r.err("checkpoint takes no value", node.loc)
        return CheckpointStep(**common)

    def title(self, step: CheckpointStep) -> str:
        return "checkpoint"

    def compile(self, c: CompileContext, step: CheckpointStep, env: dict[str, Any], path: str,
                context: dict[str, Any]) -> Plan:
        yield from stubs.checkpoint()
