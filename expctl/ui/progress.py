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
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from expctl.errors import IllegalCommand
from expctl.ui.report import format_duration, inert, markup_safe

if TYPE_CHECKING:
    from rich.console import Console

    from expctl.engine import Engine
    from expctl.engine.events import SafeStateReached, StateChanged

__all__ = ["PauseQuestion", "RunProgress", "ask_after_pause", "pause_on_interrupt",
           "pause_report", "print_note", "safe_state_line"]


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
    """Overall progress (finished leaf steps of all), where the sequence is, ETA.

    The overall bar is exact; the current step is a line of text (its own
    duration is not known in advance, so a bar for it could only lie), said as a
    readable location with loop values (``delay 3/25 (0.5 ps) › spot 2/5 › run
    reference: 300 shots``) when a :class:`~expctl.ui.location.StepTracker` is
    given.  The ETA is :class:`~expctl.ui.eta.Eta`'s when given (weighted by time,
    paused time left out).  The display is transient: it disappears when the run
    ends or a question is asked; the persistent lines are
    :class:`~expctl.ui.runlines.EventLines`' and the caller prints the outcome.

    Args:
        console: where to draw.
        outline: the checked sequence's outline (exact counts per written step).
        estimated_s: the dry-run's estimate of the beamline time, if known.
        clock: the session clock (its ``speed`` turns beamline time into wall time).
        units: the declared unit of each device (safe-state lines).
        tracker: where the sequence is (subscribed to the bus by the caller).
        eta: the time-weighted ETA (subscribed to the bus by the caller).
    """

    def __init__(self, console: Console, outline: Any, estimated_s: float | None,
                 clock: Any, units: Mapping[str, str] | None = None, *, tracker: Any = None,
                 eta: Any = None) -> None:
        from rich.live import Live
        from rich.progress import BarColumn, Progress, TextColumn

        from expctl.sequence.dryrun import written_path

        self._written = written_path
        self.console = console
        self.totals = _leaf_totals(outline)
        self.total = sum(self.totals.values()) or 1.0
        self.done = 0.0
        self.estimated_s = estimated_s
        self.clock = clock
        self.units = dict(units or {})
        self.tracker = tracker
        self.eta = eta
        self.started = clock.now()
        self.current = ""
        self.note = ""
        self.runs = 0
        self.state = "running"
        self._suspended: tuple[str, float] | None = None
        self._progress = Progress(TextColumn("[bold]{task.description}"), BarColumn(),
                                  TextColumn("{task.percentage:>5.1f}%"),
                                  TextColumn("{task.fields[info]}", markup=False),
                                  console=console)
        self._task = self._progress.add_task("overall", total=self.total, info="")
        self._live = Live(self, console=console, transient=True, refresh_per_second=8)

    def __call__(self, event: Any) -> None:
        from expctl.engine.events import (
            RunStopped,
            SafeStateReached,
            StateChanged,
            StateRestored,
            StepFinished,
            StepStarted,
        )

        if isinstance(event, StepStarted):
            text = f"{event.path}  {event.label}" if event.label else event.path
            self.current = inert(text)  # a label from a file must not drive the terminal
        elif isinstance(event, StepFinished):
            if self._written(event.path) in self.totals:
                self.done += 1
        elif isinstance(event, RunStopped) and event.outcome == "completed":
            self.runs += 1  # (a cut run's line is EventLines')
        elif isinstance(event, StateChanged):
            self.state = event.new
            self._suspension(event)
        elif isinstance(event, StateRestored):  # resume: say what it puts back, above the bars
            self.console.print(inert(event.text), markup=False, highlight=False)
        elif isinstance(event, SafeStateReached) and event.reason != "pause":
            self.console.print(inert(safe_state_line(event, self.units)), markup=False,
                               highlight=False)  # (a pause says it in its question)
        self._progress.update(self._task, completed=min(self.done, self.total),
                              info=self.info_text())

    def _suspension(self, event: StateChanged) -> None:
        """While suspended the note says why and since when; on recovery a line stays."""
        from expctl.ui.report import suspended_text

        if event.new == "suspended":
            self._suspended = (event.reason, event.time)
            self.note = (suspended_text(event.reason, self.clock.epoch, event.time)
                         + " (resumes by itself; Ctrl-C pauses)")
        elif self._suspended is not None and event.old == "suspended":
            reason, since = self._suspended
            self._suspended = None
            self.note = ""
            if event.new == "running":
                self.console.print(f"{suspended_text(reason, self.clock.epoch, since)}: resumed "
                                   f"after {format_duration(event.time - since)}",
                                   markup=False, highlight=False)

    def info_text(self) -> str:
        """Runs so far, ETA and engine state: the text right of the bar."""
        return f"{self.runs} run{'s' if self.runs != 1 else ''}  {self.eta_text()}  " \
               f"({self.state})"

    def eta_text(self) -> str:
        """Remaining beamline time (and wall time for a sped-up clock).

        The dry-run estimate counts while it lasts; once the run has taken longer
        (a wall clock also counts computing time), the remainder is extrapolated
        from the fraction of steps done.
        """
        frac = self.done / self.total
        if frac >= 1:
            return "finishing"
        if self.eta is not None:
            return self.eta.text(getattr(self.clock, "speed", None))
        elapsed = self.clock.now() - self.started
        remaining = (self.estimated_s or 0.0) - elapsed
        if remaining <= 0:
            if frac <= 0:
                return "ETA ?"
            remaining = elapsed * (1 - frac) / frac
        text = f"ETA {format_duration(remaining)} beamline time"
        speed = getattr(self.clock, "speed", None)
        if speed and speed != 1:
            text += f" ({format_duration(remaining / speed)} wall)"
        return text

    def step_text(self) -> str:
        """The line under the bar: where the sequence is now."""
        if self.tracker is not None:
            return self.tracker.location() or "starting"
        return f"step {self.current}" if self.current else "starting"

    def notify(self, message: str) -> None:
        """Show ``message`` under the step line (drawn by the display, not printed over it)."""
        self.note = inert(message)

    def __rich__(self) -> Any:
        from rich.console import Group
        from rich.text import Text

        lines: list[Any] = [self._progress.make_tasks_table(self._progress.tasks),
                 Text(self.step_text(), style="dim", no_wrap=True, overflow="ellipsis")]
        if self.note:
            lines.append(Text(self.note, style="yellow"))
        return Group(*lines)

    @contextmanager
    def live(self) -> Iterator[RunProgress]:
        """Draw while the block runs."""
        with self._live:
            yield self

    def suspend(self) -> None:
        """Stop drawing (before asking a question)."""
        self._live.stop()

    def restart(self) -> None:
        """Draw again."""
        self._live.start()


class PauseQuestion:
    """The pause hook of ``expctl run``/``resume``: say where it paused and what the safe
    state did, then ask resume / stop / abort (abort when there is nobody to ask).

    ``asking`` is true while it waits for an answer: a Ctrl-C then means abort
    (see :func:`pause_on_interrupt`).
    """

    def __init__(self, console: Console, progress: RunProgress | None = None,
                 read: Callable[[str], str] = input) -> None:
        self.console = console
        self.progress = progress
        self.read = read
        self.asking = False

    def __call__(self, engine: Engine) -> None:
        if self.progress is not None:
            self.progress.suspend()
        try:
            self.console.print(pause_report(engine), markup=False, highlight=False)
            self.asking = True
            choice = self._ask()
            {"r": engine.resume, "s": engine.stop, "a": engine.abort}[choice]()
        finally:
            self.asking = False
            if self.progress is not None:
                self.progress.notify("")
                self.progress.restart()

    def _ask(self) -> str:
        if not sys.stdin.isatty() and self.read is input:
            self.console.print("[yellow]paused with no terminal to ask: aborting[/]")
            return "a"
        try:
            while True:
                # asked through the console, so --json keeps the question off stdout
                self.console.print("paused — \\[r]esume, \\[s]top after this step, \\[a]bort? ",
                                   end="", highlight=False)
                try:
                    answer = self.read("")
                except EOFError:
                    return "a"
                choice = answer.strip().lower()[:1]
                if choice in ("r", "s", "a"):
                    return choice
                self.console.print("answer r, s or a")
        except KeyboardInterrupt:  # Ctrl-C at the question: abort
            return "a"


def ask_after_pause(console: Console, progress: RunProgress | None = None,
                    read: Callable[[str], str] = input) -> PauseQuestion:
    """A pause hook that asks resume / stop / abort (see :class:`PauseQuestion`)."""
    return PauseQuestion(console, progress, read)


def safe_state_line(event: SafeStateReached, units: Mapping[str, str] | None = None) -> str:
    """``safe state after abort: xray_shutter open → closed, pump on → off``."""
    return f"safe state after {event.reason}: {event.describe(units)}"


def pause_report(engine: Any) -> str:
    """Where the engine paused and what the safe state did, with units (two lines)."""
    path, label = engine.where()
    at = f"paused in step {path}" + (f" ({label})" if label else "") if path else "paused"
    safe = engine.last_safe_state
    if safe is None:
        return at
    units = {name: spec.units for name, spec in engine.beamline.profile.devices.items()}
    return f"{at}\nsafe state: {safe.describe(units)}" + (
        " (undone on resume)" if safe.changes else "")


def print_note(console: Console) -> Callable[[str], None]:
    """A ``notify`` for :func:`pause_on_interrupt` when no live display is drawing."""

    def note(message: str) -> None:
        console.print(f"[yellow]{markup_safe(message)}[/]", highlight=False)

    return note


@contextmanager
def pause_on_interrupt(engine_of: Callable[[], Engine | None], notify: Callable[[str], None],
                       bus: Any = None, question: PauseQuestion | None = None,
                       ) -> Iterator[dict[str, bool]]:
    """Ctrl-C pauses at the next checkpoint; again pauses now; again aborts.

    Before the engine has started (loading, rehearsing) nothing has moved, so
    Ctrl-C simply interrupts (exit 130).  Once paused, a further Ctrl-C aborts:
    while the safe state is being driven the abort waits until it is reached
    (nothing interrupts the safe state); at the pause question it answers
    "abort".  Yields a dict whose ``"interrupted"`` says whether Ctrl-C was pressed.

    Args:
        engine_of: the engine to pause, once there is one.
        notify: says what Ctrl-C did (a live display shows it; printing from a
            signal handler could tear a half-drawn frame).
        bus: the session's event bus; it tells when the engine starts running.
            Without it, an idle engine counts as not started.
        question: the pause hook; a Ctrl-C while it asks means abort.
    """
    from expctl.engine import EngineState as S

    flags = {"interrupted": False, "started": False}

    def watch(event: Any) -> None:
        if getattr(event, "new", None) == "running":
            flags["started"] = True

    def handler(signum: int, frame: Any) -> None:
        engine = engine_of()
        first = not flags["interrupted"]
        flags["interrupted"] = True
        if engine is None or (engine.state is S.IDLE and not flags["started"]):
            raise KeyboardInterrupt
        state = engine.state
        if state is S.PAUSED and question is not None and question.asking:
            raise KeyboardInterrupt  # the question takes it as "abort"
        try:
            if state is S.PAUSED:
                engine.abort()
                notify("aborting once the safe state is reached" if engine.driving_safe_state
                       else "aborting")
                return
            if state is S.ABORTING:
                notify("already aborting: waiting for the safe state to be reached")
                return
            engine.pause(immediate=not first)
        except IllegalCommand as exc:  # finishing, or already idle
            notify(f"Ctrl-C: {exc.message}")
            return
        notify("pause requested: pausing at the next checkpoint (Ctrl-C again to pause now)"
               if first else "pausing now: driving the safe state (Ctrl-C again to abort)")

    unsubscribe = (bus.subscribe(watch, critical=False, name="Ctrl-C watch")
                   if bus is not None else None)
    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield flags
    finally:
        signal.signal(signal.SIGINT, previous)
        if unsubscribe is not None:
            unsubscribe()
