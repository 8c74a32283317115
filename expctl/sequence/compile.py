"""A checked sequence becomes a plan: the same generators Python users write.

Every written step becomes a :func:`~expctl.plans.stubs.step` (journal key,
timing unit, run context, fault policy and source location); each loop
iteration is a step of its own (``1/delay[3]/2/repeat[4]/6``), so the journal
can resume inside a loop.  Values are evaluated when the step runs, so
``${rock.center}`` is the centre fitted a moment earlier.  What a step does
is its verb's business (:mod:`expctl.sequence.verbs`); this module brackets
steps, runs loops and keeps the names ``as:`` binds.  Those are the plan's own
variables: the session's named results are written by the engine alone (an
:class:`~expctl.plans.actions.Analyze` stores its result under its name), so a
rehearsal of the plan never writes into the session.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from expctl.devices.access import AccessLevel
from expctl.devices.profile import Profile
from expctl.errors import Location
from expctl.plans import stubs
from expctl.plans.actions import Action, FaultPolicy, Plan
from expctl.sequence.devices import device_spec, target, to_device_units
from expctl.sequence.expr import describe_value
from expctl.sequence.model import Arg, SequenceDoc, Step
from expctl.sequence.registry import VerbRegistry
from expctl.sequence.values import resolve_params
from expctl.units import Quantity, logged

__all__ = ["Compiler", "compile_plan", "context_value", "safe_actions"]


def context_value(value: Any) -> Any:
    """A loop value as runs are tagged with it: a quantity in its log unit (500 fs -> 0.5 ps)."""
    if isinstance(value, Quantity):
        number, unit = logged(value)
        return Quantity(number, unit)
    return value


class Compiler:
    """Turns steps into plans; the :class:`~expctl.sequence.registry.CompileContext`."""

    def __init__(self, profile: Profile, access: AccessLevel, verbs: VerbRegistry,
                 sample: int | None = None, peak_method: str = "fit",
                 max_shots: int | None = None) -> None:
        self.devices = profile.devices
        self.access = access
        #: the names ``as:`` bound so far (visible after the loop that bound them)
        self.bound: set[str] = set()
        self.verbs = verbs
        self.sample = sample
        self.peak_method = peak_method
        self.max_shots = max_shots

    def block(self, steps: tuple[Step, ...], env: dict[str, Any], prefix: str,
              context: dict[str, Any]) -> Plan:
        for i, s in enumerate(steps):
            path = f"{prefix}/{i + 1}" if prefix else str(i + 1)
            policy = FaultPolicy(s.on_fault.action, s.on_fault.retries) if s.on_fault else None
            body = self.verbs.of(s).compile(self, s, env, path, context)
            yield from stubs.step(path, self.verbs.title(s), body, context, on_fault=policy,
                                  location=s.loc)

    def loop(self, steps: tuple[Step, ...], loc: Location, env: dict[str, Any], path: str,
             context: dict[str, Any], var: str | None, values: list[tuple[int, Any]],
             key: str, scan: tuple[str, ...] = ()) -> Plan:
        for i, value in values[: self.sample] if self.sample else values:
            inner = dict(env)
            ctx = dict(context)
            if var:
                inner[var] = value
                ctx[var] = context_value(value)
            ctx[f"i_{key}"] = i
            it_path = f"{path}/{key}[{i}]"
            label = f"{var} = {describe_value(value)}" if var else f"{key} {i + 1}/{len(values)}"
            yield from stubs.step(it_path, label, self.block(steps, inner, it_path, ctx), ctx,
                                  location=loc, scan=dict.fromkeys(scan, value),
                                  scan_step=i if scan else None)
            self.export(inner, env)

    def export(self, inner: dict[str, Any], env: dict[str, Any]) -> None:
        for name in self.bound:
            if name in inner:
                env[name] = inner[name]

    def bind(self, name: str | None, value: Any, env: dict[str, Any]) -> None:
        if name:
            env[name] = value
            self.bound.add(name)

    def value(self, dev: str, arg: Arg, env: dict[str, Any], verb: str, *,
              relative: bool = False) -> Any:
        spec = device_spec(self.devices, dev, arg.loc)
        raw = arg.value(env)
        if relative:
            return to_device_units(spec, raw, arg.loc)
        return target(spec, raw, verb, arg.loc, self.access)


def compile_plan(doc: SequenceDoc, profile: Profile, params: Mapping[str, Any] | None = None,
                 *, access: AccessLevel = AccessLevel.USER, sample: int | None = None,
                 peak_method: str = "fit", max_shots: int | None = None,
                 verbs: VerbRegistry | None = None) -> Callable[[], Plan]:
    """A factory of fresh plans for ``doc`` (a rehearsal runs one, the engine another).

    Args:
        doc: a sequence that passed :func:`~expctl.sequence.check.check`.
        profile: the beamline profile.
        params: parameter overrides (parsed values).
        access: the session's access level.
        sample: run only the first ``sample`` iterations of every loop (dry-run sampling).
        peak_method: how rocking curves find their peak (dry-runs use ``cen``: no numba).
        max_shots: facility analyses read only this many shots of each run (dry-runs).
        verbs: the verbs ``doc`` was read with (default: the shipped ones).
    """
    from expctl.sequence.verbs import standard_verbs

    registry = verbs or standard_verbs()

    def factory() -> Plan:
        env = resolve_params(doc, params or {})
        yield from Compiler(profile, access, registry, sample, peak_method,
                            max_shots).block(doc.steps, env, "", {})
    return factory


def safe_actions(doc: SequenceDoc, profile: Profile, params: Mapping[str, Any] | None = None,
                 *, access: AccessLevel = AccessLevel.USER,
                 verbs: VerbRegistry | None = None) -> tuple[Action, ...]:
    """The ``safe_state:`` block as actions the engine drives on pause, abort and failure."""
    from expctl.sequence.verbs import standard_verbs

    registry = verbs or standard_verbs()
    env = resolve_params(doc, params or {})
    comp = Compiler(profile, access, registry)
    out: list[Action] = []
    for s in doc.safe_state:
        out += registry.of(s).safe_actions(comp, s, env)
    return tuple(out)
