"""The front door of the sequence package: file + profile + ``--set`` -> a checked sequence.

:func:`load_sequence` never raises for mistakes in the sequence: it returns a
:class:`LoadedSequence` whose ``errors`` lists every one (syntax, schema,
devices, units, limits, access, expressions, includes).  Only a sequence with
no errors yields a plan, so a bad sequence never moves a device.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from expctl.devices.access import AccessLevel
from expctl.devices.profile import Profile
from expctl.errors import AggregateError, ExpctlError, Location, SequenceError
from expctl.plans.actions import Action, Plan
from expctl.sequence.check import CheckReport, check
from expctl.sequence.model import Arg, SequenceDoc
from expctl.sequence.registry import VerbRegistry
from expctl.sequence.source import parse_text
from expctl.sequence.suggest import did_you_mean

__all__ = ["LoadedSequence", "load_sequence", "parse_overrides"]

_SET = Location("--set")


@dataclass
class LoadedSequence:
    """A sequence read, checked against a profile, with its params resolved."""

    path: Path
    profile: Profile
    doc: SequenceDoc | None
    errors: list[ExpctlError]
    report: CheckReport | None = None
    overrides: dict[str, Arg] = field(default_factory=dict)
    access: AccessLevel = AccessLevel.USER
    verbs: VerbRegistry | None = None

    @property
    def ok(self) -> bool:
        return not self.errors

    @property
    def name(self) -> str:
        return self.doc.name if self.doc else self.path.stem

    @property
    def params(self) -> dict[str, Any]:
        """Resolved parameter values (defaults with ``--set`` applied)."""
        return dict(self.report.params) if self.report else {}

    def raise_errors(self) -> None:
        """Raise every error as one :class:`AggregateError` (or the single error)."""
        if len(self.errors) == 1:
            raise self.errors[0]
        if self.errors:
            raise AggregateError(self.errors, f"{len(self.errors)} problems in {self.path}")

    def plan_factory(self) -> Callable[[], Plan]:
        """Fresh plans of this sequence; refuses when there are errors."""
        from expctl.sequence.compile import compile_plan

        self.raise_errors()
        return compile_plan(self._doc(), self.profile, self.overrides, access=self.access,
                            verbs=self.verbs)

    def safe_actions(self) -> tuple[Action, ...]:
        """The ``safe_state:`` block as actions."""
        from expctl.sequence.compile import safe_actions

        self.raise_errors()
        return safe_actions(self._doc(), self.profile, self.overrides, access=self.access,
                            verbs=self.verbs)

    def _doc(self) -> SequenceDoc:
        if self.doc is None:
            raise SequenceError("the sequence could not be read", location=Location(
                str(self.path)))
        return self.doc


def parse_overrides(items: Iterable[str]) -> tuple[dict[str, Arg], list[ExpctlError]]:
    """``["spots_per_delay=2", "delays=[0 ps, 5 ps]"]`` -> parameter arguments and errors.

    Values are read as YAML, so lists, quantities, ``{linspace: …}`` and
    ``${…}`` all work as in the file.
    """
    from expctl.sequence.schema import param_arg

    out: dict[str, Arg] = {}
    errors: list[ExpctlError] = []
    for item in items:
        name, sep, text = item.partition("=")
        name = name.strip()
        if not sep or not name:
            errors.append(SequenceError(f"--set needs NAME=VALUE, got {item!r}", location=_SET))
            continue
        try:
            node = parse_text(text if text.strip() else "''", f"--set {name}")
        except ExpctlError as exc:
            errors.append(exc)
            continue
        arg, errs = param_arg(node, name)
        errors += errs
        if arg is not None:
            out[name] = arg
    return out, errors


def load_sequence(path: Path | str, profile: Profile, overrides: Iterable[str] | Mapping[str, Any]
                  = (), *, access: AccessLevel = AccessLevel.USER,
                  verbs: VerbRegistry | None = None) -> LoadedSequence:
    """Read, parse and check ``path`` against ``profile`` with ``--set`` overrides.

    Args:
        path: the sequence file.
        profile: the beamline profile (devices, units, limits, access).
        overrides: ``NAME=VALUE`` strings, or a mapping of names to values.
        access: the session's access level.
        verbs: the step kinds the sequence may use (default: the shipped verbs).
    """
    from expctl.sequence.schema import load_doc
    from expctl.sequence.verbs import standard_verbs

    path = Path(path)
    verbs = verbs or standard_verbs()
    doc, errors = load_doc(path, verbs)
    if isinstance(overrides, Mapping):
        given: dict[str, Any] = dict(overrides)
    else:
        overrides = tuple(overrides)  # read twice: values, then where each came from
        given, errs = parse_overrides(overrides)
        errors += errs
    loaded = LoadedSequence(path, profile, doc, errors, overrides=given, access=access,
                            verbs=verbs)
    if doc is None:
        return loaded
    for name in given:
        if name not in doc.params:
            errors.append(SequenceError(
                f"the sequence has no parameter {name!r}", location=_SET, device=name,
                allowed=", ".join(doc.params) or "none", hint=did_you_mean(name, doc.params)))
    known = {k: v for k, v in given.items() if k in doc.params}
    loaded.overrides = known
    if errors:  # structure first: checking a half-read document only adds noise
        return loaded
    origins = {} if isinstance(overrides, Mapping) else {
        name.strip(): f"--set {item.strip()}"
        for item in overrides if (name := item.partition("=")[0]).strip() in known}
    loaded.report = check(doc, profile, known, access, origins, verbs)
    errors += loaded.report.errors
    return loaded
