"""Where a running sequence is, said for people: ``delay 3/25 (0.5 ps) › spot 2/5 › run pumped``.

Engine step paths (``2/delay[2]/2/spot[1]/12``) are exact but zero-based and
carry no values.  :class:`StepTracker` follows ``StepStarted``/``StepFinished``
events and renders the open steps as 1-based loop positions out of their
totals (from the checked outline), with each loop's value as its step title
gives it (units included), and the innermost step's title with ``${…}``
replaced by the values it stands for (loop variables, parameters, results).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["StepTracker", "expand_title", "loop_totals", "path_location"]

_ITERATION = re.compile(r"^(?P<name>[A-Za-z_][A-Za-z0-9_]*)\[(?P<index>\d+)\]$")
_EXPR = re.compile(r"\$\{([^}]*)\}")
#: a loop iteration's title as the ``for``/``repeat`` verbs write it: ``delay = 0.5 ps``
_ITERATION_TITLE = re.compile(r"^\s*[A-Za-z_][A-Za-z0-9_]*\s*=\s*(?P<value>.+?)\s*$")


def loop_totals(outline: Any) -> dict[str, int]:
    """``{written path of a loop: iterations per execution}`` from a checked outline."""
    out: dict[str, int] = {}

    def walk(node: Any) -> None:
        if node.iterations and node.executions:
            out[node.path] = round(node.iterations / node.executions)
        for child in node.children:
            walk(child)

    walk(outline)
    return out


def expand_title(title: str, values: Callable[[str], Any]) -> str:
    """``run reference: ${reference_shots} shots`` → ``run reference: 300 shots``.

    ``values(expression)`` gives the value (or raises); what cannot be evaluated
    is shown as the bare expression (``rock.center``), never as ``${…}``.
    """
    def one(m: re.Match[str]) -> str:
        expr = m.group(1).strip()
        try:
            return _shown(values(expr))
        except Exception:  # noqa: BLE001 - a display never fails a run; show the words
            return expr

    return _EXPR.sub(one, title)


def _shown(value: Any) -> str:
    from expctl.units import Quantity, format_quantity

    if isinstance(value, Quantity):
        return format_quantity(value.value, value.unit)
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, list | tuple):
        inner = ", ".join(_shown(v) for v in value[:4])
        return f"[{inner}{', …' if len(value) > 4 else ''}]"
    return str(value)


@dataclass
class _Open:
    path: str
    label: str
    context: Mapping[str, Any]


def path_location(path: str, loop: Mapping[str, Any],
                  units: Mapping[str, str] | None = None) -> str:
    """A logged step path said as :class:`StepTracker` says it while running, from the
    run's loop values: ``2/delay[1]/2/spot[0]/12`` → ``delay 2 (0.5 ps) › spot 1 › step 12``
    (loop totals are not logged, so not shown)."""
    units = units or {}
    parts: list[str] = []
    components = path.split("/") if path else []
    for k, component in enumerate(components):
        m = _ITERATION.match(component)
        if m is not None:
            name, index = m["name"], int(m["index"])
            value = loop.get(name)
            text = f"{name} {index + 1}"
            if value is not None and value != index:  # a repeat's own counter says nothing
                unit = units.get(name, "")
                text += f" ({_shown(value)}{' ' + unit if unit else ''})"
            parts.append(text)
        elif k == len(components) - 1:
            parts.append(f"step {component}")
    return " › ".join(parts)


class StepTracker:
    """Engine-event subscriber: the open steps, rendered as a readable location.

    Args:
        totals: :func:`loop_totals` of the sequence's outline (may be empty).
        params: the sequence's parameters (names → values, quantities kept).
        results: the session's named results (``rock`` …), read when a title is shown.
        written: maps a run-time path to its written path (``2/delay[3]/1`` → ``2/1``).
    """

    def __init__(self, totals: Mapping[str, int] | None = None,
                 params: Mapping[str, Any] | None = None,
                 results: Mapping[str, Any] | None = None,
                 written: Callable[[str], str] | None = None) -> None:
        from expctl.sequence.dryrun import written_path

        self.totals = dict(totals or {})
        self.params = dict(params or {})
        self.results = results if results is not None else {}
        self._written = written or written_path
        self._open: list[_Open] = []
        self._lock = threading.Lock()

    def __call__(self, event: Any) -> None:
        from expctl.engine.events import StepFinished, StepStarted

        with self._lock:
            if isinstance(event, StepStarted):
                self._open.append(_Open(event.path, event.label, dict(event.context)))
            elif isinstance(event, StepFinished):
                while self._open and self._open[-1].path != event.path:
                    self._open.pop()
                if self._open:
                    self._open.pop()

    def location(self, *, leaf: bool = True) -> str:
        """``delay 3/25 (0.5 ps) › spot 2/5 › run pumped: 1 shot`` (empty outside steps);
        outside any loop ``step 4: rocking curve …``.

        Without ``leaf`` only the loops are named (``step 4`` outside any loop): what a
        line about a run or a result needs, having said what it is already.
        """
        with self._lock:
            frames = list(self._open)
        if not frames:
            return ""
        parts: list[str] = []
        for frame in frames:
            m = _ITERATION.match(frame.path.rsplit("/", 1)[-1])
            if m is None:
                continue
            name, index = m["name"], int(m["index"])
            loop = self._written(frame.path.rsplit("/", 1)[0])
            total = self.totals.get(loop)
            text = f"{name} {index + 1}" + (f"/{total}" if total else "")
            value = _ITERATION_TITLE.match(frame.label)
            shown = value["value"] if value else ""
            if shown and shown != str(index):  # a repeat's own counter says nothing new
                text += f" ({self.expand(shown, frame.context)})"
            parts.append(text)
        inner = frames[-1]
        if not _ITERATION.match(inner.path.rsplit("/", 1)[-1]):
            number = "" if parts else f"step {inner.path}"
            if leaf:
                title = self.expand(inner.label or inner.path, inner.context)
                parts.append(f"{number}: {title}" if number else title)
            elif number:
                parts.append(number)
        return " › ".join(parts)

    def expand(self, title: str, context: Mapping[str, Any]) -> str:
        """``title`` with ``${…}`` evaluated against loop variables, params and results."""
        if "${" not in title:
            return title
        from expctl.sequence.expr import parse_expression

        env: dict[str, Any] = {**self.params, **dict(self.results), **dict(context)}
        return expand_title(title, lambda expr: parse_expression(expr).evaluate(env))
