"""``for: delay`` ``in: ${delays}`` with ``steps:``: once per value, the variable bound to it.

A ``for`` is a *scan* of the devices its values drive: runs inside log the value
as ``scan/<device>`` (in the log unit of the device's dimension) and its index
as ``scan/varStep``.  Which devices: ``scan: <device>`` says so explicitly;
otherwise every device the steps inside set to exactly ``${var}`` (``move:
{delay: ${delay}}``, ``request: {pump_delay: ${t}}``).  No name decides it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import fields
from typing import Any

from expctl.errors import Location, SequenceError
from expctl.plans.actions import Plan
from expctl.records import record
from expctl.sequence.devices import device_spec, to_device_units
from expctl.sequence.expr import Unknown, describe_value
from expctl.sequence.model import Arg, Step
from expctl.sequence.outline import OutlineNode
from expctl.sequence.registry import RESERVED, CheckContext, CompileContext, ReadContext, Verb
from expctl.sequence.source import Node
from expctl.sequence.values import MAX_LOOP, known, scalar
from expctl.sequence.verbs.targets import TargetsStep
from expctl.units import Quantity

__all__ = ["ForStep", "ForVerb", "driven_by", "loop_values"]


@record
class ForStep(Step):
    """``for: VAR, in: VALUES``: its steps once per value."""

    var: str = ""
    values: Arg | None = None
    steps: tuple[Step, ...] = ()
    #: the device named by ``scan:``, and where
    scan: str | None = None
    scan_loc: Location | None = None


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


def driven_by(var: str, steps: tuple[Step, ...]) -> tuple[str, ...]:
    """The devices ``steps`` set to exactly ``${var}`` (absolute targets only), in order.

    Nested steps count, except inside a loop that binds ``var`` anew.
    """
    found: dict[str, None] = {}
    pattern = re.compile(rf"\$\{{\s*{re.escape(var)}\s*\}}")
    for step in _walk(steps, var):
        if isinstance(step, TargetsStep) and not getattr(step, "relative", False):
            for dev, arg in step.targets.items():
                if isinstance(arg.raw, str) and pattern.fullmatch(arg.raw.strip()):
                    found[dev] = None
    return tuple(found)


def _walk(steps: tuple[Step, ...], var: str) -> Iterator[Step]:
    for step in steps:
        yield step
        if getattr(step, "var", None) == var:  # an inner loop's own variable of that name
            continue
        for f in fields(step):
            value = getattr(step, f.name)
            if isinstance(value, tuple) and value and all(isinstance(s, Step) for s in value):
                yield from _walk(value, var)


def _is_number(value: Any) -> bool:
    return isinstance(value, Quantity | Unknown) or (
        isinstance(value, int | float) and not isinstance(value, bool))


class ForVerb(Verb[ForStep]):
    keywords = ("for",)
    step_type = ForStep
    extra_keys = frozenset({"in", "steps", "scan"})

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
        scan = body.get("scan")
        return ForStep(**common, var=var or "", values=values,
                       steps=r.steps(body["steps"], "steps") if "steps" in body else (),
                       scan=r.name(scan, "`scan:` (the device the loop scans)", scan.loc)
                       if scan is not None else None,
                       scan_loc=scan.loc if scan is not None else None)

    def title(self, step: ForStep) -> str:
        return f"for {step.var} in {step.values.raw if step.values else '?'}"

    def scanned(self, step: ForStep) -> tuple[str, ...]:
        """The devices the loop scans: ``scan:``, else those set to ``${var}``."""
        return (step.scan,) if step.scan else driven_by(step.var, step.steps)

    def check(self, c: CheckContext, step: ForStep, env: dict[str, Any], node: OutlineNode,
              weight: float, context: str) -> None:
        found = loop_values(step.values, env) if step.values else []
        items = [found] if isinstance(found, Unknown) else found
        scanned = self.scanned(step)
        if step.scan:
            spec = device_spec(c.devices, step.scan, step.scan_loc or step.loc)
            for value in items:
                if not _is_number(value):
                    raise SequenceError(
                        f"for {step.var} scans {step.scan}, so its values must be numbers; "
                        f"got {describe_value(value)}", location=step.scan_loc,
                        device=step.scan, hint="Scan a device with numeric values, or drop "
                                               "`scan:`.")
                to_device_units(spec, value, step.scan_loc or step.loc)
        if step.var in c.devices and step.var not in scanned:
            c.warn(SequenceError(
                f"loop variable {step.var!r} has the name of a device: ${{{step.var}}} is the "
                "loop's value, not the device's, and runs log it only as a loop value",
                location=step.loc, device=step.var,
                hint=f"Rename the variable, or let the loop drive {step.var} "
                     f"(`move: {{{step.var}: ${{{step.var}}}}}` or `scan: {step.var}`)."))
        c.loop(step.steps, node, env, weight, context, list(enumerate(items)), step.var)

    def compile(self, c: CompileContext, step: ForStep, env: dict[str, Any], path: str,
                context: dict[str, Any]) -> Plan:
        values = known(loop_values(step.values, env)) if step.values else []
        scan = self.scanned(step) if all(_is_number(v) for v in values) else ()
        yield from c.loop(step.steps, step.loc, env, path, context, step.var,
                          list(enumerate(values)), step.var, scan)
