"""YAML with a location on every node, so each error can name file:line:column.

``${…}`` expressions are not valid plain scalars inside YAML flow collections
(``{pump_delay: ${delay}}`` would be a syntax error), yet they are the natural
way to write a sequence.  Before parsing, every single-line ``${…}`` is swapped
for a token of exactly the same length that YAML accepts anywhere; after
parsing, tokens are swapped back.  Equal lengths keep every column true.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from expctl.errors import Location, SequenceError

__all__ = ["Node", "load_source", "parse_text"]

_EXPR = re.compile(r"\$\{[^{}\n]*\}")
_TOKEN = re.compile(r"\$~[0-9A-Za-z]+~*")
_DIGITS = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
#: Files larger than this are refused before parsing (a sequence is a page, not a dataset).
MAX_BYTES = 1_000_000
#: Nesting deeper than this is refused (guards the recursive walkers).
MAX_DEPTH = 60


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


class _Loader(yaml.SafeLoader):
    """SafeLoader with YAML 1.2 booleans: ``on``/``off``/``yes``/``no`` stay words.

    ``request: {pump: off}`` must mean the state "off", not ``False``.
    """


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
    def __init__(self, file: str, loader: _Loader, table: dict[str, str]) -> None:
        self.file = file
        self.loader = loader
        self.table = table
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
        value = self.loader.construct_object(node)
        if isinstance(value, str):
            value = _restore(value, self.table)
        elif not isinstance(value, int | float | bool) and value is not None:
            value = str(value)  # dates, binary: keep as text; the schema will complain
        return Node(value, loc)


def parse_text(text: str, file: str = "<input>") -> Node:
    """Parse sequence text into a :class:`Node` tree, or raise :class:`SequenceError`."""
    if len(text) > MAX_BYTES:
        raise SequenceError(f"file is larger than {MAX_BYTES} bytes", location=Location(file))
    protected, table = _protect(text)
    loader = _Loader(protected)
    try:
        root = loader.get_single_node()
        if root is None:
            raise SequenceError("the file is empty; a sequence needs at least `steps:`",
                                location=Location(file, 1, 1))
        builder = _Builder(file, loader, table)
        tree = builder.build(root)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = exc.problem or "invalid YAML"
        context = f" {exc.context}" if exc.context else ""
        raise SequenceError(f"YAML syntax error: {problem}{context}".rstrip(),
                            location=_loc(file, mark)) from None
    except yaml.YAMLError as exc:
        raise SequenceError(f"YAML error: {exc}", location=Location(file)) from None
    except RecursionError:
        raise SequenceError("the file nests too deeply", location=Location(file)) from None
    finally:
        loader.dispose()
    if builder.errors:
        if len(builder.errors) == 1:
            raise builder.errors[0]
        from expctl.errors import AggregateError

        raise AggregateError(builder.errors)
    return tree


def load_source(path: Path) -> tuple[Node, str]:
    """Read and parse a sequence file; returns the tree and the text."""
    file = str(path)
    if path.is_dir():
        raise SequenceError("is a directory, not a sequence file", location=Location(file),
                            hint="Give the path of a .yaml file inside it.")
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise SequenceError("no such sequence file", location=Location(file)) from None
    except OSError as exc:
        raise SequenceError(f"cannot read the file: {exc.strerror}",
                            location=Location(file)) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise SequenceError("the file is not UTF-8 text", location=Location(file, line)) from None
    return parse_text(text, file), text
