"""Plain-data renderings of validation and dry-run results (the ``--json`` objects).

Kept free of rich so scripts and the shell can use them, and so the JSON and
the rich views are built from the same numbers.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Iterable
from typing import Any

from expctl.errors import AggregateError, ExpctlError
from expctl.units import Quantity

__all__ = ["dry_run_dict", "error_dicts", "format_bytes", "format_duration", "inert",
           "loop_levels", "markup_safe", "outcome_text", "plain", "validation_dict"]

#: Characters a terminal acts on (C0/C1 controls, DEL) or that reorder or hide text
#: (bidi overrides, zero-width marks, line separators).
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2066-\u2069\ufeff]")


def inert(text: object, *, newlines: bool = False) -> str:
    """``text`` with every terminal control character shown as an escape (``\\x1b``).

    Labels, comments, sequence names and file contents come from users and files:
    printed raw, an escape sequence could clear the screen, retitle the window or
    hide text.  ``newlines`` keeps line breaks (multi-line error paragraphs).
    """
    def shown(m: re.Match[str]) -> str:
        c = m.group()
        if newlines and c == "\n":
            return c
        return f"\\x{ord(c):02x}" if ord(c) < 0x100 else f"\\u{ord(c):04x}"

    return _UNSAFE.sub(shown, str(text))


def markup_safe(text: object) -> str:
    """``text`` for a rich markup string: controls made inert, ``[`` tags escaped."""
    from rich.markup import escape

    return escape(inert(text))


def error_dicts(errors: Iterable[ExpctlError]) -> list[dict[str, Any]]:
    """One dict per error (aggregates flattened), in file order: file, line, column, message …

    Problems without a line (``--set``, the file itself) come first; the rest in
    the order a reader meets them in the file.
    """
    return sorted(_error_dicts(errors),
                  key=lambda v: (v["file"] or "", v["line"] or 0, v["column"] or 0))


def _error_dicts(errors: Iterable[ExpctlError]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for err in errors:
        if isinstance(err, AggregateError):
            out += _error_dicts(err.errors)
            continue
        loc = err.location
        body = ExpctlError(err.message, device=err.device, allowed=err.allowed, hint=err.hint)
        out.append({
            "file": loc.file if loc else None,
            "line": loc.line if loc else None,
            "column": loc.column if loc else None,
            "message": body.paragraph(),
            "device": err.device,
            "allowed": err.allowed,
            "hint": err.hint,
            "kind": type(err).__name__,
        })
    return out


def plain(value: Any, depth: int = 0) -> Any:
    """A JSON-able rendering of results and params (dataclasses, quantities, numpy)."""
    if depth > 6:
        return repr(value)
    if isinstance(value, Quantity):
        return {"value": value.value, "unit": value.unit}
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, bool | int | str) or value is None:
        return value
    as_dict = getattr(value, "as_dict", None)
    if callable(as_dict):
        return plain(as_dict(), depth + 1)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: plain(getattr(value, f.name), depth + 1)
                for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(k): plain(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        items = sorted(value, key=str) if isinstance(value, set | frozenset) else value
        return [plain(v, depth + 1) for v in items]
    if hasattr(value, "tolist"):
        return plain(value.tolist(), depth + 1)
    return str(value)


def format_duration(seconds: float) -> str:
    """``3 h 12 min``, ``4 min 05 s``, ``12.3 s``."""
    if not math.isfinite(seconds):
        return "?"
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, sec = divmod(int(round(seconds)), 60)
    if minutes < 60:
        return f"{minutes} min {sec:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def clock_time(epoch: float, t: float) -> str:
    """``14:03:12``: the local time of clock reading ``t`` (a clock's epoch + reading)."""
    import time

    return time.strftime("%H:%M:%S", time.localtime(epoch + t))


def suspended_text(reason: str, epoch: float, since: float) -> str:
    """``suspended: no beam since 14:03:12``: what progress and the toolbar show."""
    return f"suspended: {reason} since {clock_time(epoch, since)}"


def _run_span(runs: list[int]) -> str:
    """``no runs``, ``1 run (7)``, ``3 runs (4–6)``, ``2 runs (4, 9)``."""
    if not runs:
        return "no runs"
    if len(runs) == 1:
        return f"1 run ({runs[0]})"
    if runs == list(range(runs[0], runs[-1] + 1)):
        return f"{len(runs)} runs ({runs[0]}–{runs[-1]})"
    return f"{len(runs)} runs ({', '.join(map(str, runs))})"


def outcome_text(summary: Any, *, interrupted: bool = False) -> str:
    """One line on how a run ended: ``completed: 2 runs (1–2), 10.0 s of beamline time``.

    Args:
        summary: the engine's RunSummary.
        interrupted: Ctrl-C was pressed; a completed plan then never reached a
            checkpoint after the request, which the user should hear about.
    """
    text = f"{summary.outcome}: {_run_span([r.run for r in summary.runs])}"
    if summary.cut_runs:
        cut = [r.run for r in summary.cut_runs]
        text += f", cut short: {', '.join(map(str, cut))}"
    text += f", {format_duration(summary.duration)} of beamline time"
    if interrupted and summary.outcome == "completed":
        text += " (the sequence ended before its next checkpoint, so it never paused)"
    return text


def format_bytes(n: float) -> str:
    """``12.4 MB`` (decimal units, as storage quotas are counted)."""
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if abs(n) < 1000 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} TB"


def validation_dict(loaded: Any) -> dict[str, Any]:
    """``expctl validate --json``: ok, file, params, runs, shots, violations."""
    report = loaded.report
    return {
        "ok": loaded.ok,
        "sequence": loaded.name,
        "file": str(loaded.path),
        "profile": loaded.profile.name,
        "params": plain(loaded.params),
        "runs": report.runs if report else None,
        "shots": report.shots if report else None,
        "violations": error_dicts(loaded.errors),
        "warnings": error_dicts(report.warnings if report else []),
    }


def _step_dict(est: Any) -> dict[str, Any]:
    node = est.node
    out: dict[str, Any] = {
        "path": node.path,
        "title": node.title,
        "executions": round(node.executions),
        "seconds": round(est.seconds, 3),
        "runs": round(node.runs),
        "shots": round(node.shots),
    }
    if node.iterations:
        out["iterations"] = round(node.iterations)
    if est.children:
        out["steps"] = [_step_dict(c) for c in est.children]
    return out


def dry_run_dict(dry: Any) -> dict[str, Any]:
    """``expctl run --dry-run --json``: one object with the whole picture."""
    loaded = dry.loaded
    violations = error_dicts(list(loaded.errors) + list(dry.violations)
                             + ([dry.error] if dry.error is not None else []))
    return {
        "ok": dry.ok,
        "sequence": loaded.name,
        "file": str(loaded.path),
        "profile": loaded.profile.name,
        "params": plain(loaded.params),
        "estimated_duration_s": round(dry.total_s, 3),
        "runs": dry.runs,
        "shots": dry.shots,
        "data_bytes": dry.data_bytes,
        "sampled": dry.sampled,
        "steps": [_step_dict(c) for c in dry.tree.children],
        "loops": [{k: (round(v, 3) if isinstance(v, float) else v) for k, v in lv.items()}
                  for lv in loop_levels(dry)],
        "results": plain(dry.results),
        "violations": violations,
        "warnings": error_dicts(getattr(dry, "warnings", [])),
    }


def loop_levels(dry: Any) -> list[dict[str, Any]]:
    """Duration per loop level: every loop step with its total and per-iteration time."""
    out: list[dict[str, Any]] = []

    def walk(est: Any, depth: int) -> None:
        node = est.node
        if node.iterations:  # only loops iterate
            out.append({"path": node.path, "title": node.title, "depth": depth,
                        "iterations": round(node.iterations), "seconds": est.seconds,
                        "per_iteration_s": est.seconds / node.iterations})
            depth += 1
        for c in est.children:
            walk(c, depth)

    for child in dry.tree.children:
        walk(child, 0)
    return out
