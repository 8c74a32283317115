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

from expctl.errors import Location, UserError

__all__ = ["InputLimitError", "ValueCap", "ValueCapReached", "expanded_size", "read_limited"]


class InputLimitError(UserError):
    """An input exceeds a limit expctl sets so that no input can hang it or exhaust memory."""


class ValueCap:
    """Mix into a PyYAML loader (before the loader class) to stop composing at ``limit``
    values: PyYAML needs ~50 µs a value, so a megabyte of ``[1,1,1,…]`` would cost
    seconds before any other check could run.  Raises :class:`ValueCapReached`."""

    limit = 20_000

    def compose_node(self, parent: Any, index: Any) -> Any:
        self.limit -= 1
        if self.limit < 0:
            raise ValueCapReached()
        return super().compose_node(parent, index)  # type: ignore[misc]


class ValueCapReached(Exception):
    """A :class:`ValueCap` loader met its limit (callers report it in their own words)."""


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
    import yaml

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
