"""Bounded reading of files users hand to expctl (sequences, profiles): never a hang.

A size is checked before a byte is read, devices and pipes are refused, and a
YAML node graph is measured before anything walks it: anchors and aliases can
make a few lines stand for billions of values, so the *expanded* size and depth
are computed first, in time proportional to the lines written.

Bottom layer (with :mod:`expctl.paths`): the profile loader and the sequence
reader both use it.
"""

from __future__ import annotations

import os
import stat
import sys
from pathlib import Path
from typing import Any

import yaml

from expctl.errors import Location, UserError

try:  # libyaml's parser and composer: ~10x faster than PyYAML's own, same nodes and marks
    from yaml import CSafeLoader as FastSafeLoader
except ImportError:  # PyYAML built without libyaml
    from yaml import SafeLoader as FastSafeLoader  # type: ignore[assignment]

__all__ = ["FastSafeLoader", "InputLimitError", "ValueCap", "ValueCapReached", "expanded_size",
           "read_limited", "yaml_problem"]


class InputLimitError(UserError):
    """An input exceeds a limit expctl sets so that no input can hang it or exhaust memory."""


class ValueCap:
    """Mix into a PyYAML loader (before the loader class) to stop composing at ``limit``
    values or ``depth_limit`` levels: a megabyte of ``[1,1,1,…]`` would cost seconds
    before any other check could run, and libyaml's composer recurses in C, where a
    few hundred thousand ``- - - …`` overflow the stack instead of raising.  Raises
    :class:`ValueCapReached`.

    Counted in the resolver hooks, which PyYAML's composer and libyaml's (CSafeLoader)
    both call once per node they build; aliases build nothing and are measured
    afterwards by :func:`expanded_size`.
    """

    limit = 20_000
    depth_limit = 1_000
    _depth = 0

    def descend_resolver(self, parent: Any, index: Any) -> None:
        self.limit -= 1
        self._depth += 1
        if self.limit < 0 or self._depth > self.depth_limit:
            raise ValueCapReached(too_deep=self._depth > self.depth_limit)
        super().descend_resolver(parent, index)  # type: ignore[misc]

    def ascend_resolver(self) -> None:
        self._depth -= 1
        super().ascend_resolver()  # type: ignore[misc]


class ValueCapReached(Exception):
    """A :class:`ValueCap` loader met its limit (callers report it in their own words)."""

    def __init__(self, *, too_deep: bool = False) -> None:
        super().__init__("too deep" if too_deep else "too many values")
        #: the depth limit was met (else the value limit)
        self.too_deep = too_deep


def read_limited(path: Path, limit: int, what: str = "file") -> bytes:
    """The bytes of the regular file ``path``, refused before reading if over ``limit``.

    Raises:
        InputLimitError: a directory, device, pipe or socket, or more than ``limit`` bytes.
        OSError: the file cannot be opened or read (the caller says what it is).
    """
    where = Location(str(path))
    info = os.stat(path)
    if stat.S_ISDIR(info.st_mode):
        raise InputLimitError(f"is a directory, not a {what}", location=where,
                              hint="Give the path of a .yaml file inside it.")
    if not stat.S_ISREG(info.st_mode):
        raise InputLimitError(f"is not a regular file (a device, pipe or socket); a {what} "
                              "is a text file", location=where)
    if info.st_size > limit:
        raise InputLimitError(f"the file has {info.st_size} bytes; a {what} may have at most "
                              f"{limit}", location=where)
    with open(path, "rb") as fh:
        raw = fh.read(limit + 1)
    if len(raw) > limit:  # it grew while we looked, or its size lied (/proc)
        raise InputLimitError(f"the file has more than {limit} bytes, the limit for a {what}",
                              location=where)
    return raw


def expanded_size(root: Any) -> tuple[int, int]:
    """``(values, depth)`` of a composed YAML node graph with every alias expanded.

    Each distinct node is visited once (aliases share nodes), so a "billion laughs"
    document is measured in microseconds instead of being expanded.
    """
    endless = (sys.maxsize, sys.maxsize)
    sizes: dict[int, tuple[int, int]] = {}
    open_nodes: set[int] = set()  # on the current path: meeting one again is a cycle
    stack: list[tuple[Any, bool]] = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        key = id(node)
        if isinstance(node, yaml.MappingNode):
            kids = [n for pair in node.value for n in pair]
        elif isinstance(node, yaml.SequenceNode):
            kids = list(node.value)
        else:
            sizes[key] = (1, 1)
            continue
        if not children_done:
            if key in sizes:
                continue
            if any(id(k) in open_nodes or k is node for k in kids):
                return endless  # an alias inside its own anchor: infinitely deep
            open_nodes.add(key)
            stack.append((node, True))
            stack.extend((k, False) for k in kids if id(k) not in sizes)
            continue
        open_nodes.discard(key)
        measured = [sizes[id(k)] for k in kids]
        sizes[key] = (min(endless[0], 1 + sum(m[0] for m in measured)),
                      1 + max((m[1] for m in measured), default=0))
    return sizes[id(root)]


def yaml_problem(exc: yaml.YAMLError, text: str = "") -> tuple[str, Any]:
    """``(one-line problem, mark or None)`` of a PyYAML or libyaml error in ``text``.

    Both loaders' errors carry a problem, a context and marks; their ``str()`` spans
    several lines (and quotes the input), which does not belong in a one-paragraph
    error.  Where libyaml says only "found character that cannot start any token",
    the character is named as PyYAML would (a tab is the usual culprit).
    """
    if not isinstance(exc, yaml.MarkedYAMLError):
        return str(exc).split("\n", 1)[0], None
    mark = exc.problem_mark or exc.context_mark
    problem = exc.problem or "invalid YAML"
    unnamed = "found character that cannot start"
    if problem.startswith(unnamed) and mark is not None and 0 <= mark.index < len(text):
        problem = f"found character {text[mark.index]!r}{problem[len('found character'):]}"
    context = f" {exc.context}" if exc.context else ""
    return f"{problem}{context}".rstrip(), mark
