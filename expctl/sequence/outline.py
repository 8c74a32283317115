"""One-line titles of steps, as the dry-run tree and progress display show them."""

from __future__ import annotations

from expctl.sequence.model import (
    AnalyzeStep,
    Arg,
    CheckpointStep,
    ForStep,
    IfStep,
    IncludeStep,
    MoveStep,
    NextSpotStep,
    RepeatStep,
    RequestStep,
    RockingCurveStep,
    RunStep,
    ScanStep,
    SetStep,
    Step,
    WaitStep,
)

__all__ = ["step_title"]


def _pairs(targets: dict[str, Arg], sep: str) -> str:
    return ", ".join(f"{dev}{sep}{arg.raw}" for dev, arg in targets.items())


def step_title(step: Step) -> str:
    """``move theta → ${rock.center}``, ``for delay in ${delays}`` …; the label wins if given."""
    text = _title(step)
    return f"{step.label} ({text})" if step.label else text


def _title(step: Step) -> str:  # noqa: C901
    if isinstance(step, MoveStep):
        return ("move by " if step.relative else "move ") + _pairs(step.targets, " → ")
    if isinstance(step, SetStep):
        if step.verb in ("open", "close"):
            return f"{step.verb} {', '.join(step.targets)}"
        return "set " + _pairs(step.targets, " = ")
    if isinstance(step, RequestStep):
        return "request " + _pairs(step.targets, " = ")
    if isinstance(step, RunStep):
        label = f" {step.run_label.raw}" if step.run_label is not None else ""
        shots = step.shots.raw if step.shots is not None else 1
        return f"run{label}: {shots} shots"
    if isinstance(step, RockingCurveStep):
        name = f" → {step.result}" if step.result else ""
        span = step.span.raw if step.span else "?"
        points = step.points.raw if step.points else "?"
        return f"rocking curve {step.axis} over {span}, {points} points, {step.signal}{name}"
    if isinstance(step, ScanStep):
        name = f" → {step.result}" if step.result else ""
        ends = f"{step.start.raw if step.start else '?'} .. {step.stop.raw if step.stop else '?'}"
        return f"scan {step.axis} {ends}, {step.points.raw if step.points else '?'} points{name}"
    if isinstance(step, NextSpotStep):
        return f"next spot on {step.grid}"
    if isinstance(step, WaitStep):
        return f"wait {step.seconds.raw if step.seconds else '?'}"
    if isinstance(step, AnalyzeStep):
        return f"analyze {step.fn} → {step.result}"
    if isinstance(step, RepeatStep):
        var = f" ({step.var})" if step.var else ""
        return f"repeat {step.count.raw if step.count else '?'}×{var}"
    if isinstance(step, ForStep):
        return f"for {step.var} in {step.values.raw if step.values else '?'}"
    if isinstance(step, IfStep):
        return f"if {step.condition.raw if step.condition else '?'}"
    if isinstance(step, IncludeStep):
        return f"include {step.path.name}"
    if isinstance(step, CheckpointStep):
        return "checkpoint"
    return type(step).__name__
