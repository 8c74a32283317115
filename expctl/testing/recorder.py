"""Drive a plan without an engine: record what it yields, answer with canned results.

For testing plan logic in isolation (what a stub yields, how it uses the
results sent back) without devices or time.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from expctl.devices.protocols import RunRecord
from expctl.errors import ExpctlError
from expctl.plans.actions import Action, Analyze, NextSpot, Plan, Read, TakeRun, one_by_one

__all__ = ["Recording", "record_plan"]

Responder = Callable[[Any], Any]


@dataclass
class Recording:
    """The actions a plan yielded, in order, and what it returned."""

    actions: list[Action] = field(default_factory=list)
    value: Any = None

    def of_type(self, kind: type) -> list[Any]:
        """The recorded actions of one type."""
        return [a for a in self.actions if isinstance(a, kind)]


def _default_responses() -> dict[type, Responder]:
    runs = iter(range(1, 1_000_000))
    spots = iter(range(1_000_000))

    def take_run(a: TakeRun) -> RunRecord:
        return RunRecord(next(runs), 3, 202601, 0, 0, 0.0, 0.0, 0, a.shots, a.label)

    def spot(a: NextSpot) -> tuple[int, float, float]:
        i = next(spots)
        return i, float(i), 0.0

    return {
        Read: lambda a: {name: 0.0 for name in a.devices},
        TakeRun: take_run,
        NextSpot: spot,
        Analyze: lambda a: a.fn(*a.args, **a.kwargs),
    }


def record_plan(plan: Plan, responses: Mapping[type, Responder] | None = None,
                limit: int = 1_000_000) -> Recording:
    """Run ``plan`` to its end, answering each action with ``responses[type](action)``.

    Args:
        plan: the plan to drive.
        responses: answer per action type; types without one get ``None``
            (defaults: reads give 0.0 per device, runs get numbers 1, 2, …,
            spots 0, 1, …, analyses are computed).
        limit: refuse to record more than this many actions (runaway plans).
    """
    answer = {**_default_responses(), **dict(responses or {})}
    plan = one_by_one(plan)  # a scan point is recorded as its actions
    rec = Recording()
    result: Any = None
    while True:
        try:
            action = plan.send(result)
        except StopIteration as done:
            rec.value = done.value
            return rec
        rec.actions.append(action)
        if len(rec.actions) > limit:
            plan.close()
            raise ExpctlError(f"plan yielded more than {limit} actions")
        fn = answer.get(type(action))
        result = fn(action) if fn is not None else None
