"""From a located YAML tree to a :class:`SequenceDoc`, collecting *every* shape error.

This is the structural half of validation: known keys, right types, one verb
per step, includes that exist and do not loop.  Whether devices exist and
targets lie within limits is the job of :mod:`expctl.sequence.check`.
"""

from __future__ import annotations

import re
from pathlib import Path

from expctl.errors import AggregateError, ExpctlError, Location, SequenceError
from expctl.sequence.model import Arg, FaultSpec, ParamSpec, SequenceDoc, Step, non_finite
from expctl.sequence.registry import RESERVED, VerbRegistry
from expctl.sequence.source import Node, SourceBudget, load_source
from expctl.sequence.suggest import did_you_mean

__all__ = ["Reader", "load_doc", "param_arg"]

_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
_COMMON = {"label", "on_fault", "as"}
_TOP = {"name", "description", "beamline", "params", "safe_state", "steps"}
_FINITE_HINT = ("A value that is not a finite number (.nan, .inf, beyond ±1.8e308) cannot "
                "drive a device, count shots or time a wait.")


class Reader:
    """Walks one file's tree; errors accumulate in ``errors`` instead of stopping.

    Each step is read by its verb (:class:`~expctl.sequence.registry.Verb`), which
    uses this reader's shape helpers (the
    :class:`~expctl.sequence.registry.ReadContext`).
    """

    def __init__(self, path: Path, stack: tuple[Path, ...], errors: list[ExpctlError],
                 verbs: VerbRegistry, budget: SourceBudget | None = None) -> None:
        self.path = path
        self.stack = stack
        self.errors = errors
        self.verbs = verbs
        #: what this sequence and its includes may still read (shared: bounds fan-out)
        self.budget = budget if budget is not None else SourceBudget()

    def err(self, message: str, loc: Location, *, field: str | None = None,
            allowed: str | None = None, hint: str | None = None) -> None:
        self.errors.append(SequenceError(message, location=loc, device=field,
                                         allowed=allowed, hint=hint))

    # -- generic shapes -----------------------------------------------------------
    def mapping(self, node: Node, what: str) -> dict[str, Node] | None:
        if not node.is_map:
            self.err(f"{what} must be a mapping (key: value), got {describe(node)}", node.loc)
            return None
        return node.value

    def keys(self, node: Node, allowed: set[str], what: str) -> None:
        for key, loc in node.key_locs.items():
            if key not in allowed:
                self.err(f"unknown key {key!r} in {what}", loc, allowed=", ".join(sorted(allowed)),
                         hint=did_you_mean(key, allowed))

    def name(self, node: Node | None, what: str, loc: Location) -> str | None:
        if node is None:
            self.err(f"{what} is missing", loc)
            return None
        if not isinstance(node.value, str) or not _NAME.match(node.value):
            self.err(f"{what} must be a name (letters, digits, _), got {describe(node)}", node.loc)
            return None
        return node.value

    def arg(self, node: Node | None, what: str, loc: Location, *, required: bool = True
            ) -> Arg | None:
        if node is None:
            if required:
                self.err(f"{what} is missing", loc)
            return None
        if not node.is_scalar and not (node.is_seq and all(n.is_scalar for n in node.value)):
            self.err(f"{what} must be a single value, got {describe(node)}", node.loc)
            return None
        if not self.finite(node, what):
            return None
        try:
            raw = node.plain() if node.is_seq else node.value
            return Arg.of(raw, node.loc)
        except ExpctlError as exc:
            self.errors.append(exc)
            return None

    def finite(self, node: Node, what: str, *, words: bool = False) -> bool:
        """False, with an error at the value, if ``node`` holds a number that is not finite."""
        for item in node.value if node.is_seq else [node]:
            shown = non_finite(item.value, words=words)
            if shown is not None:
                self.err(f"{what} must be a finite number, got {shown}", item.loc,
                         hint=_FINITE_HINT)
                return False
        return True

    def flag(self, node: Node | None, what: str) -> bool:
        if node is None:
            return False
        if not isinstance(node.value, bool):
            self.err(f"{what} must be true or false, got {describe(node)}", node.loc)
            return False
        return node.value

    def text(self, node: Node | None, what: str) -> str:
        if node is None:
            return ""
        if not isinstance(node.value, str | int | float) or isinstance(node.value, bool):
            self.err(f"{what} must be text, got {describe(node)}", node.loc)
            return ""
        return str(node.value)

    def targets(self, node: Node, verb: str) -> dict[str, Arg]:
        body = self.mapping(node, f"`{verb}:`")
        if body is None:
            return {}
        if not body:
            self.err(f"`{verb}:` needs at least one device: value", node.loc)
        out: dict[str, Arg] = {}
        for dev, vnode in body.items():
            if verb == "move" and dev == "relative":
                continue
            a = self.arg(vnode, f"the target of {dev}", node.key_locs[dev])
            if a is not None:
                out[dev] = a
        return out

    # -- document -----------------------------------------------------------------
    def document(self, root: Node) -> SequenceDoc | None:
        top = self.mapping(root, "a sequence file")
        if top is None:
            return None
        self.keys(root, _TOP, "the sequence file")
        if "steps" not in top:
            self.err("the sequence has no `steps:`", root.loc)
        params: dict[str, ParamSpec] = {}
        if "params" in top and top["params"].value is not None:
            pbody = self.mapping(top["params"], "`params:`") or {}
            for pname, pnode in pbody.items():
                ploc = top["params"].key_locs[pname]
                if not _NAME.match(pname) or pname in RESERVED:
                    self.err(f"parameter name {pname!r} is not allowed", ploc,
                             hint="Use letters, digits and _, not a reserved word.")
                    continue
                default = self.param_default(pnode, pname)
                if default is not None:
                    params[pname] = ParamSpec(pname, default, ploc)
        beamline = top.get("beamline")
        name_node = top.get("name")
        return SequenceDoc(
            path=self.path,
            name=self.text(name_node, "name") or self.path.stem,
            description=self.text(top.get("description"), "description"),
            beamline=self.text(beamline, "beamline") or None,
            params=params,
            safe_state=self.steps(top["safe_state"], "safe_state", safe_only=True)
            if "safe_state" in top else (),
            steps=self.steps(top["steps"], "steps") if "steps" in top else (),
            loc=root.loc,
        )

    def param_default(self, node: Node, pname: str) -> Arg | None:
        if node.is_map:
            gen = generator(node)
            if gen is None:
                self.err(f"parameter {pname} must be a value, a list, or one of "
                         "{linspace: [start, stop, num]}, {range: [start, stop, step]}",
                         node.loc)
                return None
            return self.generator_arg(node, gen, f"parameter {pname}")
        if not self.finite(node, f"parameter {pname}", words=True):
            return None
        return self.arg(node, f"parameter {pname}", node.loc)

    def generator_arg(self, node: Node, gen: str, what: str) -> Arg | None:
        """``{linspace: [a, b, n]}`` as the equivalent expression ``${linspace(a, b, n)}``."""
        args = node.value[gen]
        if not args.is_seq or not all(a.is_scalar for a in args.value):
            last = "num" if gen == "linspace" else "step"
            self.err(f"{what}: {gen} needs a list [start, stop, {last}]", args.loc)
            return None
        parts = []
        for a in args.value:
            if not self.finite(a, what, words=True):
                return None
            v = a.value
            if isinstance(v, str) and v.startswith("${") and v.endswith("}"):
                parts.append(f"({v[2:-1]})")
            elif isinstance(v, int | float) and not isinstance(v, bool):
                parts.append(repr(v))
            elif isinstance(v, str):
                parts.append(v)
            else:
                self.err(f"{what}: {gen} arguments must be numbers or quantities", a.loc)
                return None
        if gen == "linspace" and len(parts) != 3:
            self.err(f"{what}: linspace needs exactly [start, stop, num], got {len(parts)} "
                     "values", args.loc)
            return None
        try:
            return Arg.of(f"${{{gen}({', '.join(parts)})}}", node.loc)
        except ExpctlError as exc:
            self.errors.append(exc)
            return None

    # -- steps --------------------------------------------------------------------
    def steps(self, node: Node, where: str, *, safe_only: bool = False) -> tuple[Step, ...]:
        if node.value is None:
            return ()
        if not node.is_seq:
            self.err(f"`{where}:` must be a list of steps (each line starting with '- '), got "
                     f"{describe(node)}", node.loc)
            return ()
        out = []
        for item in node.value:
            step = self.step(item, safe_only)
            if step is not None:
                out.append(step)
        return tuple(out)

    def step(self, node: Node, safe_only: bool) -> Step | None:
        keywords = self.verbs.keywords
        if isinstance(node.value, str) and node.value in keywords and keywords[node.value].bare:
            verb = keywords[node.value]
            if safe_only and not verb.safe:
                self.err(f"`{node.value}` cannot be part of safe_state", node.loc,
                         allowed=self._safe_keywords())
                return None
            return verb.step_type(node.loc)
        if not node.is_map:
            hint = did_you_mean(str(node.value), set(keywords)) if node.is_scalar else None
            self.err(f"a step must be a mapping such as `- move: {{theta: 1 deg}}`, got "
                     f"{describe(node)}", node.loc, hint=hint)
            return None
        body: dict[str, Node] = node.value
        found = [k for k in body if k in keywords]
        # a key one verb allows beside its keyword (`scan:` of a `for`) is not a step of its own
        found = [k for k in found
                 if not any(k in keywords[o].extra_keys for o in found if o != k)]
        if not found:
            unknown = [k for k in body if k not in _COMMON]
            key = unknown[0] if unknown else next(iter(body), "")
            self.err(f"unknown step {key!r}", node.key_locs.get(key, node.loc),
                     allowed=", ".join(sorted(keywords)), hint=did_you_mean(key, set(keywords)))
            return None
        if len(found) > 1:
            self.err(f"one step may do one thing; found {', '.join(found)}",
                     node.key_locs[found[1]], hint="Split them into separate `- ` items.")
            return None
        keyword = found[0]
        verb = keywords[keyword]
        loc = node.key_locs[keyword]
        if safe_only and not verb.safe:
            self.err(f"`{keyword}` cannot be part of safe_state", loc,
                     allowed=self._safe_keywords())
            return None
        self.keys(node, {keyword} | verb.extra_keys | _COMMON, f"the {keyword} step")
        common = {"loc": loc, "label": self.text(body.get("label"), "label"),
                  "on_fault": self.fault(body.get("on_fault"))}
        return verb.read(self, keyword, body[keyword], body, common)

    def _safe_keywords(self) -> str:
        return ", ".join(sorted(k for k, v in self.verbs.keywords.items() if v.safe))

    def fault(self, node: Node | None) -> FaultSpec | None:
        if node is None:
            return None
        if node.value in ("skip", "abort"):
            return FaultSpec(node.value)
        if node.value == "retry":
            return FaultSpec("retry", 1)
        if node.is_map and set(node.value) == {"retry"}:
            n = node.value["retry"].value
            if isinstance(n, int) and not isinstance(n, bool) and 1 <= n <= 100:
                return FaultSpec("retry", n)
            self.err(f"on_fault retry count must be a whole number 1..100, got {n!r}",
                     node.value["retry"].loc)
            return None
        self.err(f"on_fault must be skip, abort or {{retry: N}}, got {describe(node)}", node.loc,
                 allowed="skip, abort, retry, {retry: N}")
        return None

    def result_name(self, inner: dict[str, Node], body: dict[str, Node], loc: Location
                    ) -> str | None:
        node = inner.get("as") or body.get("as")
        if node is None:
            return None
        name = self.name(node, "`as:` (the result name)", loc)
        if name in RESERVED:
            self.err(f"{name!r} is reserved and cannot name a result", node.loc)
            return None
        return name

    # -- more shapes verbs read ---------------------------------------------------
    def names(self, node: Node | None, what: str, loc: Location) -> tuple[str, ...]:
        if node is None:
            self.err(f"{what} is missing", loc)
            return ()
        items = node.value if node.is_seq else [node]
        names = [self.name(n, what, n.loc) for n in items]
        return tuple(n for n in names if n)

    def values_arg(self, node: Node, what: str) -> Arg | None:
        gen = generator(node) if node.is_map else None
        if node.is_map and gen is None:
            self.err(f"{what}: a mapping must be {{linspace: [start, stop, num]}} or "
                     "{range: [start, stop, step]}", node.loc,
                     hint=did_you_mean(next(iter(node.value), ""), {"linspace", "range"}))
            return None
        if gen is not None:
            return self.generator_arg(node, gen, what)
        return self.arg(node, what, node.loc)

    def read_file(self, path: Path) -> SequenceDoc | None:
        return _read(path, (*self.stack, path), self.errors, self.verbs, self.budget)

    def describe(self, node: Node) -> str:
        return describe(node)


def generator(node: Node) -> str | None:
    """``linspace`` or ``range`` if ``node`` is ``{linspace: …}`` / ``{range: …}``."""
    keys = list(node.value)
    return keys[0] if len(keys) == 1 and keys[0] in ("linspace", "range") else None


def describe(node: Node) -> str:
    """What ``node`` is, for messages: ``a mapping``, ``the number 5``, ``'text'`` …"""
    v = node.value
    if node.is_map:
        return "a mapping"
    if node.is_seq:
        return "a list"
    if v is None:
        return "nothing"
    if isinstance(v, bool):
        return f"{str(v).lower()}"
    if isinstance(v, int | float):
        return f"the number {v}"
    text = str(v)
    return f"{text[:40]!r}" + ("…" if len(text) > 40 else "")


def _read(path: Path, stack: tuple[Path, ...], errors: list[ExpctlError],
          verbs: VerbRegistry, budget: SourceBudget) -> SequenceDoc | None:
    try:
        root, _ = load_source(path, budget)
    except AggregateError as exc:
        errors.extend(exc.errors)
        return None
    except ExpctlError as exc:
        errors.append(exc)
        return None
    return Reader(path, stack, errors, verbs, budget).document(root)


def load_doc(path: Path, verbs: VerbRegistry | None = None
             ) -> tuple[SequenceDoc | None, list[ExpctlError]]:
    """Parse ``path`` and its includes; returns the document and every error found.

    Args:
        path: the sequence file.
        verbs: the step kinds it may use (default: the shipped verbs).
    """
    from expctl.sequence.verbs import standard_verbs

    errors: list[ExpctlError] = []
    resolved = path.resolve() if path.exists() else path
    doc = _read(path, (resolved,), errors, verbs or standard_verbs(), SourceBudget())
    return doc, errors


def param_arg(node: Node, name: str) -> tuple[Arg | None, list[ExpctlError]]:
    """A parameter value read the way ``params:`` reads it (for ``--set``)."""
    errors: list[ExpctlError] = []
    reader = Reader(Path(node.loc.file or "--set"), (), errors, VerbRegistry(()))
    return reader.param_default(node, name), errors
