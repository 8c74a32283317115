"""Live progress of a run, the Ctrl-C handler and the pause question, without a terminal."""

from __future__ import annotations

import io
import signal
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from rich.console import Console

from expctl.devices.profile import load_profile
from expctl.engine import EngineState, EventBus
from expctl.engine.events import (
    RunStopped,
    SafeStateReached,
    StateChanged,
    StateRestored,
    StepFinished,
    StepStarted,
)
from expctl.errors import IllegalCommand
from expctl.sequence.load import load_sequence
from expctl.ui.location import StepTracker
from expctl.ui.progress import (
    RunProgress,
    ask_after_pause,
    pause_on_interrupt,
    pause_report,
)
from expctl.ui.report import outcome_text
from expctl.ui.runlines import EventLines

ROOT = Path(__file__).resolve().parents[3]


def _console(width: int = 80) -> Console:
    return Console(file=io.StringIO(), width=width, record=True, color_system=None)


@pytest.fixture
def small_outline():
    loaded = load_sequence(ROOT / "sequences" / "small.yaml",
                           load_profile(ROOT / "sim" / "profiles" / "bl3.yaml"))
    assert loaded.ok
    return loaded.report.outline


def _text(console: Console, renderable) -> str:
    console.print(renderable)
    return console.export_text()


def test_progress_counts_written_steps_and_shows_the_current_step_as_text(small_outline,
                                                                          clock):
    progress = RunProgress(_console(), small_outline, 10.0, clock)
    assert progress.total == 11  # the eleven written steps of small.yaml
    for k in range(1, 4):
        progress(StepStarted(str(k), f"step {k}", clock.now()))
        progress(StepFinished(str(k), clock.now()))
    progress(StepStarted("4", "rocking curve theta over ${span}", clock.now()))
    out = _text(_console(), progress)
    assert "27.3%" in out
    assert "step 4  rocking curve theta over ${span}" in out
    assert "0.0%" not in out  # no made-up percentage for the running step
    assert "0 runs  ETA 10.0 s beamline time  (running)" in out


def test_progress_lines_fit_80_columns_and_long_steps_are_cut_not_wrapped(small_outline,
                                                                          clock):
    progress = RunProgress(_console(), small_outline, 10.0, clock)
    progress(StepStarted("4", "rocking curve " + "very long title " * 10, clock.now()))
    lines = _text(_console(80), progress).splitlines()
    assert len(lines) == 2
    assert all(len(line) <= 80 for line in lines)
    assert lines[1].endswith("…")
    assert lines[0].startswith("overall ")


def test_resume_says_what_it_restores_above_the_bars(small_outline, clock):
    console = _console()
    progress = RunProgress(console, small_outline, 10.0, clock)
    progress(StateRestored((("xray_shutter", "open"), ("theta", 11.40267)), clock.now(), "4"))
    assert console.export_text() == "restoring xray_shutter → open, theta → 11.40267\n"


def test_suspension_is_shown_with_its_reason_and_start_then_a_line_stays(small_outline):
    import time

    from expctl.clock import VirtualClock

    clock = VirtualClock(epoch=time.mktime((2026, 12, 3, 14, 0, 0, 0, 0, -1)))
    console = _console()
    progress = RunProgress(console, small_outline, 10.0, clock)
    progress(StateChanged("running", "suspended", 192.0, "no beam"))
    assert progress.note == ("suspended: no beam since 14:03:12 (resumes by itself; "
                             "Ctrl-C pauses)")
    rec = type("R", (), {"run": 7, "label": "reference", "shots": 12})()
    lines: list[str] = []
    cut = RunStopped(rec, "beamloss", 192.5)
    progress(cut)
    EventLines(lines.append, StepTracker(), {}, None)(cut)  # the cut run's line is EventLines'
    progress(StateChanged("suspended", "running", 232.0, "condition good again"))
    assert progress.note == ""
    assert lines == ["run 7 reference: 12 shots, beamloss (retaken)"]
    assert console.export_text().splitlines() == [
        "suspended: no beam since 14:03:12: resumed after 40.0 s"]


def test_eta_uses_the_estimate_then_extrapolates_once_it_is_exceeded(small_outline, clock):
    progress = RunProgress(_console(), small_outline, 10.0, clock)
    clock.sleep(4.0)
    assert progress.eta_text() == "ETA 6.0 s beamline time"
    for k in range(1, 6):  # 5 of 11 steps
        progress(StepFinished(str(k), clock.now()))
    clock.sleep(16.0)  # 20 s elapsed: the 10 s estimate is spent
    assert progress.eta_text() == f"ETA {20.0 * 6 / 5:.1f} s beamline time"
    for k in range(6, 12):
        progress(StepFinished(str(k), clock.now()))
    assert progress.eta_text() == "finishing"


def test_progress_counts_completed_runs_and_engine_state(small_outline, clock):
    progress = RunProgress(_console(), small_outline, None, clock)
    progress(RunStopped(record=None, outcome="completed", time=0.0))
    progress(StateChanged("running", "pausing", 0.0))
    assert progress.info_text() == "1 run  ETA ?  (pausing)"


def test_notes_are_drawn_by_the_display_and_cleared_after_the_question(small_outline, clock):
    progress = RunProgress(_console(), small_outline, 10.0, clock)
    progress.notify("pause requested")
    assert _text(_console(), progress).splitlines()[-1] == "pause requested"
    engine = _FakeEngine()
    ask_after_pause(_console(), progress, read=lambda _: "r")(engine)
    assert engine.calls == ["resume"]
    assert progress.note == ""
    progress.suspend()


@dataclass
class _Run:
    run: int


@dataclass
class _Summary:
    outcome: str
    runs: tuple = ()
    cut_runs: tuple = ()
    duration: float = 10.0


@pytest.mark.parametrize(("summary", "interrupted", "text"), [
    (_Summary("completed", (_Run(1), _Run(2))), False,
     "completed: 2 runs (1–2), 10.0 s of beamline time"),
    (_Summary("aborted"), True, "aborted: no runs, 10.0 s of beamline time"),
    (_Summary("stopped", (_Run(7),), (_Run(8),), 75.0), True,
     "stopped: 1 run (7), cut short: 8, 1 min 15 s of beamline time"),
    (_Summary("completed", (_Run(3), _Run(9))), True,
     "completed: 2 runs (3, 9), 10.0 s of beamline time (the sequence ended before its "
     "next checkpoint, so it never paused)"),
])
def test_outcome_line(summary, interrupted, text):
    assert outcome_text(summary, interrupted=interrupted) == text


@dataclass
class _FakeEngine:
    state: EngineState = EngineState.RUNNING
    calls: list = field(default_factory=list)
    refuse: bool = False
    driving_safe_state: bool = False
    last_safe_state: SafeStateReached | None = None
    beamline: object = None

    def where(self) -> tuple[str, str]:
        return ("2/delay[1]/1", "request pump_delay")

    def pause(self, immediate: bool = False) -> None:
        if self.refuse:
            raise IllegalCommand("pause", self.state.value, ["reset"])
        self.calls.append("pause now" if immediate else "pause")

    def resume(self) -> None:
        self.calls.append("resume")

    def stop(self) -> None:
        self.calls.append("stop")

    def abort(self) -> None:
        self.calls.append("abort")
        self.state = EngineState.ABORTING


def test_ctrl_c_before_the_engine_starts_interrupts_at_once():
    notes: list[str] = []
    with pause_on_interrupt(lambda: None, notes.append) as flags:
        with pytest.raises(KeyboardInterrupt):
            signal.raise_signal(signal.SIGINT)
    assert flags["interrupted"] and notes == []
    idle = _FakeEngine(EngineState.IDLE)  # rehearsing before the first move
    with pause_on_interrupt(lambda: idle, notes.append, EventBus()):
        with pytest.raises(KeyboardInterrupt):
            signal.raise_signal(signal.SIGINT)
    assert idle.calls == []


def test_ctrl_c_pauses_then_pauses_now_and_reports_refusals():
    engine = _FakeEngine()
    notes: list[str] = []
    bus = EventBus()
    before = signal.getsignal(signal.SIGINT)
    with pause_on_interrupt(lambda: engine, notes.append, bus) as flags:
        bus.publish(StateChanged("idle", "running", 0.0))
        signal.raise_signal(signal.SIGINT)
        signal.raise_signal(signal.SIGINT)
        engine.state, engine.refuse = EngineState.FAILED, True
        signal.raise_signal(signal.SIGINT)  # refused: said, no KeyboardInterrupt
    assert flags["interrupted"]
    assert engine.calls == ["pause", "pause now"]
    assert notes == ["pause requested: pausing at the next checkpoint (Ctrl-C again to pause "
                     "now)", "pausing now: driving the safe state (Ctrl-C again to abort)",
                     "Ctrl-C: cannot pause while the engine is failed"]
    assert signal.getsignal(signal.SIGINT) is before  # the handler it found is back


def test_pause_question_repeats_until_answered_and_goes_to_the_given_console():
    console = _console()
    answers = iter(["x", "", "S"])
    engine = _FakeEngine()
    ask_after_pause(console, read=lambda _: next(answers))(engine)
    assert engine.calls == ["stop"]
    text = console.export_text()
    assert text.count("paused — [r]esume, [s]top after this step, [a]bort? ") == 3
    assert text.count("answer r, s or a") == 2


def test_pause_question_interrupted_again_means_abort():
    def read(_: str) -> str:
        raise KeyboardInterrupt

    engine = _FakeEngine()
    ask_after_pause(_console(), read=read)(engine)
    assert engine.calls == ["abort"]


def test_ctrl_c_while_paused_aborts_after_the_safe_state_and_at_the_question_answers_abort():
    engine = _FakeEngine()
    notes: list[str] = []
    bus = EventBus()
    question = ask_after_pause(_console(), read=lambda _: "r")
    with pause_on_interrupt(lambda: engine, notes.append, bus, question) as flags:
        bus.publish(StateChanged("idle", "running", 0.0))
        signal.raise_signal(signal.SIGINT)
        signal.raise_signal(signal.SIGINT)
        engine.state, engine.driving_safe_state = EngineState.PAUSED, True
        signal.raise_signal(signal.SIGINT)  # third: abort, once the safe state is reached
        signal.raise_signal(signal.SIGINT)  # fourth: already aborting
        engine.state, question.asking = EngineState.PAUSED, True
        with pytest.raises(KeyboardInterrupt):  # at the question: the question answers abort
            signal.raise_signal(signal.SIGINT)
    assert flags["interrupted"]
    assert engine.calls == ["pause", "pause now", "abort"]
    assert notes[1:] == ["pausing now: driving the safe state (Ctrl-C again to abort)",
                         "aborting once the safe state is reached",
                         "already aborting: waiting for the safe state to be reached"]


def test_pause_question_says_where_it_paused_and_what_the_safe_state_did():
    profile = load_profile(ROOT / "sim" / "profiles" / "bl3.yaml")
    engine = _FakeEngine(EngineState.PAUSED, beamline=type("B", (), {"profile": profile})())
    engine.last_safe_state = SafeStateReached(
        "pause", (("xray_shutter", "open", "closed"), ("pump", "on", "off"),
                  ("attenuator", 0.0, 1575.0)), 12.0, "2/delay[1]/1", "request pump_delay")
    assert pause_report(engine) == (
        "paused in step 2/delay[1]/1 (request pump_delay)\n"
        "safe state: xray_shutter open → closed, pump on → off, attenuator 0 um → 1575 um "
        "(undone on resume)")
    console = _console()
    ask_after_pause(console, read=lambda _: "a")(engine)
    assert console.export_text().startswith("paused in step 2/delay[1]/1 (request pump_delay)\n"
                                            "safe state: xray_shutter open → closed")
    engine.last_safe_state = SafeStateReached("pause", (), 1.0)
    assert pause_report(engine).endswith("safe state: nothing to change (already safe)")
