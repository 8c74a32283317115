"""What ``set`` and ``request`` share: a step giving devices values, one action per device."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import field
from typing import Any, TypeVar

from expctl.plans.actions import Action, Plan
from expctl.records import record
from expctl.sequence.model import Arg, Step
from expctl.sequence.outline import OutlineNode
from expctl.sequence.registry import CheckContext, CompileContext, Verb

__all__ = ["TargetsStep", "TargetsVerb", "pairs"]


@record
class TargetsStep(Step):
    """A step with ``{device: value, …}``."""

    targets: dict[str, Arg] = field(default_factory=dict)


T = TypeVar("T", bound=TargetsStep)


def pairs(targets: dict[str, Arg], sep: str) -> str:
    """``theta → 11.4 deg, sample_x → 1 mm``: targets as written, for titles."""
    return ", ".join(f"{dev}{sep}{arg.raw}" for dev, arg in targets.items())


class TargetsVerb(Verb[T]):
    """Each target checked like ``verb`` (set or request), then one ``action`` per device.

    Attributes:
        verb: how targets are checked (``set``: limits and access; ``request``: an
            accelerator parameter).
        action: the action a device's value becomes (``Set``, ``Request``).
    """

    verb: str
    action: Callable[[str, Any], Action]
    safe = True

    def check(self, c: CheckContext, step: T, env: dict[str, Any], node: OutlineNode,
              weight: float, context: str) -> None:
        c.targets(step.targets, self.verb, env, context)

    def actions(self, c: CompileContext, step: T, env: dict[str, Any]) -> Iterator[Action]:
        """One action per device, each value evaluated just before its action."""
        for dev, a in step.targets.items():
            yield self.action(dev, c.value(dev, a, env, self.verb))

    def compile(self, c: CompileContext, step: T, env: dict[str, Any], path: str,
                context: dict[str, Any]) -> Plan:
        yield from self.actions(c, step, env)

    def safe_actions(self, c: CompileContext, step: T, env: dict[str, Any]) -> list[Action]:
        return list(self.actions(c, step, env))
