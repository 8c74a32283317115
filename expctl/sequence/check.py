"""Static checking of a sequence against a beamline profile, with every loop unrolled.

The checker walks the steps the way the run will, binding params and loop
variables to their real values and named results to :class:`ResultShape`
placeholders.  So a ``for delay in linspace(-2 ps, 60 ps, …)`` that drives
``pump_delay`` past its envelope is reported at the line of the request, with
the offending value; setting an accelerator parameter directly is reported as
an access error.  On the way it counts executions, runs and shots per step:
the outline the dry-run tree shows.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields, is_dataclass
from typing import Any

from expctl.devices.access import AccessLevel
from expctl.devices.profile import Profile
from expctl.errors import ExpctlError, Location, SequenceError
from expctl.sequence.devices import device_spec, target, to_device_units
from expctl.sequence.expr import ResultShape, Unknown, describe_value
from expctl.sequence.model import (
    AnalyzeStep,
    Arg,
    CheckpointStep,
    ForStep,
    IfStep,
    IncludeStep,
    MoveStep,
    NextSpotStep,
    RepeatStep,
    RequestStep,
    RockingCurveStep,
    RunStep,
    ScanStep,
    SequenceDoc,
    SetStep,
    Step,
    WaitStep,
)
from expctl.sequence.results import result_shape, signal_devices, split_signal
from expctl.units import Quantity

__all__ = ["CheckReport", "OutlineNode", "check", "count_value", "i0_window_value",
           "loop_values", "seconds_value"]

#: step visits after which loops are sampled (first and last values) instead of unrolled
VISIT_BUDGET = 50_000
MAX_LOOP = 1_000_000


@dataclass
class OutlineNode:
    """One written step with what it will amount to over the whole sequence."""

    step: Step
    title: str
    executions: float = 0.0
    own_runs: float = 0.0
    own_shots: float = 0.0
    iterations: float = 0.0
    children: list[OutlineNode] = field(default_factory=list)
    path: str = ""

    @property
    def runs(self) -> float:
        """Runs taken by this step and everything inside it, over the whole sequence."""
        return self.own_runs + sum(c.runs for c in self.children)

    @property
    def shots(self) -> float:
        return self.own_shots + sum(c.shots for c in self.children)

    def child(self, index: int, step: Step, title: str) -> OutlineNode:
        while len(self.children) <= index:
            self.children.append(OutlineNode(step, title))
        node = self.children[index]
        if node.step is not step and not node.path:
            node.step, node.title = step, title
        node.path = f"{self.path}/{index + 1}" if self.path else str(index + 1)
        return node


@dataclass
class CheckReport:
    """What the checker found: every error, and the outline with counts."""

    errors: list[ExpctlError]
    outline: OutlineNode
    params: dict[str, Any]
    results: dict[str, ResultShape]
    sampled: bool = False

    @property
    def runs(self) -> int:
        return round(self.outline.runs)

    @property
    def shots(self) -> int:
        return round(self.outline.shots)

    @property
    def ok(self) -> bool:
        return not self.errors


def count_value(arg: Arg, env: Mapping[str, Any], what: str, *, minimum: int = 0,
                maximum: int = MAX_LOOP) -> int | Unknown:
    """A whole-number argument (shots, points, repeat count) with range checking."""
    value = arg.value(dict(env))
    if isinstance(value, Unknown):
        return value
    whole = isinstance(value, int) or (isinstance(value, float) and value.is_integer())
    if isinstance(value, bool) or not whole:
        raise SequenceError(f"{what} must be a whole number, got {describe_value(value)}",
                            location=arg.loc, device=what)
    if not minimum <= value <= maximum:
        shown = f"{value:.6g}" if abs(value) >= 1e9 else str(value)
        raise SequenceError(f"{what} must be between {minimum} and {maximum}, got {shown}",
                            location=arg.loc, device=what, allowed=f"{minimum} .. {maximum}")
    return int(value)


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
    if not 0 <= seconds <= 7 * 86400:
        raise SequenceError(f"wait of {describe_value(value)} is outside 0 s .. 7 days",
                            location=arg.loc, device="wait")
    return seconds


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


def loop_values(arg: Arg, env: Mapping[str, Any]) -> list[Any] | Unknown:
    """The values a ``for`` loop runs over."""
    value = arg.value(dict(env))
    if isinstance(value, Unknown):
        return value
    if isinstance(value, list | tuple):
        if len(value) > MAX_LOOP:
            raise SequenceError(f"for … in has {len(value)} values; at most {MAX_LOOP}",
                                location=arg.loc)
        return [_scalar(v) for v in value]
    raise SequenceError(f"for … in needs a list, got {describe_value(value)}",
                        location=arg.loc, hint="Write a list, {linspace: [a, b, n]}, "
                        "{range: [a, b, step]} or a ${…} giving a list.")


def _scalar(v: Any) -> Any:
    if isinstance(v, str):
        return Arg.of(v, Location()).value({})
    return v


def _title(step: Step) -> str:
    from expctl.sequence.outline import step_title

    return step_title(step)


def _names_by_location(doc: SequenceDoc) -> dict[Location, set[str]]:
    """Which names each ``${…}`` of ``doc`` uses, by its location (not into included files)."""
    out: dict[Location, set[str]] = {}

    def walk(obj: Any) -> None:
        if isinstance(obj, Arg):
            if obj.names:
                out.setdefault(obj.loc, set()).update(obj.names)
        elif isinstance(obj, dict):
            for v in obj.values():
                walk(v)
        elif isinstance(obj, list | tuple):
            for v in obj:
                walk(v)
        elif is_dataclass(obj) and not isinstance(obj, type | SequenceDoc):
            for f in fields(obj):
                walk(getattr(obj, f.name))

    walk(doc.steps)
    walk(doc.safe_state)
    return out


class _Checker:
    def __init__(self, profile: Profile, access: AccessLevel) -> None:
        self.devices = profile.devices
        self.profile = profile
        self.access = access
        self.errors: list[ExpctlError] = []
        self._seen: set[tuple[Any, ...]] = set()
        self.visits = 0
        self.sampled = False
        self.results: dict[str, ResultShape] = {}
        #: where a param's value came from (``--set shots=abc``), and the names at each ``${…}``
        self.origins: Mapping[str, str] = {}
        self.names_at: dict[Location, set[str]] = {}

    def report(self, exc: ExpctlError) -> None:
        loc = exc.location
        if loc is not None and self.origins:
            given = sorted(self.origins[n] for n in self.names_at.get(loc, ()) if n in self.origins)
            if given:  # the value is used here, but the user typed it on the command line
                exc.message += f" (from {', '.join(given)})"
        key = (loc.file, loc.line, loc.column, exc.device, type(exc)) if loc else (
            exc.message,)
        if key not in self._seen:
            self._seen.add(key)
            self.errors.append(exc)

    def block(self, steps: tuple[Step, ...], env: dict[str, Any], parent: OutlineNode,
              weight: float, context: str) -> None:
        for i, step in enumerate(steps):
            node = parent.child(i, step, _title(step))
            node.executions += weight
            self.visits += 1
            try:
                self.step(step, env, node, weight, context)
            except ExpctlError as exc:
                self.report(exc)

    def targets(self, targets: dict[str, Arg], verb: str, env: dict[str, Any],
                context: str) -> None:
        for dev, arg in targets.items():
            try:
                spec = device_spec(self.devices, dev, arg.loc)
                target(spec, arg.value(env), verb, arg.loc, self.access, context)
            except ExpctlError as exc:
                self.report(exc)

    def step(self, step: Step, env: dict[str, Any], node: OutlineNode, weight: float,
             context: str) -> None:  # noqa: C901
        if isinstance(step, MoveStep):
            if step.relative:
                for dev, arg in step.targets.items():
                    try:
                        spec = device_spec(self.devices, dev, arg.loc)
                        target(spec, Unknown(spec.units), "move", arg.loc, self.access)
                        arg.value(env)
                    except ExpctlError as exc:
                        self.report(exc)
            else:
                self.targets(step.targets, "move", env, context)
        elif isinstance(step, SetStep):
            self.targets(step.targets, "set", env, context)
        elif isinstance(step, RequestStep):
            self.targets(step.targets, "request", env, context)
        elif isinstance(step, RunStep):
            shots = count_value(step.shots, env, "shots", minimum=1) if step.shots else 1
            for extra in (step.run_label, step.comment):
                if extra is not None:
                    extra.value(env)
            node.own_runs += weight
            if not isinstance(shots, Unknown):
                node.own_shots += weight * shots
            if step.result:
                self.bind(step.result, result_shape("run", {}, step.loc), env)
        elif isinstance(step, ScanStep | RockingCurveStep):
            try:
                self.scan_like(step, env, context)
            except ExpctlError as exc:  # report it, still name the result: no cascade
                self.report(exc)
                self.bind_scan(step, env)
        elif isinstance(step, NextSpotStep):
            grids = self.profile.raw.get("spot_grids") if isinstance(self.profile.raw, Mapping) \
                else None
            if isinstance(grids, Mapping) and grids and step.grid not in grids:
                raise SequenceError(f"unknown spot grid {step.grid!r}", location=step.loc,
                                    device=step.grid, allowed=", ".join(grids))
        elif isinstance(step, WaitStep):
            if step.seconds is not None:
                seconds_value(step.seconds, env)
        elif isinstance(step, CheckpointStep):
            pass
        elif isinstance(step, AnalyzeStep):
            values = {k: a.value(env) for k, a in step.args.items()}
            try:
                shape = result_shape(step.fn, values, step.loc, self.profile,
                                     {k: a.loc for k, a in step.args.items()})
            except ExpctlError as exc:  # report it, still name the result: no cascade
                self.report(exc)
                shape = result_shape(step.fn, {}, step.loc)
            if step.result:
                self.bind(step.result, shape, env)
        elif isinstance(step, RepeatStep):
            n = count_value(step.count, env, "repeat count", minimum=0) if step.count else 0
            count = 1 if isinstance(n, Unknown) else n
            self.loop(step, node, env, weight, context,
                      [(i, i) for i in range(count)] if step.var else [(i, None)
                                                                       for i in range(count)],
                      step.var)
        elif isinstance(step, ForStep):
            found = loop_values(step.values, env) if step.values else []
            items = [found] if isinstance(found, Unknown) else found
            self.loop(step, node, env, weight, context, list(enumerate(items)), step.var)
        elif isinstance(step, IfStep):
            cond = step.condition.value(env) if step.condition else True
            branches = [(0, step.then), (1, step.orelse)]
            if not isinstance(cond, Unknown):
                if not isinstance(cond, bool | int | float):
                    raise SequenceError(f"if needs true/false, got {describe_value(cond)}",
                                        location=step.condition.loc if step.condition
                                        else step.loc)
                branches = [branches[0] if cond else branches[1]]
            for k, branch in branches:
                sub = node.child(k, step, "then" if k == 0 else "else")
                sub.executions += weight
                self.block(branch, env, sub, weight, context)
        elif isinstance(step, IncludeStep):
            self.include(step, env, node, weight, context)

    def bind(self, name: str, shape: ResultShape, env: dict[str, Any]) -> None:
        env[name] = shape
        self.results[name] = shape

    def scan_like(self, step: ScanStep | RockingCurveStep, env: dict[str, Any],
                  context: str) -> None:
        spec = device_spec(self.devices, step.axis, step.axis_loc, "axis")
        target(spec, Unknown(spec.units), "move", step.axis_loc, self.access)
        if step.points is not None:
            count_value(step.points, env, "points", maximum=100_000,
                        minimum=3 if isinstance(step, RockingCurveStep) else 1)
        if step.shots is not None:
            count_value(step.shots, env, "shots_per_point", minimum=1, maximum=100_000)
        if isinstance(step, RockingCurveStep):
            span = step.span.value(env) if step.span else None
            if step.span is not None and span is not None and not isinstance(span, Unknown):
                value = to_device_units(spec, span, step.span.loc)
                if not isinstance(value, Unknown) and value <= 0:
                    raise SequenceError(f"rocking_curve span must be positive, got "
                                        f"{describe_value(span)}", location=step.span.loc,
                                        device=step.axis)
            for dev in signal_devices(step.signal, step.signal_loc):
                device_spec(self.devices, dev, step.signal_loc, "signal device")
            try:
                i0_window_value(step, env, self.devices)
            except ExpctlError as exc:  # report it, still name the result: no cascade
                self.report(exc)
        else:
            for end in (step.start, step.stop):
                if end is not None:
                    v = end.value(env)
                    if step.relative:
                        to_device_units(spec, v, end.loc)
                    else:
                        target(spec, v, "move", end.loc, self.access, context)
            for dev in step.detectors:
                device_spec(self.devices, dev, step.loc, "detector")
        self.bind_scan(step, env)

    def bind_scan(self, step: ScanStep | RockingCurveStep, env: dict[str, Any]) -> None:
        if step.result:
            self.bind(step.result, result_shape(
                "rocking_curve" if isinstance(step, RockingCurveStep) else "scan", {}, step.loc),
                env)

    def loop(self, step: Step, node: OutlineNode, env: dict[str, Any], weight: float,
             context: str, values: list[tuple[int, Any]], var: str | None) -> None:
        n = len(values)
        node.iterations += weight * n
        if n == 0:
            return
        sample = values
        if self.visits > VISIT_BUDGET and n > 2:
            sample = [values[0], values[-1]]
            self.sampled = True
        elif not var and n > 1:
            sample = [values[0]]
        w = weight * n / len(sample)
        body = step.steps  # type: ignore[union-attr]
        for _, value in sample:
            inner = dict(env)
            ctx = context
            if var:
                inner[var] = value
                shown = describe_value(value)
                ctx = f"{context}, {var} = {shown}" if context else f"when {var} = {shown}"
            self.block(body, inner, node, w, ctx)
            for name in self.results:
                if name in inner:
                    env[name] = inner[name]

    def include(self, step: IncludeStep, env: dict[str, Any], node: OutlineNode, weight: float,
                context: str) -> None:
        doc = step.doc
        if doc is None:
            return
        inner = dict(env)
        inner.update(resolve_params(doc, {k: a.value(env) for k, a in step.params.items()},
                                    self.report))
        self.block(doc.steps, inner, node, weight, context)
        for name in self.results:
            if name in inner:
                env[name] = inner[name]


def resolve_params(doc: SequenceDoc, given: Mapping[str, Any], report: Any) -> dict[str, Any]:
    """Params of ``doc``: defaults evaluated in order, overridden by ``given``.

    ``given`` values may be :class:`Arg` (``--set``, include params), evaluated
    here with the params before them in scope; a single value given for a list
    parameter becomes a one-element list.
    """
    env: dict[str, Any] = {}
    for name, spec in doc.params.items():
        try:
            if name not in given:
                env[name] = spec.default.value(env)
                continue
            value = given[name]
            if isinstance(value, Arg):
                value = value.value(env)
            if isinstance(spec.default.value(env), list) and not isinstance(value, list):
                value = [value]
            env[name] = [_scalar(v) for v in value] if isinstance(value, list) else value
        except ExpctlError as exc:
            report(exc)
            env[name] = Unknown(None)
    return env


def check(doc: SequenceDoc, profile: Profile, params: Mapping[str, Any] | None = None,
          access: AccessLevel = AccessLevel.USER, origins: Mapping[str, str] | None = None
          ) -> CheckReport:
    """Check ``doc`` against ``profile``; collects every error, never raises for user errors.

    Args:
        doc: the parsed sequence.
        profile: the beamline profile whose devices it uses.
        params: parameter values overriding the defaults (already parsed).
        access: the session's access level.
        origins: where overridden params came from (``{"shots": "--set shots=abc"}``);
            an error where such a param is used says so.
    """
    checker = _Checker(profile, access)
    if origins:
        checker.origins = origins
        checker.names_at = _names_by_location(doc)
    env = resolve_params(doc, params or {}, checker.report)
    root = OutlineNode(CheckpointStep(doc.loc), doc.name)
    root.executions = 1
    if doc.beamline and not profile.serves(doc.beamline):
        checker.report(SequenceError(
            f"the sequence is written for beamline {doc.beamline!r}, the session uses "
            f"{profile.name!r}", location=doc.loc, hint="Pass --profile to choose another."))
    safe = OutlineNode(CheckpointStep(doc.loc), "safe_state")
    checker.block(doc.safe_state, dict(env), safe, 1.0, "")
    checker.block(doc.steps, dict(env), root, 1.0, "")
    return CheckReport(checker.errors, root, env, checker.results, checker.sampled)
