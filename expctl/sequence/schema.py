"""From a located YAML tree to a :class:`SequenceDoc`, collecting *every* shape error.

This is the structural half of validation: known keys, right types, one verb
per step, includes that exist and do not loop.  Whether devices exist and
targets lie within limits is the job of :mod:`expctl.sequence.check`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from expctl.errors import AggregateError, ExpctlError, Location, SequenceError
from expctl.sequence.model import (
    AnalyzeStep,
    Arg,
    CheckpointStep,
    FaultSpec,
    ForStep,
    IfStep,
    IncludeStep,
    MoveStep,
    NextSpotStep,
    ParamSpec,
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
from expctl.sequence.results import ANALYSES
from expctl.sequence.source import Node, SourceBudget, load_source
from expctl.sequence.suggest import did_you_mean

__all__ = ["STEP_KEYS", "load_doc", "param_arg"]

_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
#: step verbs and the extra keys each accepts beside the verb
STEP_KEYS: dict[str, set[str]] = {
    "move": {"relative"}, "set": set(), "open": set(), "close": set(), "request": set(),
    "run": set(), "scan": set(), "rocking_curve": set(), "next_spot": set(), "wait": set(),
    "checkpoint": set(), "analyze": set(),
    "repeat": {"steps", "var"}, "for": {"in", "steps"}, "if": {"then", "else"},
    "include": {"params"},
}
_COMMON = {"label", "on_fault", "as"}
_TOP = {"name", "description", "beamline", "params", "safe_state", "steps"}
_SAFE_VERBS = {"move", "set", "open", "close", "request"}
_RESERVED = {"pi", "true", "false", "steps", "params"}
_MAX_INCLUDE_DEPTH = 16


class _Reader:
    """Walks one file's tree; errors accumulate in ``errors`` instead of stopping."""

    def __init__(self, path: Path, stack: tuple[Path, ...], errors: list[ExpctlError],
                 budget: SourceBudget | None = None) -> None:
        self.path = path
        self.stack = stack
        self.errors = errors
        self.budget = budget if budget is not None else SourceBudget()

    def err(self, message: str, loc: Location, *, field: str | None = None,
            allowed: str | None = None, hint: str | None = None) -> None:
        self.errors.append(SequenceError(message, location=loc, device=field,
                                         allowed=allowed, hint=hint))

    # -- generic shapes -----------------------------------------------------------
    def mapping(self, node: Node, what: str) -> dict[str, Node] | None:
        if not node.is_map:
            self.err(f"{what} must be a mapping (key: value), got {_shape(node)}", node.loc)
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
            self.err(f"{what} must be a name (letters, digits, _), got {_shape(node)}", node.loc)
            return None
        return node.value

    def arg(self, node: Node | None, what: str, loc: Location, *, required: bool = True
            ) -> Arg | None:
        if node is None:
            if required:
                self.err(f"{what} is missing", loc)
            return None
        if not node.is_scalar and not (node.is_seq and all(n.is_scalar for n in node.value)):
            self.err(f"{what} must be a single value, got {_shape(node)}", node.loc)
            return None
        try:
            raw = node.plain() if node.is_seq else node.value
            return Arg.of(raw, node.loc)
        except ExpctlError as exc:
            self.errors.append(exc)
            return None

    def flag(self, node: Node | None, what: str) -> bool:
        if node is None:
            return False
        if not isinstance(node.value, bool):
            self.err(f"{what} must be true or false, got {_shape(node)}", node.loc)
            return False
        return node.value

    def text(self, node: Node | None, what: str) -> str:
        if node is None:
            return ""
        if not isinstance(node.value, str | int | float) or isinstance(node.value, bool):
            self.err(f"{what} must be text, got {_shape(node)}", node.loc)
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
                if not _NAME.match(pname) or pname in _RESERVED:
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
            gen = _generator(node)
            if gen is None:
                self.err(f"parameter {pname} must be a value, a list, or one of "
                         "{linspace: [start, stop, num]}, {range: [start, stop, step]}",
                         node.loc)
                return None
            return self.generator_arg(node, gen, f"parameter {pname}")
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
                     f"{_shape(node)}", node.loc)
            return ()
        out = []
        for item in node.value:
            step = self.step(item, safe_only)
            if step is not None:
                out.append(step)
        return tuple(out)

    def step(self, node: Node, safe_only: bool) -> Step | None:
        if isinstance(node.value, str) and node.value in STEP_KEYS and node.value in (
                "checkpoint",):
            return CheckpointStep(node.loc)
        if not node.is_map:
            hint = did_you_mean(str(node.value), set(STEP_KEYS)) if node.is_scalar else None
            self.err(f"a step must be a mapping such as `- move: {{theta: 1 deg}}`, got "
                     f"{_shape(node)}", node.loc, hint=hint)
            return None
        body: dict[str, Node] = node.value
        verbs = [k for k in body if k in STEP_KEYS]
        if not verbs:
            unknown = [k for k in body if k not in _COMMON]
            key = unknown[0] if unknown else next(iter(body), "")
            self.err(f"unknown step {key!r}", node.key_locs.get(key, node.loc),
                     allowed=", ".join(sorted(STEP_KEYS)), hint=did_you_mean(key, set(STEP_KEYS)))
            return None
        if len(verbs) > 1:
            self.err(f"one step may do one thing; found {', '.join(verbs)}",
                     node.key_locs[verbs[1]], hint="Split them into separate `- ` items.")
            return None
        verb = verbs[0]
        loc = node.key_locs[verb]
        if safe_only and verb not in _SAFE_VERBS:
            self.err(f"`{verb}` cannot be part of safe_state", loc,
                     allowed=", ".join(sorted(_SAFE_VERBS)))
            return None
        self.keys(node, {verb} | STEP_KEYS[verb] | _COMMON, f"the {verb} step")
        common = {"loc": loc, "label": self.text(body.get("label"), "label"),
                  "on_fault": self.fault(body.get("on_fault"))}
        builder: Callable[[Node, dict[str, Node], dict[str, Any]], Step | None] = getattr(
            self, f"step_{verb}")
        return builder(body[verb], body, common)

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
        self.err(f"on_fault must be skip, abort or {{retry: N}}, got {_shape(node)}", node.loc,
                 allowed="skip, abort, retry, {retry: N}")
        return None

    def result_name(self, inner: dict[str, Node], body: dict[str, Node], loc: Location
                    ) -> str | None:
        node = inner.get("as") or body.get("as")
        if node is None:
            return None
        name = self.name(node, "`as:` (the result name)", loc)
        if name in _RESERVED:
            self.err(f"{name!r} is reserved and cannot name a result", node.loc)
            return None
        return name

    def step_move(self, node: Node, body: dict[str, Node], common: dict[str, Any]) -> Step:
        relative = self.flag(body.get("relative") or (node.value.get("relative")
                                                       if node.is_map else None), "relative")
        return MoveStep(**common, targets=self.targets(node, "move"), relative=relative)

    def step_set(self, node: Node, body: dict[str, Node], common: dict[str, Any]) -> Step:
        return SetStep(**common, targets=self.targets(node, "set"))

    def _open_close(self, node: Node, common: dict[str, Any], verb: str) -> Step:
        state = "open" if verb == "open" else "closed"
        names = node.value if node.is_seq else [node]
        targets: dict[str, Arg] = {}
        for n in names:
            dev = self.name(n, f"the device to {verb}", common["loc"])
            if dev is not None:
                targets[dev] = Arg(state, n.loc)
        return SetStep(**common, targets=targets, verb=verb)

    def step_open(self, node: Node, body: dict[str, Node], common: dict[str, Any]) -> Step:
        return self._open_close(node, common, "open")

    def step_close(self, node: Node, body: dict[str, Node], common: dict[str, Any]) -> Step:
        return self._open_close(node, common, "close")

    def step_request(self, node: Node, body: dict[str, Node], common: dict[str, Any]) -> Step:
        return RequestStep(**common, targets=self.targets(node, "request"))

    def step_run(self, node: Node, body: dict[str, Node], common: dict[str, Any]) -> Step | None:
        if node.is_scalar:
            return RunStep(**common, shots=self.arg(node, "shots", node.loc),
                           result=self.result_name({}, body, node.loc))
        inner = self.mapping(node, "`run:`")
        if inner is None:
            return None
        self.keys(node, {"shots", "label", "comment", "full_frames", "as"}, "run")
        return RunStep(
            **common,
            shots=self.arg(inner.get("shots"), "run: shots", node.loc),
            run_label=self.arg(inner.get("label"), "run: label", node.loc, required=False),
            comment=self.arg(inner.get("comment"), "run: comment", node.loc, required=False),
            full_frames=self.flag(inner.get("full_frames"), "full_frames"),
            result=self.result_name(inner, body, node.loc),
        )

    def step_scan(self, node: Node, body: dict[str, Node], common: dict[str, Any]) -> Step | None:
        inner = self.mapping(node, "`scan:`")
        if inner is None:
            return None
        self.keys(node, {"axis", "start", "stop", "points", "read", "shots_per_point",
                         "relative", "as"}, "scan")
        axis = self.name(inner.get("axis"), "scan: axis", node.loc) or ""
        detectors = self.name_list(inner.get("read"), "scan: read", node.loc)
        return ScanStep(
            **common, axis=axis, axis_loc=inner["axis"].loc if "axis" in inner else node.loc,
            start=self.arg(inner.get("start"), "scan: start", node.loc),
            stop=self.arg(inner.get("stop"), "scan: stop", node.loc),
            points=self.arg(inner.get("points"), "scan: points", node.loc),
            detectors=detectors,
            shots=self.arg(inner.get("shots_per_point"), "scan: shots_per_point", node.loc,
                           required=False),
            relative=self.flag(inner.get("relative"), "relative"),
            result=self.result_name(inner, body, node.loc),
        )

    def name_list(self, node: Node | None, what: str, loc: Location) -> tuple[str, ...]:
        if node is None:
            self.err(f"{what} is missing", loc)
            return ()
        items = node.value if node.is_seq else [node]
        names = [self.name(n, what, n.loc) for n in items]
        return tuple(n for n in names if n)

    def step_rocking_curve(self, node: Node, body: dict[str, Node], common: dict[str, Any]
                           ) -> Step | None:
        inner = self.mapping(node, "`rocking_curve:`")
        if inner is None:
            return None
        self.keys(node, {"axis", "span", "points", "signal", "i0", "i0_window", "center",
                         "shots_per_point", "as"}, "rocking_curve")
        signal = inner.get("signal")
        sig = self.text(signal, "rocking_curve: signal") if signal is not None else ""
        if signal is None:
            self.err("rocking_curve: signal is missing", node.loc,
                     hint="e.g. `signal: mpccd.roi0 / pd_i0`.")
        return RockingCurveStep(
            **common,
            axis=self.name(inner.get("axis"), "rocking_curve: axis", node.loc) or "",
            axis_loc=inner["axis"].loc if "axis" in inner else node.loc,
            span=self.arg(inner.get("span"), "rocking_curve: span", node.loc),
            points=self.arg(inner.get("points"), "rocking_curve: points", node.loc),
            signal=sig, signal_loc=signal.loc if signal is not None else node.loc,
            i0=self.text(inner.get("i0"), "rocking_curve: i0") or None,
            i0_window=self.arg(inner.get("i0_window"), "rocking_curve: i0_window", node.loc,
                               required=False),
            center=self.arg(inner.get("center"), "rocking_curve: center", node.loc,
                            required=False),
            shots=self.arg(inner.get("shots_per_point"), "rocking_curve: shots_per_point",
                           node.loc, required=False),
            result=self.result_name(inner, body, node.loc),
        )

    def step_next_spot(self, node: Node, body: dict[str, Node], common: dict[str, Any]) -> Step:
        grid = "sample" if node.value is None else self.name(node, "next_spot grid", node.loc)
        return NextSpotStep(**common, grid=grid or "sample")

    def step_wait(self, node: Node, body: dict[str, Node], common: dict[str, Any]) -> Step:
        return WaitStep(**common, seconds=self.arg(node, "wait", node.loc))

    def step_checkpoint(self, node: Node, body: dict[str, Node], common: dict[str, Any]) -> Step:
        if node.value not in (None, {}, True):
            self.err("checkpoint takes no value", node.loc)
        return CheckpointStep(**common)

    def step_analyze(self, node: Node, body: dict[str, Node], common: dict[str, Any]
                     ) -> Step | None:
        inner = self.mapping(node, "`analyze:`")
        if inner is None:
            return None
        fn = self.name(inner.get("fn"), "analyze: fn", node.loc) or ""
        if fn and fn not in ANALYSES:
            self.err(f"unknown analysis {fn!r}", inner["fn"].loc,
                     allowed=", ".join(sorted(ANALYSES)), hint=did_you_mean(fn, set(ANALYSES)))
            return None
        analysis = ANALYSES.get(fn)
        params = (*analysis.required, *analysis.optional) if analysis else ()
        self.keys(node, set(params) | {"fn", "as"}, f"analyze {fn}")
        args = {k: a for k, v in inner.items() if k in params
                and (a := self.arg(v, f"analyze: {k}", node.key_locs[k])) is not None}
        missing = [k for k in (analysis.required if analysis else ()) if k not in inner]
        if missing:
            self.err(f"analyze {fn} lacks {', '.join(missing)}", node.loc)
        result = self.result_name(inner, body, node.loc)
        if result is None:
            self.err("analyze needs `as:` to name its result", node.loc)
        return AnalyzeStep(**common, fn=fn, args=args, result=result)

    def step_repeat(self, node: Node, body: dict[str, Node], common: dict[str, Any]
                    ) -> Step | None:
        var = body.get("var")
        if "steps" not in body:
            self.err("repeat needs `steps:`", common["loc"])
        return RepeatStep(
            **common, count=self.arg(node, "repeat count", node.loc),
            var=self.name(var, "repeat var", node.loc) if var is not None else None,
            steps=self.steps(body["steps"], "steps") if "steps" in body else (),
        )

    def step_for(self, node: Node, body: dict[str, Node], common: dict[str, Any]) -> Step | None:
        var = self.name(node, "the loop variable of `for:`", node.loc)
        if var in _RESERVED:
            self.err(f"{var!r} is reserved and cannot be a loop variable", node.loc)
        values: Arg | None = None
        if "in" not in body:
            self.err("for needs `in:` (a list, {linspace: …}, {range: …} or ${…})",
                     common["loc"])
        else:
            vnode = body["in"]
            gen = _generator(vnode) if vnode.is_map else None
            if vnode.is_map and gen is None:
                self.err("for … in: a mapping must be {linspace: [start, stop, num]} or "
                         "{range: [start, stop, step]}", vnode.loc,
                         hint=did_you_mean(next(iter(vnode.value), ""), {"linspace", "range"}))
            elif gen is not None:
                values = self.generator_arg(vnode, gen, "for … in")
            else:
                values = self.arg(vnode, "for … in", vnode.loc)
        if "steps" not in body:
            self.err("for needs `steps:`", common["loc"])
        return ForStep(**common, var=var or "", values=values,
                       steps=self.steps(body["steps"], "steps") if "steps" in body else ())

    def step_if(self, node: Node, body: dict[str, Node], common: dict[str, Any]) -> Step | None:
        if "then" not in body:
            self.err("if needs `then:`", common["loc"])
        return IfStep(
            **common, condition=self.arg(node, "if condition", node.loc),
            then=self.steps(body["then"], "then") if "then" in body else (),
            orelse=self.steps(body["else"], "else") if "else" in body else (),
        )

    def step_include(self, node: Node, body: dict[str, Node], common: dict[str, Any]
                     ) -> Step | None:
        if not isinstance(node.value, str) or not node.value.strip():
            self.err(f"include needs a file path, got {_shape(node)}", node.loc)
            return None
        target = (self.path.parent / node.value).resolve()
        params: dict[str, Arg] = {}
        if "params" in body:
            pbody = self.mapping(body["params"], "include params") or {}
            for k, v in pbody.items():
                a = self.arg(v, f"include param {k}", body["params"].key_locs[k])
                if a is not None:
                    params[k] = a
        if target in self.stack:
            chain = " -> ".join(p.name for p in (*self.stack[self.stack.index(target):], target))
            self.err(f"include cycle: {chain}", node.loc)
            return None
        if len(self.stack) >= _MAX_INCLUDE_DEPTH:
            self.err(f"includes nest deeper than {_MAX_INCLUDE_DEPTH} files", node.loc)
            return None
        if not target.is_file():
            self.err(f"included file {node.value!r} does not exist", node.loc,
                     hint=f"Looked for {target}.")
            return None
        doc = _read(target, (*self.stack, target), self.errors, self.budget)
        if doc is not None:
            for k in params:
                if k not in doc.params:
                    self.err(f"{target.name} has no parameter {k!r}",
                             body["params"].key_locs[k],
                             allowed=", ".join(doc.params) or "none",
                             hint=did_you_mean(k, set(doc.params)))
        return IncludeStep(**common, path=target, params=params, doc=doc)


def _generator(node: Node) -> str | None:
    keys = list(node.value)
    return keys[0] if len(keys) == 1 and keys[0] in ("linspace", "range") else None


def _shape(node: Node) -> str:
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
          budget: SourceBudget) -> SequenceDoc | None:
    try:
        root, _ = load_source(path, budget)
    except AggregateError as exc:
        errors.extend(exc.errors)
        return None
    except ExpctlError as exc:
        errors.append(exc)
        return None
    return _Reader(path, stack, errors, budget).document(root)


def load_doc(path: Path) -> tuple[SequenceDoc | None, list[ExpctlError]]:
    """Parse ``path`` and its includes; returns the document and every error found."""
    errors: list[ExpctlError] = []
    resolved = path.resolve() if path.exists() else path
    doc = _read(path, (resolved,), errors, SourceBudget())
    return doc, errors


def param_arg(node: Node, name: str) -> tuple[Arg | None, list[ExpctlError]]:
    """A parameter value read the way ``params:`` reads it (for ``--set``)."""
    errors: list[ExpctlError] = []
    arg = _Reader(Path(node.loc.file or "--set"), (), errors).param_default(node, name)
    return arg, errors
