"""One persistent line per run and per analysis result, so ``expctl run … | tee`` is a log.

A live progress display disappears when the run ends; these lines stay.  Each
says what happened, with units, and where in the sequence it happened, in the
words of :class:`~expctl.ui.location.StepTracker` (``delay 3/25 (0.5 ps) ›
spot 2/5``).  Lines are fitted to the width given (whole words dropped from the
end, marked ``…``), never wrapped.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

from expctl.ui.location import StepTracker
from expctl.ui.output import fit_line
from expctl.ui.scanview import number_text, quantity_text

__all__ = ["EventLines", "analysis_text"]


def analysis_text(name: str, result: Any, unit: str = "") -> str:
    """``rock: centre 11.40268 ± 1.2e-05 deg, FWHM 0.00209 deg, ok`` (or why not usable)."""
    center = getattr(result, "center", None)
    if not isinstance(center, int | float):
        return f"{name}: {type(result).__name__}"
    err = getattr(result, "center_err", math.nan)
    if isinstance(err, float) and math.isfinite(err):
        text = f"{name}: centre {number_text(center, 7)} ± {quantity_text(err, unit, 2)}"
    else:
        text = f"{name}: centre {quantity_text(center, unit, 7)}"
    fwhm = getattr(result, "fwhm", math.nan)
    if isinstance(fwhm, float) and math.isfinite(fwhm):
        text += f", FWHM {quantity_text(fwhm, unit, 3)}"
    flags = sorted(getattr(result, "flags", ()) or ())
    if getattr(result, "ok", True):
        text += ", ok" + (f" ({', '.join(flags)})" if flags else "")
    else:
        text += f", NOT usable: {', '.join(flags) or 'fit failed'}"
    return text


class EventLines:
    """Engine-event subscriber printing a line per run, analysis and state change.

    Args:
        write: prints one line.
        tracker: says where in the sequence each line happened (subscribed separately).
        units: the declared unit of each device (for analysis results of an axis).
        width: the line width (None: no limit).
        clock_text: a function of a clock time giving local wall time text (``14:02:11``),
            for suspend and pause lines; plain seconds when omitted.
        states: also a line when the engine pauses, suspends and resumes (a display that
            says those itself, like the shell, leaves them out).
    """

    def __init__(self, write: Callable[[str], None], tracker: StepTracker,
                 units: Mapping[str, str], width: int | None,
                 clock_text: Callable[[float], str] | None = None, *,
                 states: bool = True) -> None:
        self.write = write
        self.states = states
        self.tracker = tracker
        self.units = dict(units)
        self.width = width
        self.clock_text = clock_text or (lambda t: f"t={t:.1f} s")
        self._suspended_at: float | None = None

    def _say(self, text: str, where: bool = True) -> None:
        location = self.tracker.location(leaf=False) if where else ""
        line = f"{text}  [{location}]" if location else text
        self.write(fit_line(line, self.width))

    def __call__(self, event: Any) -> None:
        from expctl.engine.events import (
            AnalysisDone,
            RunStopped,
            StateChanged,
            cut_by_condition,
        )

        if isinstance(event, RunStopped):
            rec = event.record
            label = f" {rec.label}" if rec.label else ""
            outcome = "" if event.outcome == "completed" else f", {event.outcome}"
            cut = cut_by_condition(event.outcome) or event.outcome == "interrupted"
            retaken = " (retaken)" if cut else ""
            self._say(f"run {rec.run}{label}: {rec.shots} shot{'s' if rec.shots != 1 else ''}"
                      f"{outcome}{retaken}")
        elif isinstance(event, AnalysisDone) and not event.name.endswith("_align"):
            axis = event.inputs.get("axis") if event.inputs else None
            unit = self.units.get(str(axis), "") if axis else ""
            if hasattr(event.result, "center"):
                self._say(analysis_text(event.name, event.result, unit))
        elif isinstance(event, StateChanged) and self.states:
            self._state(event)

    def _state(self, event: Any) -> None:
        from expctl.ui.report import format_duration

        if event.new == "suspended":
            self._suspended_at = event.time
            self._say(f"suspended at {self.clock_text(event.time)}: {event.reason}")
        elif event.old == "suspended" and event.new == "running" and \
                self._suspended_at is not None:
            held = format_duration(event.time - self._suspended_at)
            self._suspended_at = None
            self._say(f"resumed after {held} suspended ({event.reason})")
        elif event.new == "paused":
            self._say(f"paused at {self.clock_text(event.time)}")
        elif event.old == "paused" and event.new == "running":
            self._say("resumed", where=False)
