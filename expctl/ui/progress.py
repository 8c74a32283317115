"""Live progress of a real run, and the Ctrl-C → pause → resume/stop/abort dialogue.

:class:`RunProgress` is an event-bus subscriber: it counts finished written
steps against the outline's totals (so the overall bar is exact), shows the
current step and an ETA in beamline time (and in wall time when the clock is
sped up).  It draws with rich ``Live``; while the pause dialogue asks its
question the live display is stopped, so only one thing owns the terminal.
"""

from __future__ import annotations

import signal
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from expctl.errors import IllegalCommand
from expctl.ui.report import format_duration

if TYPE_CHECKING:
    from rich.console import Console

    from expctl.engine import Engine

__all__ = ["RunProgress", "ask_after_pause", "pause_on_interrupt"]


def _leaf_totals(outline: Any) -> dict[str, float]:
    out: dict[str, float] = {}

    def walk(node: Any) -> None:
        if not node.children and node.path:
            out[node.path] = node.executions
        for c in node.children:
            walk(c)

    walk(outline)
    return out


class RunProgress:
    """Overall progress (finished leaf steps of all), current step, ETA.

    Args:
        console: where to draw.
        outline: the checked sequence's outline (exact counts per written step).
        estimated_s: the dry-run's estimate of the beamline time, if known.
        clock: the session clock (its ``speed`` turns beamline time into wall time).
    """

    def __init__(self, console: Console, outline: Any, estimated_s: float | None,
                 clock: Any) -> None:
        from rich.progress import BarColumn, Progress, TextColumn

        from expctl.sequence.dryrun import written_path

        self._written = written_path
        self.console = console
        self.totals = _leaf_totals(outline)
        self.total = sum(self.totals.values()) or 1.0
        self.done = 0.0
        self.estimated_s = estimated_s
        self.clock = clock
        self.started = clock.now()
        self.current = ""
        self.runs = 0
        self.state = "running"
        self._progress = Progress(TextColumn("[bold]{task.description}"), BarColumn(),
                                  TextColumn("{task.percentage:>5.1f}%"),
                                  TextColumn("{task.fields[info]}"), console=console,
                                  transient=False)
        self._task = self._progress.add_task("overall", total=self.total, info="")
        self._step = self._progress.add_task("step", total=None, info="")

    def __call__(self, event: Any) -> None:
        from expctl.engine.events import RunStopped, StateChanged, StepFinished, StepStarted

        if isinstance(event, StepStarted):
            self.current = event.label or event.path
        elif isinstance(event, StepFinished):
            if self._written(event.path) in self.totals:
                self.done += 1
        elif isinstance(event, RunStopped) and event.outcome == "completed":
            self.runs += 1
        elif isinstance(event, StateChanged):
            self.state = event.new
        self._refresh()

    def eta_text(self) -> str:
        """Remaining beamline time (and wall time for a sped-up clock)."""
        elapsed = self.clock.now() - self.started
        frac = self.done / self.total
        if self.estimated_s and self.estimated_s > 0:
            remaining = max(0.0, self.estimated_s - elapsed)
        elif frac > 0:
            remaining = elapsed * (1 - frac) / frac
        else:
            return "ETA ?"
        text = f"ETA {format_duration(remaining)} beamline time"
        speed = getattr(self.clock, "speed", None)
        if speed and speed != 1:
            text += f" ({format_duration(remaining / speed)} wall)"
        return text

    def _refresh(self) -> None:
        self._progress.update(self._task, completed=min(self.done, self.total),
                              info=f"{self.runs} runs  {self.eta_text()}  [{self.state}]")
        self._progress.update(self._step, description="step", info=self.current)

    @contextmanager
    def live(self) -> Iterator[RunProgress]:
        """Draw while the block runs."""
        with self._progress:
            yield self

    def suspend(self) -> None:
        """Stop drawing (before asking a question)."""
        self._progress.stop()

    def restart(self) -> None:
        """Draw again."""
        self._progress.start()


def ask_after_pause(console: Console, progress: RunProgress | None = None,
                    read: Callable[[str], str] = input) -> Callable[[Engine], None]:
    """A pause hook: ask resume / stop / abort (abort when there is nobody to ask)."""

    def hook(engine: Engine) -> None:
        if progress is not None:
            progress.suspend()
        try:
            if not sys.stdin.isatty() and read is input:
                console.print("[yellow]paused with no terminal to ask: aborting[/]")
                engine.abort()
                return
            while True:
                try:
                    answer = read("paused — [r]esume, [s]top after this step, [a]bort? ")
                except (EOFError, KeyboardInterrupt):
                    answer = "a"
                choice = answer.strip().lower()[:1]
                if choice in ("r", "s", "a"):
                    break
                console.print("answer r, s or a")
            {"r": engine.resume, "s": engine.stop, "a": engine.abort}[choice]()
        finally:
            if progress is not None:
                progress.restart()

    return hook


@contextmanager
def pause_on_interrupt(engine_of: Callable[[], Engine | None], console: Console
                       ) -> Iterator[dict[str, bool]]:
    """Ctrl-C pauses at the next checkpoint; a second Ctrl-C pauses immediately.

    Yields a dict whose ``"interrupted"`` says whether Ctrl-C was pressed (exit 130).
    """
    flags = {"interrupted": False}

    def handler(signum: int, frame: Any) -> None:
        engine = engine_of()
        first = not flags["interrupted"]
        flags["interrupted"] = True
        if engine is None:
            raise KeyboardInterrupt
        try:
            engine.pause(immediate=not first)
        except IllegalCommand:  # not running (yet, or any more): nothing to pause
            return
        console.print("[yellow]pause requested (Ctrl-C again to pause now)[/]"
                      if first else "[yellow]pausing now[/]")

    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield flags
    finally:
        signal.signal(signal.SIGINT, previous)
