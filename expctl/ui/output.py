"""Where CLI output goes and how wide it may be: one rule for every command.

* On a terminal: the terminal's width (rich asks it), colours, live displays.
* Piped (``| less``, ``| tee run.log``) with ``COLUMNS`` set: that width, words
  wrapped at it — no line longer than asked for.
* Piped without ``COLUMNS``: no width at all — nothing hard-wrapped at 80 and
  nothing padded to 160; lines keep their natural length.

In both piped cases trailing blanks that tables pad cells with are removed, so a
log holds only what was meant to be read.
"""

from __future__ import annotations

import os
import sys
from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console

__all__ = ["console", "fit_line", "line_width", "print_plain", "wrap_lines"]

#: the width used for piped output with no COLUMNS: wide enough never to wrap
UNLIMITED = 100_000


def line_width(stream: IO[str] | None = None) -> int | None:
    """Columns to fit lines in: the terminal's, ``COLUMNS``, or None (no limit, piped)."""
    stream = stream or sys.stdout
    columns = os.environ.get("COLUMNS", "")
    if columns.isdigit() and int(columns) > 0:
        return int(columns)
    if stream.isatty():
        try:
            return os.get_terminal_size(stream.fileno()).columns
        except OSError:
            return 80
    return None


def fit_line(text: str, width: int | None) -> str:
    """``text`` shortened at a word boundary (with ``…``) to ``width``; never mid-word."""
    if width is None or len(text) <= width:
        return text
    cut = text.rfind(" ", 0, width - 1)
    return (text[:cut] if cut > 0 else text[:width - 1]).rstrip() + "…"


def wrap_lines(text: str, width: int) -> str:
    """``text`` with every line longer than ``width`` wrapped at words (continuations
    indented two more): a message is read in full, never broken mid-word by the terminal."""
    import textwrap

    out: list[str] = []
    for line in text.split("\n"):
        if len(line) <= width:
            out.append(line)
            continue
        indent = " " * (len(line) - len(line.lstrip(" ")) + 2)
        out += textwrap.wrap(line, width, subsequent_indent=indent, break_long_words=False,
                             break_on_hyphens=False) or [line]
    return "\n".join(out)


class _TrimmedLines:
    """A text stream that drops the blanks at the end of each line (table padding)."""

    def __init__(self, stream: IO[str]) -> None:
        self._stream = stream
        self._pending = ""

    def write(self, text: str) -> int:
        self._pending += text
        if "\n" in self._pending:
            *lines, self._pending = self._pending.split("\n")
            self._stream.write("".join(line.rstrip() + "\n" for line in lines))
        return len(text)

    def flush(self) -> None:
        if self._pending:  # a question waiting for its answer on the same line
            self._stream.write(self._pending)
            self._pending = ""
        self._stream.flush()

    def isatty(self) -> bool:
        return False

    def fileno(self) -> int:
        return self._stream.fileno()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


def console(stderr: bool = False) -> Console:
    """A rich console following the module's rule (imported only when something prints)."""
    from rich.console import Console

    stream = sys.stderr if stderr else sys.stdout
    # emoji off everywhere: ":x:" in a label or a file is text, not a picture
    if stream.isatty():
        return Console(stderr=stderr, highlight=False, emoji=False)
    width = line_width(stream)
    trimmed: Any = _TrimmedLines(stream)
    return Console(file=trimmed, highlight=False, width=width or UNLIMITED, no_color=True,
                   soft_wrap=width is None, emoji=False)


def print_plain(text: str, stderr: bool = False) -> None:
    """Print ``text`` (no markup) by the module's rule; piped, without importing rich.

    A ``--json`` run that only has a note for stderr then never pays for rich.
    """
    stream = sys.stderr if stderr else sys.stdout
    if stream.isatty():
        console(stderr).print(text, markup=False, highlight=False)
        return
    width = line_width(stream)
    lines = wrap_lines(text, width) if width is not None else text
    stream.write("".join(line.rstrip() + "\n" for line in lines.split("\n")))
    stream.flush()
