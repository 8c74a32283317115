"""``scan: {axis: theta, start: …, stop: …, points: 21, read: [mpccd, pd_i0], as: s}``."""

from __future__ import annotations

from dataclasses import field
from typing import Any

from expctl.devices.profile import DeviceSpec
from expctl.errors import ExpctlError, Location
from expctl.plans import stubs
from expctl.plans.actions import Plan
from expctl.records import record
from expctl.sequence.devices import device_spec, target, to_device_units
from expctl.sequence.expr import Unknown, linspace
from expctl.sequence.model import Arg, Step
from expctl.sequence.outline import OutlineNode
from expctl.sequence.registry import CheckContext, CompileContext, ReadContext, Verb
from expctl.sequence.results import result_shape
from expctl.sequence.source import Node
from expctl.sequence.values import count_value, given, known, whole_number

__all__ = ["ScanStep", "ScanVerb", "check_axis"]

#: the most points (and shots per point) a scan or rocking curve may have
MAX_POINTS = 100_000


@record
class ScanStep(Step):
    """``scan: {axis, …}``: a step scan reading detectors at every point."""

    axis: str = ""
    axis_loc: Location = field(default_factory=Location)
    start: Arg | None = None
    stop: Arg | None = None
    points: Arg | None = None
    detectors: tuple[str, ...] = ()
    shots: Arg | None = None
    relative: bool = False
    result: str | None = None


def check_axis(c: CheckContext, axis: str, axis_loc: Location, points: Arg | None,
               shots: Arg | None, env: dict[str, Any], min_points: int) -> DeviceSpec:
    """The scanned axis (a device that moves) and the point and shot counts of a scan."""
    spec = device_spec(c.devices, axis, axis_loc, "axis")
    target(spec, Unknown(spec.units), "move", axis_loc, c.access)
    if points is not None:
        count_value(points, env, "points", maximum=MAX_POINTS, minimum=min_points)
    if shots is not None:
        count_value(shots, env, "shots_per_point", minimum=1, maximum=MAX_POINTS)
    return spec


class ScanVerb(Verb[ScanStep]):
    keywords = ("scan",)
    step_type = ScanStep

    def read(self, r: ReadContext, keyword: str, node: Node, body: dict[str, Node],
             common: dict[str, Any]) -> ScanStep | None:
        inner = r.mapping(node, "`scan:`")
        if inner is None:
            return None
        r.keys(node, {"axis", "start", "stop", "points", "read", "shots_per_point",
                      "relative", "as"}, "scan")
        axis = r.name(inner.get("axis"), "scan: axis", node.loc) or ""
        detectors = r.names(inner.get("read"), "scan: read", node.loc)
        return ScanStep(
            **common, axis=axis, axis_loc=inner["axis"].loc if "axis" in inner else node.loc,
            start=r.arg(inner.get("start"), "scan: start", node.loc),
            stop=r.arg(inner.get("stop"), "scan: stop", node.loc),
            points=r.arg(inner.get("points"), "scan: points", node.loc),
            detectors=detectors,
            shots=r.arg(inner.get("shots_per_point"), "scan: shots_per_point", node.loc,
                        required=False),
            relative=r.flag(inner.get("relative"), "relative"),
            result=r.result_name(inner, body, node.loc),
        )

    def title(self, step: ScanStep) -> str:
        name = f" → {step.result}" if step.result else ""
        ends = f"{step.start.raw if step.start else '?'} .. {step.stop.raw if step.stop else '?'}"
        return f"scan {step.axis} {ends}, {step.points.raw if step.points else '?'} points{name}"

    def check(self, c: CheckContext, step: ScanStep, env: dict[str, Any], node: OutlineNode,
              weight: float, context: str) -> None:
        try:
            spec = check_axis(c, step.axis, step.axis_loc, step.points, step.shots, env, 1)
            for end in (step.start, step.stop):
                if end is not None:
                    v = end.value(env)
                    if step.relative:
                        to_device_units(spec, v, end.loc)
                    else:
                        target(spec, v, "move", end.loc, c.access, context)
            for dev in step.detectors:
                device_spec(c.devices, dev, step.loc, "detector")
        except ExpctlError as exc:  # report it, still name the result: no cascade
            c.report(exc)
        if step.result:
            c.bind(step.result, result_shape("scan", {}, step.loc), env)

    def compile(self, c: CompileContext, step: ScanStep, env: dict[str, Any], path: str,
                context: dict[str, Any]) -> Plan:
        spec = device_spec(c.devices, step.axis, step.axis_loc, "axis")
        start_arg, stop_arg = given(step.start), given(step.stop)
        start = known(to_device_units(spec, start_arg.value(env), start_arg.loc))
        stop = known(to_device_units(spec, stop_arg.value(env), stop_arg.loc))
        n = whole_number(step.points, env, "points", minimum=1)
        offset = 0.0
        if step.relative:
            offset = float((yield from stubs.read((step.axis,)))[step.axis])
        positions = [float(p) + offset for p in linspace(start, stop, n)]
        for p in positions:
            target(spec, p, "move", step.axis_loc, c.access)
        shots = whole_number(step.shots, env, "shots_per_point", minimum=1)
        data = yield from stubs.scan(step.axis, positions, step.detectors, shots)
        c.bind(step.result, data, env)
