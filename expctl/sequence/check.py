"""Static checking of a sequence against a beamline profile, with every loop unrolled.

The checker walks the steps the way the run will, binding params and loop
variables to their real values and named results to :class:`ResultShape`
placeholders.  So a ``for delay in linspace(-2 ps, 60 ps, …)`` that drives
``pump_delay`` past its envelope is reported at the line of the request, with
the offending value; setting an accelerator parameter directly is reported as
an access error.  On the way it counts executions, runs and shots per step:
the outline the dry-run tree shows.  What each step kind checks is its verb's
business (:mod:`expctl.sequence.verbs`); this module walks and bookkeeps.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields, is_dataclass
from typing import Any

from expctl.devices.access import AccessLevel
from expctl.devices.profile import Profile
from expctl.errors import ExpctlError, Location, SequenceError
from expctl.sequence.devices import device_spec, target
from expctl.sequence.expr import ResultShape, describe_value
from expctl.sequence.model import Arg, SequenceDoc, Step
from expctl.sequence.outline import OutlineNode
from expctl.sequence.registry import VerbRegistry
from expctl.sequence.values import resolve_params

__all__ = ["CheckReport", "check"]

#: step visits after which loops are sampled (first and last values) instead of unrolled
VISIT_BUDGET = 50_000


@dataclass
class CheckReport:
    """What the checker found: every error, and the outline with counts."""

    errors: list[ExpctlError]
    outline: OutlineNode
    params: dict[str, Any]
    results: dict[str, ResultShape]
    sampled: bool = False
    #: findings that do not stop the sequence (a loop variable named like a device)
    warnings: list[ExpctlError] = field(default_factory=list)

    @property
    def runs(self) -> int:
        return round(self.outline.runs)

    @property
    def shots(self) -> int:
        return round(self.outline.shots)

    @property
    def ok(self) -> bool:
        return not self.errors


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


class Checker:
    """Walks the steps with real values; the :class:`~expctl.sequence.registry.CheckContext`."""

    def __init__(self, profile: Profile, access: AccessLevel, verbs: VerbRegistry) -> None:
        self.devices = profile.devices
        self.profile = profile
        self.access = access
        self.verbs = verbs
        self.errors: list[ExpctlError] = []
        self.warnings: list[ExpctlError] = []
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

    def warn(self, exc: ExpctlError) -> None:
        key = ("warning", exc.location, exc.message)
        if key not in self._seen:
            self._seen.add(key)
            self.warnings.append(exc)

    def block(self, steps: tuple[Step, ...], env: dict[str, Any], parent: OutlineNode,
              weight: float, context: str) -> None:
        for i, step in enumerate(steps):
            node = parent.child(i, step, self.verbs.title(step))
            node.executions += weight
            self.visits += 1
            try:
                self.verbs.of(step).check(self, step, env, node, weight, context)
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

    def bind(self, name: str, shape: ResultShape, env: dict[str, Any]) -> None:
        env[name] = shape
        self.results[name] = shape

    def export(self, inner: dict[str, Any], env: dict[str, Any]) -> None:
        for name in self.results:
            if name in inner:
                env[name] = inner[name]

    def loop(self, steps: tuple[Step, ...], node: OutlineNode, env: dict[str, Any],
             weight: float, context: str, values: list[tuple[int, Any]],
             var: str | None) -> None:
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
        for _, value in sample:
            inner = dict(env)
            ctx = context
            if var:
                inner[var] = value
                shown = describe_value(value)
                ctx = f"{context}, {var} = {shown}" if context else f"when {var} = {shown}"
            self.block(steps, inner, node, w, ctx)
            self.export(inner, env)


def check(doc: SequenceDoc, profile: Profile, params: Mapping[str, Any] | None = None,
          access: AccessLevel = AccessLevel.USER, origins: Mapping[str, str] | None = None,
          verbs: VerbRegistry | None = None) -> CheckReport:
    """Check ``doc`` against ``profile``; collects every error, never raises for user errors.

    Args:
        doc: the parsed sequence.
        profile: the beamline profile whose devices it uses.
        params: parameter values overriding the defaults (already parsed).
        access: the session's access level.
        origins: where overridden params came from (``{"shots": "--set shots=abc"}``);
            an error where such a param is used says so.
        verbs: the verbs ``doc`` was read with (default: the shipped ones).
    """
    from expctl.sequence.verbs import standard_verbs

    checker = Checker(profile, access, verbs or standard_verbs())
    if origins:
        checker.origins = origins
        checker.names_at = _names_by_location(doc)
    env = resolve_params(doc, params or {}, checker.report)
    root = OutlineNode(Step(doc.loc), doc.name)
    root.executions = 1
    if doc.beamline and not profile.serves(doc.beamline):
        checker.report(SequenceError(
            f"the sequence is written for beamline {doc.beamline!r}, the session uses "
            f"{profile.name!r}", location=doc.loc, hint="Pass --profile to choose another."))
    safe = OutlineNode(Step(doc.loc), "safe_state")
    checker.block(doc.safe_state, dict(env), safe, 1.0, "")
    checker.block(doc.steps, dict(env), root, 1.0, "")
    return CheckReport(checker.errors, root, env, checker.results, checker.sampled,
                       checker.warnings)
