"""``rocking_curve: {axis: theta, span: 0.01 deg, points: 41, signal: mpccd.roi0 / pd_i0}``.

Scans the axis around its position (or ``center``) and fits the peak; the
fit is a named result (``as: rock`` gives ``${rock.center}``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import field
from typing import Any

from expctl.errors import ExpctlError, Location, SequenceError
from expctl.plans import stubs
from expctl.plans.actions import Plan
from expctl.records import record
from expctl.sequence.devices import device_spec, target, to_device_units
from expctl.sequence.expr import Unknown, describe_value
from expctl.sequence.model import Arg, Step
from expctl.sequence.outline import OutlineNode
from expctl.sequence.registry import CheckContext, CompileContext, ReadContext, Verb
from expctl.sequence.results import result_shape, signal_devices, split_signal
from expctl.sequence.source import Node
from expctl.sequence.values import given, known, whole_number
from expctl.sequence.verbs.scan import check_axis

__all__ = ["RockingCurveStep", "RockingCurveVerb", "i0_window_value"]


@record
class RockingCurveStep(Step):
    """``rocking_curve: {axis, span, points, signal …}``: scan and fit a peak."""

    axis: str = ""
    axis_loc: Location = field(default_factory=Location)
    span: Arg | None = None
    points: Arg | None = None
    signal: str = ""
    signal_loc: Location = field(default_factory=Location)
    i0: str | None = None
    #: ``[low, high]`` I0 limits (either may be null): shots outside are left out of the fit
    i0_window: Arg | None = None
    center: Arg | None = None
    shots: Arg | None = None
    result: str | None = None


def i0_window_value(step: RockingCurveStep, env: Mapping[str, Any], devices: Mapping[str, Any]
                    ) -> tuple[float | None, float | None] | Unknown | None:
    """A rocking curve's ``i0_window: [low, high]`` in its I0 device's units (None if unset).

    Either end may be null (open); quantities are converted (``50 pC``), plain
    numbers are taken in the I0 device's units.
    """
    arg = step.i0_window
    if arg is None:
        return None
    i0 = step.i0 or split_signal(step.signal, step.signal_loc)[1]
    if i0 is None:
        raise SequenceError("i0_window needs an I0 to apply to", location=arg.loc,
                            device="i0_window", hint="Divide the signal by it "
                            "(`signal: mpccd.roi0 / pd_i0`) or give `i0: pd_i0`.")
    spec = device_spec(devices, i0.split(".")[0], arg.loc, "I0 device")
    value = arg.value(dict(env))
    if isinstance(value, Unknown):
        return value
    shape = f"For example `i0_window: [50, null]` keeps shots with {i0} ≥ 50 {spec.units}"
    if not isinstance(value, list | tuple) or len(value) != 2:
        raise SequenceError(f"i0_window must be [low, high], got {describe_value(value)}",
                            location=arg.loc, device="i0_window", hint=shape + ".")
    ends: list[float | None] = []
    for v in value:
        end = None if v is None else to_device_units(spec, v, arg.loc)
        if isinstance(end, Unknown):
            return end
        if end is not None and not isinstance(end, float):
            raise SequenceError(f"i0_window ends must be numbers or null, got "
                                f"{describe_value(v)}", location=arg.loc, device="i0_window",
                                hint=shape + ".")
        ends.append(end)
    low, high = ends
    if low is not None and high is not None and low >= high:
        raise SequenceError(f"i0_window low must be below high, got [{low:g}, {high:g}]",
                            location=arg.loc, device="i0_window", hint=shape + ".")
    return low, high


class RockingCurveVerb(Verb[RockingCurveStep]):
    keywords = ("rocking_curve",)
    step_type = RockingCurveStep

    def read(self, r: ReadContext, keyword: str, node: Node, body: dict[str, Node],
             common: dict[str, Any]) -> RockingCurveStep | None:
        inner = r.mapping(node, "`rocking_curve:`")
        if inner is None:
            return None
        r.keys(node, {"axis", "span", "points", "signal", "i0", "i0_window", "center",
                      "shots_per_point", "as"}, "rocking_curve")
        signal = inner.get("signal")
        sig = r.text(signal, "rocking_curve: signal") if signal is not None else ""
        if signal is None:
            r.err("rocking_curve: signal is missing", node.loc,
                  hint="e.g. `signal: mpccd.roi0 / pd_i0`.")
        return RockingCurveStep(
            **common,
            axis=r.name(inner.get("axis"), "rocking_curve: axis", node.loc) or "",
            axis_loc=inner["axis"].loc if "axis" in inner else node.loc,
            span=r.arg(inner.get("span"), "rocking_curve: span", node.loc),
            points=r.arg(inner.get("points"), "rocking_curve: points", node.loc),
            signal=sig, signal_loc=signal.loc if signal is not None else node.loc,
            i0=r.text(inner.get("i0"), "rocking_curve: i0") or None,
            i0_window=r.arg(inner.get("i0_window"), "rocking_curve: i0_window", node.loc,
                            required=False),
            center=r.arg(inner.get("center"), "rocking_curve: center", node.loc,
                         required=False),
            shots=r.arg(inner.get("shots_per_point"), "rocking_curve: shots_per_point",
                        node.loc, required=False),
            result=r.result_name(inner, body, node.loc),
        )

    def title(self, step: RockingCurveStep) -> str:
        name = f" → {step.result}" if step.result else ""
        span = step.span.raw if step.span else "?"
        points = step.points.raw if step.points else "?"
        return f"rocking curve {step.axis} over {span}, {points} points, {step.signal}{name}"

    def check(self, c: CheckContext, step: RockingCurveStep, env: dict[str, Any],
              node: OutlineNode, weight: float, context: str) -> None:
        try:
            self._check(c, step, env)
        except ExpctlError as exc:  # report it, still name the result: no cascade
            c.report(exc)
        if step.result:
            c.bind(step.result, result_shape("rocking_curve", {}, step.loc), env)

    def _check(self, c: CheckContext, step: RockingCurveStep, env: dict[str, Any]) -> None:
        spec = check_axis(c, step.axis, step.axis_loc, step.points, step.shots, env, 3)
        span = step.span.value(env) if step.span else None
        if step.span is not None and span is not None and not isinstance(span, Unknown):
            value = to_device_units(spec, span, step.span.loc)
            if not isinstance(value, Unknown) and value <= 0:
                raise SequenceError(f"rocking_curve span must be positive, got "
                                    f"{describe_value(span)}", location=step.span.loc,
                                    device=step.axis)
        for dev in signal_devices(step.signal, step.signal_loc):
            device_spec(c.devices, dev, step.signal_loc, "signal device")
        try:
            i0_window_value(step, env, c.devices)
        except ExpctlError as exc:  # report it, still name the result: no cascade
            c.report(exc)

    def compile(self, c: CompileContext, step: RockingCurveStep, env: dict[str, Any],
                path: str, context: dict[str, Any]) -> Plan:
        spec = device_spec(c.devices, step.axis, step.axis_loc, "axis")
        span_arg = given(step.span)
        span = float(known(to_device_units(spec, span_arg.value(env), span_arg.loc)))
        n = whole_number(step.points, env, "points", minimum=3)
        signal, i0 = split_signal(step.signal, step.signal_loc)
        i0 = step.i0 or i0
        read = signal_devices(step.signal, step.signal_loc) + ((step.i0,) if step.i0 else ())
        center = None
        if step.center is not None:
            center = float(target(spec, step.center.value(env), "move", step.center.loc,
                                  c.access))
        shots = whole_number(step.shots, env, "shots_per_point", minimum=1)
        window = known(i0_window_value(step, env, c.devices))
        peak = yield from stubs.rocking_curve(step.axis, span, n, signal=signal,
                                              read=tuple(dict.fromkeys(read)), i0=i0,
                                              i0_window=window, center=center,
                                              shots_per_point=shots,
                                              name=step.result or "rock",
                                              method=c.peak_method)
        c.bind(step.result, peak, env)
