"""``wait: 2 s`` (a time, or a plain number of seconds)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from expctl.errors import ExpctlError, SequenceError
from expctl.plans import stubs
from expctl.plans.actions import Plan
from expctl.records import record
from expctl.sequence.expr import Unknown, describe_value
from expctl.sequence.model import Arg, Step
from expctl.sequence.outline import OutlineNode
from expctl.sequence.registry import CheckContext, CompileContext, ReadContext, Verb
from expctl.sequence.source import Node
from expctl.sequence.values import given, known
from expctl.units import Quantity

__all__ = ["WaitStep", "WaitVerb", "seconds_value"]

#: the longest wait a sequence may ask for
MAX_WAIT_S = 7 * 86400


@record
class WaitStep(Step):
    """``wait: 2 s``: a time (or a plain number of seconds) passes on the clock."""

    seconds: Arg | None = None


def seconds_value(arg: Arg, env: Mapping[str, Any]) -> float | Unknown:
    """A duration: a time quantity, or a plain number of seconds."""
    value = arg.value(dict(env))
    if isinstance(value, Unknown):
        return value
    if isinstance(value, Quantity):
        try:
            seconds = value.to("s")
        except ExpctlError:
            raise SequenceError(f"wait needs a time, got {value}", location=arg.loc,
                                device="wait", allowed="e.g. 2 s, 500 ms, 1 min") from None
    elif isinstance(value, int | float) and not isinstance(value, bool):
        seconds = float(value)
    else:
        raise SequenceError(f"wait needs a time, got {describe_value(value)}",
                            location=arg.loc, device="wait", allowed="e.g. 2 s, 500 ms, 1 min")
    if not 0 <= seconds <= MAX_WAIT_S:
        raise SequenceError(f"wait of {describe_value(value)} is outside 0 s .. 7 days",
                            location=arg.loc, device="wait")
    return seconds


class WaitVerb(Verb[WaitStep]):
    keywords = ("wait",)
    step_type = WaitStep

    def read(self, r: ReadContext, keyword: str, node: Node, body: dict[str, Node],
             common: dict[str, Any]) -> WaitStep:
        return WaitStep(**common, seconds=r.arg(node, "wait", node.loc))

    def title(self, step: WaitStep) -> str:
        return f"wait {step.seconds.raw if step.seconds else '?'}"

    def check(self, c: CheckContext, step: WaitStep, env: dict[str, Any], node: OutlineNode,
              weight: float, context: str) -> None:
        if step.seconds is not None:
            seconds_value(step.seconds, env)

    def compile(self, c: CompileContext, step: WaitStep, env: dict[str, Any], path: str,
                context: dict[str, Any]) -> Plan:
        yield from stubs.wait(float(known(seconds_value(given(step.seconds), env))))
