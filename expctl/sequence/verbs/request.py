"""``request: {pump: on}``: ask the accelerator for a parameter it controls."""

from __future__ import annotations

from typing import Any

from expctl.plans.actions import Request
from expctl.records import record
from expctl.sequence.registry import ReadContext
from expctl.sequence.source import Node
from expctl.sequence.verbs.targets import TargetsStep, TargetsVerb, pairs

__all__ = ["RequestStep", "RequestVerb"]


@record
class RequestStep(TargetsStep):
    """``request: {parameter: value}``: ask the accelerator for a setting."""


class RequestVerb(TargetsVerb[RequestStep]):
    keywords = ("request",)
    step_type = RequestStep
    verb = "request"
    action = Request

    def read(self, r: ReadContext, keyword: str, node: Node, body: dict[str, Node],
             common: dict[str, Any]) -> RequestStep:
        return RequestStep(**common, targets=r.targets(node, "request"))

    def title(self, step: RequestStep) -> str:
        return "request " + pairs(step.targets, " = ")
