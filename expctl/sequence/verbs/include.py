"""``include: dark.yaml`` with ``params: {shots: 100}``: another file's steps, here."""

from __future__ import annotations

from dataclasses import field
from pathlib import Path
from typing import Any

from expctl.plans.actions import Plan
from expctl.records import record
from expctl.sequence.model import Arg, SequenceDoc, Step
from expctl.sequence.outline import OutlineNode
from expctl.sequence.registry import CheckContext, CompileContext, ReadContext, Verb
from expctl.sequence.source import Node
from expctl.sequence.suggest import did_you_mean
from expctl.sequence.values import resolve_params

__all__ = ["IncludeStep", "IncludeVerb"]

#: the deepest chain of included files
MAX_INCLUDE_DEPTH = 16


@record
class IncludeStep(Step):
    """``include: FILE``: another file's steps, here, with ``params`` given."""

    path: Path = Path()
    params: dict[str, Arg] = field(default_factory=dict)
    doc: SequenceDoc | None = None


class IncludeVerb(Verb[IncludeStep]):
    keywords = ("include",)
    step_type = IncludeStep
    extra_keys = frozenset({"params"})

    def read(self, r: ReadContext, keyword: str, node: Node, body: dict[str, Node],
             common: dict[str, Any]) -> IncludeStep | None:
        if not isinstance(node.value, str) or not node.value.strip():
            r.err(f"include needs a file path, got {r.describe(node)}", node.loc)
            return None
        target = (r.path.parent / node.value).resolve()
        params: dict[str, Arg] = {}
        if "params" in body:
            pbody = r.mapping(body["params"], "include params") or {}
            for k, v in pbody.items():
                a = r.arg(v, f"include param {k}", body["params"].key_locs[k])
                if a is not None:
                    params[k] = a
        if target in r.stack:
            chain = " -> ".join(p.name for p in (*r.stack[r.stack.index(target):], target))
            r.err(f"include cycle: {chain}", node.loc)
            return None
        if len(r.stack) >= MAX_INCLUDE_DEPTH:
            r.err(f"includes nest deeper than {MAX_INCLUDE_DEPTH} files", node.loc)
            return None
        if not target.is_file():
            r.err(f"included file {node.value!r} does not exist", node.loc,
                  hint=f"Looked for {target}.")
            return None
        doc = r.read_file(target)
        if doc is not None:
            for k in params:
                if k not in doc.params:
                    r.err(f"{target.name} has no parameter {k!r}", body["params"].key_locs[k],
                          allowed=", ".join(doc.params) or "none",
                          hint=did_you_mean(k, set(doc.params)))
        return IncludeStep(**common, path=target, params=params, doc=doc)

    def title(self, step: IncludeStep) -> str:
        return f"include {step.path.name}"

    def check(self, c: CheckContext, step: IncludeStep, env: dict[str, Any],
              node: OutlineNode, weight: float, context: str) -> None:
        if step.doc is None:
            return
        given = {k: a.value(env) for k, a in step.params.items()}
        inner = {**env, **resolve_params(step.doc, given, c.report)}
        c.block(step.doc.steps, inner, node, weight, context)
        c.export(inner, env)

    def compile(self, c: CompileContext, step: IncludeStep, env: dict[str, Any], path: str,
                context: dict[str, Any]) -> Plan:
        if step.doc is None:
            return
        given = {k: a.value(env) for k, a in step.params.items()}
        inner = {**env, **resolve_params(step.doc, given)}
        yield from c.block(step.doc.steps, inner, path, context)
        c.export(inner, env)
