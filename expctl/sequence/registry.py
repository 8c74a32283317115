"""The contract of a sequence verb, the three contexts it works in, and the registry of verbs.

A verb (``move``, ``run``, ``for`` …) is one object, in one module of
:mod:`expctl.sequence.verbs`, that knows its step's YAML keys and how to read,
title, check and compile it.  The reader (:mod:`~expctl.sequence.schema`), the
checker (:mod:`~expctl.sequence.check`) and the compiler
(:mod:`~expctl.sequence.compile`) each look the verb up here once per step and
hand it their context; they know no verb by name.  The contexts are protocols,
so a verb depends on this module only, never on the walkers that call it.

A :class:`VerbRegistry` is an immutable object passed to
:func:`~expctl.sequence.load.load_sequence`; ``standard_verbs()`` of
:mod:`expctl.sequence.verbs` builds the shipped one, and
``standard_verbs().with_verbs(MyVerb())`` adds a verb without touching any
other file.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar

from expctl.errors import ExpctlError, Location, SequenceError
from expctl.sequence.model import Arg, SequenceDoc, Step

if TYPE_CHECKING:
    from expctl.devices.access import AccessLevel
    from expctl.devices.profile import DeviceSpec, Profile
    from expctl.plans.actions import Action, Plan
    from expctl.sequence.expr import ResultShape
    from expctl.sequence.outline import OutlineNode
    from expctl.sequence.source import Node

__all__ = ["RESERVED", "CheckContext", "CompileContext", "LazyVerb", "ReadContext", "Verb",
           "VerbRegistry"]

#: names that can be neither parameters, loop variables nor results
RESERVED = frozenset({"pi", "true", "false", "steps", "params"})

S = TypeVar("S", bound=Step)


class ReadContext(Protocol):
    """What a verb may use while reading its step from YAML (errors accumulate)."""

    path: Path
    stack: tuple[Path, ...]

    def err(self, message: str, loc: Location, *, field: str | None = None,
            allowed: str | None = None, hint: str | None = None) -> None:
        """Record a problem at ``loc`` and carry on reading."""

    def mapping(self, node: Node, what: str) -> dict[str, Node] | None:
        """``node`` as a mapping, or None (with an error) if it is not one."""

    def keys(self, node: Node, allowed: set[str], what: str) -> None:
        """An error for each key of ``node`` outside ``allowed``."""

    def name(self, node: Node | None, what: str, loc: Location) -> str | None:
        """A name (letters, digits, _); None with an error if missing or malformed."""

    def names(self, node: Node | None, what: str, loc: Location) -> tuple[str, ...]:
        """One name or a list of names."""

    def arg(self, node: Node | None, what: str, loc: Location, *, required: bool = True
            ) -> Arg | None:
        """A single value (or list of scalars) as an :class:`Arg`."""

    def flag(self, node: Node | None, what: str) -> bool:
        """true/false (absent: false)."""

    def text(self, node: Node | None, what: str) -> str:
        """A text (absent: empty)."""

    def targets(self, node: Node, verb: str) -> dict[str, Arg]:
        """``{device: value, …}`` of move/set/request."""

    def result_name(self, inner: dict[str, Node], body: dict[str, Node], loc: Location
                    ) -> str | None:
        """The ``as:`` name, given inside the verb's mapping or beside it."""

    def values_arg(self, node: Node, what: str) -> Arg | None:
        """A list: written out, ``{linspace: …}``, ``{range: …}`` or ``${…}``."""

    def steps(self, node: Node, where: str) -> tuple[Step, ...]:
        """A nested list of steps (``steps:``, ``then:``)."""

    def read_file(self, path: Path) -> SequenceDoc | None:
        """Another sequence file, read with the same verbs (for ``include``)."""

    def describe(self, node: Node) -> str:
        """What ``node`` is, for messages (``a mapping``, ``the number 5`` …)."""


class CheckContext(Protocol):
    """What a verb may use while checking its step with every loop unrolled."""

    profile: Profile
    devices: Mapping[str, DeviceSpec]
    access: AccessLevel
    results: dict[str, ResultShape]

    def report(self, exc: ExpctlError) -> None:
        """Record a problem and carry on checking."""

    def warn(self, exc: ExpctlError) -> None:
        """Record something worth a second look that does not stop the sequence."""

    def block(self, steps: tuple[Step, ...], env: dict[str, Any], parent: OutlineNode,
              weight: float, context: str) -> None:
        """Check nested steps as children of ``parent``, each run ``weight`` times."""

    def loop(self, steps: tuple[Step, ...], node: OutlineNode, env: dict[str, Any],
             weight: float, context: str, values: list[tuple[int, Any]],
             var: str | None) -> None:
        """Check ``steps`` once per value (sampled when the outline is large)."""

    def targets(self, targets: dict[str, Arg], verb: str, env: dict[str, Any],
                context: str) -> None:
        """Check each device target of a move/set/request (units, limits, access)."""

    def bind(self, name: str, shape: ResultShape, env: dict[str, Any]) -> None:
        """Name a result (its shape) for the steps that follow."""

    def export(self, inner: dict[str, Any], env: dict[str, Any]) -> None:
        """Results named in a nested scope become visible in the enclosing one."""


class CompileContext(Protocol):
    """What a verb may use while compiling its step into a plan."""

    devices: Mapping[str, DeviceSpec]
    access: AccessLevel
    peak_method: str
    max_shots: int | None

    def block(self, steps: tuple[Step, ...], env: dict[str, Any], prefix: str,
              context: dict[str, Any]) -> Plan:
        """The plan of nested steps, their paths under ``prefix``."""

    def loop(self, steps: tuple[Step, ...], loc: Location, env: dict[str, Any], path: str,
             context: dict[str, Any], var: str | None, values: list[tuple[int, Any]],
             key: str, scan: tuple[str, ...] = ()) -> Plan:
        """One step ``path/key[i]`` per value, ``var`` bound to it; runs inside log the
        value as the scan variable of each device in ``scan``."""

    def value(self, dev: str, arg: Arg, env: dict[str, Any], verb: str, *,
              relative: bool = False) -> Any:
        """``arg`` as a checked target of ``dev`` in device units."""

    def bind(self, name: str | None, value: Any, env: dict[str, Any]) -> None:
        """Name a value for the steps that follow (a plan variable: the session's results
        are the engine's, written by the Analyze that made them)."""

    def export(self, inner: dict[str, Any], env: dict[str, Any]) -> None:
        """Results named in a nested scope become visible in the enclosing one."""


class Verb(Generic[S]):
    """One step kind: its YAML keys and how its step is read, titled, checked and compiled.

    Attributes:
        keywords: the YAML keys that select this verb (``set``, ``open``, ``close``).
        step_type: the frozen dataclass of its steps.
        extra_keys: keys allowed beside the keyword in the step's mapping
            (``relative`` of move, ``steps`` of repeat).
        safe: may appear in ``safe_state:``.
        bare: may be written as a bare word (``- checkpoint``).
    """

    keywords: tuple[str, ...] = ()
    step_type: type[S]
    extra_keys: frozenset[str] = frozenset()
    safe: bool = False
    bare: bool = False

    def read(self, r: ReadContext, keyword: str, node: Node, body: dict[str, Node],
             common: dict[str, Any]) -> S | None:
        """The step from its node (``common`` holds loc, label, on_fault); None if unusable."""
        raise NotImplementedError

    def title(self, step: S) -> str:
        """One line for the dry-run tree and the progress display."""
        raise NotImplementedError

    def check(self, c: CheckContext, step: S, env: dict[str, Any], node: OutlineNode,
              weight: float, context: str) -> None:
        """Check the step for one environment, counting into ``node``; raise or report."""

    def compile(self, c: CompileContext, step: S, env: dict[str, Any], path: str,
                context: dict[str, Any]) -> Plan:
        """The step's body as a plan (the step bracket is added by the compiler)."""
        raise NotImplementedError

    def safe_actions(self, c: CompileContext, step: S, env: dict[str, Any]) -> list[Action]:
        """The step as actions the engine drives on pause, abort and failure."""
        raise SequenceError(f"`{self.keywords[0]}` cannot be part of safe_state",
                            location=step.loc)


class LazyVerb:
    """A verb named by where it lives, imported when a sequence first uses one of its
    keywords: a sequence uses a few of the shipped verbs, and each verb module costs
    ~1-3 ms of import (its step dataclass, its checks).

    Args:
        keywords: the verb's keywords (a test keeps them equal to the class's own).
        module: the module that defines it.
        name: the verb class's name in that module.
    """

    def __init__(self, keywords: tuple[str, ...], module: str, name: str) -> None:
        self.keywords = keywords
        self.module = module
        self.name = name

    def load(self) -> Verb[Any]:
        """The verb itself (its module imported now)."""
        import importlib

        verb: Verb[Any] = getattr(importlib.import_module(self.module), self.name)()
        return verb


class VerbRegistry:
    """The verbs a sequence may use, by keyword and by step type (immutable).

    Verbs may be given as :class:`LazyVerb`: each is imported when its keyword is
    first looked up (or when a step type is not found among those loaded).  A registry
    that mixes lazy verbs with given ones loads them all at once, so a step type given
    twice is refused when the registry is made.

    Args:
        verbs: the verbs; a keyword or step type given twice is refused.
    """

    def __init__(self, verbs: Iterable[Verb[Any] | LazyVerb]) -> None:
        self._verbs = tuple(verbs)
        self._lazy: dict[str, LazyVerb] = {}
        self._by_keyword: dict[str, Verb[Any]] = {}
        self._by_type: dict[type, Verb[Any]] = {}
        self.keywords: Mapping[str, Verb[Any]] = _Keywords(self)
        seen: set[str] = set()
        for verb in self._verbs:
            for word in verb.keywords:
                if word in seen:
                    raise ExpctlError(f"sequence verb {word!r} registered twice")
                seen.add(word)
        lazy = [v for v in self._verbs if isinstance(v, LazyVerb)]
        if len(lazy) == len(self._verbs):
            self._lazy = {word: v for v in lazy for word in v.keywords}
        else:
            for verb in self._verbs:
                self._add(verb.load() if isinstance(verb, LazyVerb) else verb)

    def _add(self, verb: Verb[Any]) -> Verb[Any]:
        known = self._by_type.get(verb.step_type)
        if known is not None:
            if type(known) is type(verb):  # (a lazy verb loaded by two racing lookups)
                return known
            raise ExpctlError(f"step type {verb.step_type.__name__} registered twice")
        self._by_type[verb.step_type] = verb
        for word in verb.keywords:
            self._by_keyword[word] = verb
            self._lazy.pop(word, None)
        return verb

    def _verb(self, keyword: str) -> Verb[Any]:
        """The verb of ``keyword``, imported now if it is lazy (KeyError if unknown)."""
        verb = self._by_keyword.get(keyword)
        return verb if verb is not None else self._add(self._lazy[keyword].load())

    def with_verbs(self, *verbs: Verb[Any] | LazyVerb) -> VerbRegistry:
        """A new registry with ``verbs`` added."""
        return VerbRegistry((*self._verbs, *verbs))

    def of(self, step: Step) -> Verb[Any]:
        """The verb of ``step``."""
        verb = self._by_type.get(type(step))
        if verb is None and self._lazy:  # a step made without reading it: load them all
            while self._lazy:
                self._verb(next(iter(self._lazy)))
            verb = self._by_type.get(type(step))
        if verb is None:
            raise SequenceError(f"no verb is registered for {type(step).__name__} steps",
                                location=step.loc)
        return verb

    def title(self, step: Step) -> str:
        """``move theta → ${rock.center}`` …; the label wins if given."""
        text = self.of(step).title(step)
        return f"{step.label} ({text})" if step.label else text


class _Keywords(Mapping[str, Verb[Any]]):
    """Every keyword of a registry and its verb; looking one up imports a lazy verb."""

    def __init__(self, registry: VerbRegistry) -> None:
        self._registry = registry

    def __getitem__(self, keyword: str) -> Verb[Any]:
        return self._registry._verb(keyword)

    def __iter__(self) -> Iterator[str]:
        return iter([*self._registry._by_keyword, *self._registry._lazy])

    def __len__(self) -> int:
        return len(self._registry._by_keyword) + len(self._registry._lazy)

    def __contains__(self, keyword: object) -> bool:
        return keyword in self._registry._by_keyword or keyword in self._registry._lazy
