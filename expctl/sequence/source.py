"""YAML with a location on every node, so each error can name file:line:column.

``${…}`` expressions are not valid plain scalars inside YAML flow collections
(``{pump_delay: ${delay}}`` would be a syntax error), yet they are the natural
way to write a sequence.  Before parsing, every single-line ``${…}`` is swapped
for a token of exactly the same length that YAML accepts anywhere; after
parsing, tokens are swapped back.  Equal lengths keep every column true.

Input is bounded before it can cost much: a file's size is checked before it is
read (devices and pipes are refused), anchors and aliases may not expand past a
node budget shared with every included file (a 13-line "billion laughs" fails
in milliseconds), numbers are limited in digits and nesting in depth.  Each
limit is named in its message.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from expctl.errors import Location, SequenceError
from expctl.inputs import (
    FastSafeLoader,
    InputLimitError,
    ValueCap,
    ValueCapReached,
    expanded_size,
    read_limited,
    yaml_problem,
)

__all__ = ["MAX_BYTES", "MAX_DEPTH", "MAX_DIGITS", "MAX_FILES", "MAX_NODES", "Node",
           "SourceBudget", "load_source", "parse_text"]

_EXPR = re.compile(r"\$\{[^{}\n]*\}")
_TOKEN = re.compile(r"\$~[0-9A-Za-z]+~*")
_DIGITS = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
#: Files larger than this are refused before parsing (a sequence is a page, not a dataset).
MAX_BYTES = 1_000_000
#: Nesting deeper than this is refused (guards the recursive walkers).
MAX_DEPTH = 60
#: Values (after aliases are expanded) in a sequence and all its includes together.
MAX_NODES = 20_000
#: Files a sequence may read, itself and its includes counted as often as included.
MAX_FILES = 200
#: Characters of a number written in YAML (a delay list needs ~10).
MAX_DIGITS = 100

_NUMBER_TAGS = ("tag:yaml.org,2002:int", "tag:yaml.org,2002:float")


@dataclass
class SourceBudget:
    """What one sequence (with its includes and ``--set`` values) may still read.

    Shared by every file of one load, so fan-out through includes is bounded too.
    """

    nodes: int = MAX_NODES
    files: int = MAX_FILES


@dataclass
class Node:
    """A YAML node: ``value`` is a dict of Nodes, a list of Nodes or a plain scalar.

    ``key_locs`` gives, for a mapping, where each key was written.
    """

    value: Any
    loc: Location
    key_locs: dict[str, Location] = field(default_factory=dict)

    @property
    def is_map(self) -> bool:
        return isinstance(self.value, dict)

    @property
    def is_seq(self) -> bool:
        return isinstance(self.value, list)

    @property
    def is_scalar(self) -> bool:
        return not (self.is_map or self.is_seq)

    def plain(self) -> Any:
        """The Python value with all marks removed."""
        if self.is_map:
            return {k: v.plain() for k, v in self.value.items()}
        if self.is_seq:
            return [v.plain() for v in self.value]
        return self.value


class _Loader(ValueCap, FastSafeLoader):
    """SafeLoader (libyaml's when available) with YAML 1.2 booleans: ``on``/``off``/
    ``yes``/``no`` stay words.

    ``request: {pump: off}`` must mean the state "off", not ``False``.  It stops
    composing at the node budget and far below a depth that could exhaust the C stack
    (:class:`~expctl.inputs.ValueCap`); :data:`MAX_DEPTH` is checked with a line later.
    """

    depth_limit = 200


_Loader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
for _first in "tTfF":
    _Loader.add_implicit_resolver(
        "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), [_first])


def _token(index: int, width: int) -> str | None:
    digits = ""
    n = index
    while True:
        n, r = divmod(n, len(_DIGITS))
        digits = _DIGITS[r] + digits
        if n == 0:
            break
    token = f"$~{digits}"
    return token.ljust(width, "~") if len(token) <= width else None


def _protect(text: str) -> tuple[str, dict[str, str]]:
    table: dict[str, str] = {}

    def swap(m: re.Match[str]) -> str:
        tok = _token(len(table), len(m.group(0)))
        if tok is None:  # too short to hold a token (e.g. "${}"): leave it, YAML decides
            return m.group(0)
        table[tok] = m.group(0)
        return tok

    return _EXPR.sub(swap, text), table


def _restore(value: str, table: dict[str, str]) -> str:
    if "$~" not in value:
        return value
    return _TOKEN.sub(lambda m: table.get(m.group(0), m.group(0)), value)


def _loc(file: str, mark: yaml.Mark | None) -> Location:
    if mark is None:
        return Location(file)
    return Location(file, mark.line + 1, mark.column + 1)


class _Builder:
    def __init__(self, file: str, loader: _Loader, table: dict[str, str],
                 budget: SourceBudget) -> None:
        self.file = file
        self.loader = loader
        self.table = table
        self.budget = budget
        self.errors: list[SequenceError] = []

    def build(self, node: yaml.Node, depth: int = 0) -> Node:
        loc = _loc(self.file, node.start_mark)
        if depth > MAX_DEPTH:
            raise SequenceError(f"nesting deeper than {MAX_DEPTH} levels", location=loc)

        if isinstance(node, yaml.MappingNode):
            out: dict[str, Node] = {}
            keys: dict[str, Location] = {}
            for knode, vnode in node.value:
                kloc = _loc(self.file, knode.start_mark)
                key = self.loader.construct_object(knode) if isinstance(
                    knode, yaml.ScalarNode) else None
                if not isinstance(key, str | int | float | bool) or key is None:
                    self.errors.append(SequenceError(
                        "mapping keys must be plain names", location=kloc))
                    continue
                key = _restore(str(key) if not isinstance(key, str) else key, self.table)
                if key in out:
                    self.errors.append(SequenceError(
                        f"duplicate key {key!r} (first given at line {keys[key].line})",
                        location=kloc, device=None))
                    continue
                keys[key] = kloc
                out[key] = self.build(vnode, depth + 1)
            return Node(out, loc, keys)
        if isinstance(node, yaml.SequenceNode):
            return Node([self.build(v, depth + 1) for v in node.value], loc)
        if node.tag in _NUMBER_TAGS and len(node.value) > MAX_DIGITS:
            raise SequenceError(f"a number of {len(node.value)} characters; numbers may have "
                                f"at most {MAX_DIGITS}", location=loc)
        try:
            value = self.loader.construct_object(node)
        except ValueError as exc:  # e.g. an integer beyond Python's conversion limit
            raise SequenceError(f"not a usable value: {exc}", location=loc) from None
        if isinstance(value, str):
            value = _restore(value, self.table)
        elif not isinstance(value, int | float | bool) and value is not None:
            value = str(value)  # dates, binary: keep as text; the schema will complain
        return Node(value, loc)


#: Unclosed ``[``/``{`` tolerated before parsing (generous: strings may hold brackets).
_MAX_BRACKETS = 200
_BRACKETS = re.compile(r"#[^\n]*|[\[\]{}]")


def _bracket_depth(text: str) -> int:
    """The deepest run of unclosed flow brackets (comments skipped, quotes not: a bound)."""
    depth = deepest = 0
    for m in _BRACKETS.finditer(text):
        c = m.group()
        if c in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif c in "]}":
            depth = max(0, depth - 1)
    return deepest


def _spend(budget: SourceBudget, root: yaml.Node, file: str) -> None:
    """Take the document's expanded size from the budget, measured before it is walked."""
    values, depth = expanded_size(root)
    if depth == sys.maxsize:  # (ordinary depth is checked where it happens, with its line)
        raise SequenceError(f"nesting deeper than {MAX_DEPTH} levels (an alias inside its "
                            "own anchor)", location=Location(file))
    budget.nodes -= values
    if budget.nodes < 0:
        raise _too_many(file)


def _too_many(file: str) -> SequenceError:
    return SequenceError(
        f"more than {MAX_NODES} values (anchors and aliases expanded, includes counted)",
        location=Location(file), hint="A sequence is a page of steps; write long lists "
        "as {linspace: …} or {range: …} instead of repeating them.")


def _yaml_error(exc: yaml.YAMLError, file: str, text: str) -> SequenceError:
    problem, mark = yaml_problem(exc, text)
    kind = "YAML syntax error" if isinstance(exc, yaml.MarkedYAMLError) else "YAML error"
    return SequenceError(f"{kind}: {problem}", location=_loc(file, mark))


def _too_deep(file: str) -> SequenceError:
    return SequenceError(f"nesting deeper than {MAX_DEPTH} levels", location=Location(file))


def parse_text(text: str, file: str = "<input>", budget: SourceBudget | None = None) -> Node:
    """Parse sequence text into a :class:`Node` tree, or raise :class:`SequenceError`.

    Args:
        text: the YAML text.
        file: how locations name it.
        budget: what is left to read for this sequence (a fresh budget when omitted).
    """
    if len(text) > MAX_BYTES:
        raise SequenceError(f"the text is longer than {MAX_BYTES} characters, the limit for "
                            "a sequence", location=Location(file))
    budget = budget if budget is not None else SourceBudget()
    if _bracket_depth(text) > _MAX_BRACKETS:  # before PyYAML: its scanner is quadratic in it
        raise SequenceError(f"nesting deeper than {MAX_DEPTH} levels ([ and {{ more than "
                            f"{_MAX_BRACKETS} deep)", location=Location(file))
    protected, table = _protect(text)
    try:
        loader = _Loader(protected)  # (PyYAML's own reader refuses control characters here)
    except yaml.YAMLError as exc:
        raise _yaml_error(exc, file, protected) from None
    loader.limit = budget.nodes
    try:
        root = loader.get_single_node()
        if root is None:
            raise SequenceError("the file is empty; a sequence needs at least `steps:`",
                                location=Location(file, 1, 1))
        _spend(budget, root, file)
        builder = _Builder(file, loader, table, budget)
        tree = builder.build(root)
    except yaml.YAMLError as exc:  # (libyaml's reader refuses control characters here)
        raise _yaml_error(exc, file, protected) from None
    except ValueCapReached as exc:
        if exc.too_deep:
            raise _too_deep(file) from None
        raise _too_many(file) from None
    except RecursionError:  # PyYAML's own composer recurses: a few hundred [[[ … ]]]
        raise _too_deep(file) from None
    finally:
        loader.dispose()
    if builder.errors:
        if len(builder.errors) == 1:
            raise builder.errors[0]
        from expctl.errors import AggregateError

        raise AggregateError(builder.errors)
    return tree


def load_source(path: Path, budget: SourceBudget | None = None) -> tuple[Node, str]:
    """Read and parse a sequence file; returns the tree and the text.

    The file must be a regular file of at most :data:`MAX_BYTES` bytes (checked
    before reading: ``/dev/zero`` or a pipe never hangs a validation).
    """
    file = str(path)
    budget = budget if budget is not None else SourceBudget()
    budget.files -= 1
    if budget.files < 0:
        raise SequenceError(f"more than {MAX_FILES} files read (includes counted as often "
                            "as they are included)", location=Location(file))
    raw = _read_bounded(path)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise SequenceError("the file is not UTF-8 text", location=Location(file, line)) from None
    return parse_text(text, file, budget), text


def _read_bounded(path: Path) -> bytes:
    """The bytes of a regular file no larger than :data:`MAX_BYTES`, or a SequenceError."""
    file = str(path)
    try:
        return read_limited(path, MAX_BYTES, "sequence file")
    except InputLimitError as exc:
        raise SequenceError(exc.message, location=exc.location, hint=exc.hint) from None
    except FileNotFoundError:
        raise SequenceError("no such sequence file", location=Location(file)) from None
    except OSError as exc:
        raise SequenceError(f"cannot read the file: {exc.strerror or exc}",
                            location=Location(file)) from None
