"""A checked sequence becomes a plan: the same generators Python users write.

Every written step becomes a :func:`~expctl.plans.stubs.step` (journal key,
timing unit, run context, fault policy and source location); each loop
iteration is a step of its own (``1/delay[3]/2/repeat[4]/6``), so the journal
can resume inside a loop.  Values are evaluated when the step runs, so
``${rock.center}`` is the centre fitted a moment earlier.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from expctl.devices.access import AccessLevel
from expctl.devices.profile import Profile
from expctl.devices.protocols import RunRecord
from expctl.errors import SequenceError
from expctl.plans import stubs
from expctl.plans.actions import Action, Analyze, FaultPolicy, Move, Plan, Request, Set
from expctl.sequence.check import (
    count_value,
    i0_window_value,
    loop_values,
    resolve_params,
    seconds_value,
)
from expctl.sequence.devices import device_spec, target, to_device_units
from expctl.sequence.expr import Unknown, describe_value, linspace
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
from expctl.sequence.outline import step_title
from expctl.sequence.results import ANALYSES, signal_devices, split_signal
from expctl.units import Quantity

__all__ = ["compile_plan", "context_value", "safe_actions"]


def context_value(value: Any) -> Any:
    """A loop value as runs are tagged with it: quantities become their number (``ps``)."""
    if isinstance(value, Quantity):
        return value.value
    return value


T = TypeVar("T")


def _known(value: T | Unknown) -> T:
    """A value at run time; the checker proved it computable, so Unknown here is a bug."""
    if isinstance(value, Unknown):
        raise SequenceError(f"a value of the sequence could not be computed ({value})")
    return value


def _given(arg: Arg | None) -> Arg:
    """An argument the schema made mandatory."""
    if arg is None:
        raise SequenceError("a mandatory argument of a step is missing")
    return arg


def _count(arg: Arg | None, env: dict[str, Any], what: str, *, minimum: int = 0,
           default: int = 1) -> int:
    """A whole number (shots, points, repeat count), ``default`` when the step omits it."""
    if arg is None:
        return default
    return int(_known(count_value(arg, env, what, minimum=minimum)))


class _Compiler:
    def __init__(self, profile: Profile, access: AccessLevel, results: dict[str, Any],
                 sample: int | None = None, peak_method: str = "fit",
                 max_shots: int | None = None) -> None:
        self.devices = profile.devices
        self.access = access
        self.results = results
        self.sample = sample
        self.peak_method = peak_method
        self.max_shots = max_shots

    def block(self, steps: tuple[Step, ...], env: dict[str, Any], prefix: str,
              context: dict[str, Any]) -> Plan:
        for i, s in enumerate(steps):
            path = f"{prefix}/{i + 1}" if prefix else str(i + 1)
            policy = FaultPolicy(s.on_fault.action, s.on_fault.retries) if s.on_fault else None  # type: ignore[arg-type]
            yield from stubs.step(path, step_title(s), self.body(s, env, path, context),
                                  context, on_fault=policy, location=s.loc)

    def body(self, s: Step, env: dict[str, Any], path: str, context: dict[str, Any]
             ) -> Plan:  # noqa: C901
        if isinstance(s, MoveStep):
            targets = {dev: self.value(dev, a, env, "move", relative=s.relative)
                       for dev, a in s.targets.items()}
            yield from (stubs.mvr(targets) if s.relative else stubs.mv(targets))
        elif isinstance(s, SetStep):
            for dev, a in s.targets.items():
                yield from stubs.put(dev, self.value(dev, a, env, "set"))
        elif isinstance(s, RequestStep):
            for dev, a in s.targets.items():
                yield from stubs.request(dev, self.value(dev, a, env, "request"))
        elif isinstance(s, RunStep):
            shots = _count(s.shots, env, "shots", minimum=1)
            label = str(s.run_label.value(env)) if s.run_label is not None else ""
            comment = str(s.comment.value(env)) if s.comment is not None else ""
            record = yield from stubs.take_run(shots, label, comment, s.full_frames)
            self.bind(s.result, record, env)
        elif isinstance(s, ScanStep):
            yield from self.scan(s, env)
        elif isinstance(s, RockingCurveStep):
            yield from self.rocking_curve(s, env)
        elif isinstance(s, NextSpotStep):
            yield from stubs.next_spot(s.grid)
        elif isinstance(s, WaitStep):
            yield from stubs.wait(float(_known(seconds_value(_given(s.seconds), env))))
        elif isinstance(s, CheckpointStep):
            yield from stubs.checkpoint()
        elif isinstance(s, AnalyzeStep):
            analysis = ANALYSES[s.fn]
            kwargs = {k: a.value(env) for k, a in s.args.items()}
            inputs = {k: _describe_input(v) for k, v in kwargs.items()}
            if analysis.facility and self.max_shots is not None:
                kwargs["max_shots"] = self.max_shots
            result = yield Analyze(s.result or s.fn, analysis.run, (), kwargs, inputs=inputs,
                                   facility=analysis.facility)
            self.bind(s.result, result, env)
        elif isinstance(s, RepeatStep):
            n = _count(s.count, env, "repeat count", default=0)
            yield from self.loop(s, env, path, context, s.var, [(i, i) for i in range(n)],
                                 s.var or "repeat")
        elif isinstance(s, ForStep):
            values = _known(loop_values(s.values, env)) if s.values else []
            yield from self.loop(s, env, path, context, s.var, list(enumerate(values)), s.var)
        elif isinstance(s, IfStep):
            cond = s.condition.value(env) if s.condition else True
            yield from self.block(s.then if cond else s.orelse, env,
                                  f"{path}/{'then' if cond else 'else'}", context)
        elif isinstance(s, IncludeStep) and s.doc is not None:
            inner = dict(env)
            inner.update(resolve_params(s.doc, {k: a.value(env) for k, a in s.params.items()},
                                        _raise))
            yield from self.block(s.doc.steps, inner, path, context)
            self.export(inner, env)

    def loop(self, s: RepeatStep | ForStep, env: dict[str, Any], path: str,
             context: dict[str, Any], var: str | None, values: list[tuple[int, Any]],
             key: str) -> Plan:
        for i, value in values[: self.sample] if self.sample else values:
            inner = dict(env)
            ctx = dict(context)
            if var:
                inner[var] = value
                ctx[var] = context_value(value)
            ctx[f"i_{key}"] = i
            it_path = f"{path}/{key}[{i}]"
            label = f"{var} = {describe_value(value)}" if var else f"{key} {i + 1}/{len(values)}"
            yield from stubs.step(it_path, label, self.block(s.steps, inner, it_path, ctx), ctx,
                                  location=s.loc)
            self.export(inner, env)

    def export(self, inner: dict[str, Any], env: dict[str, Any]) -> None:
        for name in self.results:
            if name in inner:
                env[name] = inner[name]

    def bind(self, name: str | None, value: Any, env: dict[str, Any]) -> None:
        if name:
            env[name] = value
            self.results[name] = value

    def value(self, dev: str, a: Any, env: dict[str, Any], verb: str, *,
              relative: bool = False) -> Any:
        spec = device_spec(self.devices, dev, a.loc)
        raw = a.value(env)
        if relative:
            return to_device_units(spec, raw, a.loc)
        return target(spec, raw, verb, a.loc, self.access)

    def scan(self, s: ScanStep, env: dict[str, Any]) -> Plan:
        spec = device_spec(self.devices, s.axis, s.axis_loc, "axis")
        start = _known(to_device_units(spec, _given(s.start).value(env), _given(s.start).loc))
        stop = _known(to_device_units(spec, _given(s.stop).value(env), _given(s.stop).loc))
        n = _count(s.points, env, "points", minimum=1)
        offset = 0.0
        if s.relative:
            offset = float((yield from stubs.read((s.axis,)))[s.axis])
        positions = [float(p) + offset for p in linspace(start, stop, n)]
        for p in positions:
            target(spec, p, "move", s.axis_loc, self.access)
        shots = _count(s.shots, env, "shots_per_point", minimum=1)
        data = yield from stubs.scan(s.axis, positions, s.detectors, shots)
        self.bind(s.result, data, env)

    def rocking_curve(self, s: RockingCurveStep, env: dict[str, Any]) -> Plan:
        spec = device_spec(self.devices, s.axis, s.axis_loc, "axis")
        span = float(_known(to_device_units(spec, _given(s.span).value(env), _given(s.span).loc)))
        n = _count(s.points, env, "points", minimum=3)
        signal, i0 = split_signal(s.signal, s.signal_loc)
        i0 = s.i0 or i0
        read = signal_devices(s.signal, s.signal_loc) + ((s.i0,) if s.i0 else ())
        center = None
        if s.center is not None:
            center = float(target(spec, s.center.value(env), "move", s.center.loc, self.access))
        shots = _count(s.shots, env, "shots_per_point", minimum=1)
        window = _known(i0_window_value(s, env, self.devices))
        peak = yield from stubs.rocking_curve(s.axis, span, n, signal=signal,
                                              read=tuple(dict.fromkeys(read)), i0=i0,
                                              i0_window=window, center=center,
                                              shots_per_point=shots,
                                              name=s.result or "rock",
                                              method=self.peak_method)
        self.bind(s.result, peak, env)


def _raise(exc: Exception) -> None:
    raise exc


def _describe_input(value: Any) -> str:
    """An analysis input for logs: a run record as ``run 123``, anything else as written."""
    if isinstance(value, RunRecord):
        return f"run {value.run}"
    return describe_value(value)


def compile_plan(doc: SequenceDoc, profile: Profile, params: Mapping[str, Any] | None = None,
                 *, access: AccessLevel = AccessLevel.USER,
                 results: dict[str, Any] | None = None, sample: int | None = None,
                 peak_method: str = "fit", max_shots: int | None = None
                 ) -> Callable[[], Plan]:
    """A factory of fresh plans for ``doc`` (the engine rehearses one, then runs another).

    Args:
        doc: a sequence that passed :func:`~expctl.sequence.check.check`.
        profile: the beamline profile.
        params: parameter overrides (parsed values).
        access: the session's access level.
        results: where named results go (the session's mapping); a new dict per plan if None.
        sample: run only the first ``sample`` iterations of every loop (dry-run sampling).
        peak_method: how rocking curves find their peak (dry-runs use ``cen``: no numba).
        max_shots: facility analyses read only this many shots of each run (dry-runs).
    """
    def factory() -> Plan:
        store = results if results is not None else {}
        env = resolve_params(doc, params or {}, _raise)
        yield from _Compiler(profile, access, store, sample, peak_method, max_shots).block(
            doc.steps, env, "", {})
    return factory


def safe_actions(doc: SequenceDoc, profile: Profile, params: Mapping[str, Any] | None = None,
                 *, access: AccessLevel = AccessLevel.USER) -> tuple[Action, ...]:
    """The ``safe_state:`` block as actions the engine drives on pause, abort and failure."""
    env = resolve_params(doc, params or {}, _raise)
    comp = _Compiler(profile, access, {})
    out: list[Action] = []
    for s in doc.safe_state:
        if isinstance(s, MoveStep):
            out.append(Move({d: comp.value(d, a, env, "move") for d, a in s.targets.items()}))
        elif isinstance(s, SetStep):
            out += [Set(d, comp.value(d, a, env, "set")) for d, a in s.targets.items()]
        elif isinstance(s, RequestStep):
            out += [Request(d, comp.value(d, a, env, "request")) for d, a in s.targets.items()]
    return tuple(out)
