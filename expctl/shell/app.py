"""The operator console loop: a prompt that stays up while commands run on one worker thread.

Who owns the terminal (see docs/decisions/0003-shell-terminal-ownership.md):
prompt_toolkit does, for the whole session.  Everything commands print goes
through ``patch_stdout`` and appears above the prompt; live progress (motion
readback, run shots, engine state) lives in the bottom toolbar, which
refreshes four times a second.  No rich ``Live`` display runs inside the shell.

Commands that move devices take control of the beamline (the data directory's
lock) for as long as they run, so they are refused while another process — an
``expctl run`` in another terminal — controls it; reading commands never are.

Threads: the main thread runs the prompt and the IMMEDIATE commands (pause,
resume, stop, abort, help, history).  Every command that touches the beamline
runs on the single worker thread, in the order typed — a command typed while
another runs is queued — so devices never see two callers.  The session is
opened on the worker too, after the first prompt is up, which is why the shell
starts fast.  Ctrl-C while a command runs asks its engine to pause at the next
checkpoint; again pauses now; then ``resume``, ``stop`` or ``abort``.  At an
idle prompt Ctrl-C clears the line.  No error ends the loop: each is printed as
one paragraph.
"""

from __future__ import annotations

import contextlib
import os
import queue
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from expctl.errors import BackendError, ExpctlError, IllegalCommand
from expctl.paths import DataDir
from expctl.shell.commands import build_registry, describe_error, format_peak
from expctl.shell.complete import CompletionContext, make_completer
from expctl.shell.parse import Invocation, parse_line
from expctl.shell.registry import Mode
from expctl.shell.toolbar import StatusBoard, toolbar_fragments

if TYPE_CHECKING:
    from expctl.engine import Engine, RunSummary
    from expctl.plans.procedures import PumpProbeSettings
    from expctl.sequence.load import LoadedSequence
    from expctl.session import Session

__all__ = ["CommandEnded", "Delegate", "Shell", "history_path", "list_sequence_files"]

#: ``delegate(name, argv, data_dir)`` runs a command the shell borrows from the CLI
Delegate = Callable[[str, list[str], Path], None]

TOOLBAR_REFRESH_S = 0.25
BEAM_POLL_S = 1.0
FIRST_DRAW_WAIT_S = 2.0


def history_path(data_dir: Path) -> Path:
    """Where the shell keeps its persistent history: ``<data_dir>/shell_history``."""
    return DataDir(data_dir).shell_history


class CommandEnded(ExpctlError):
    """A command's plan was stopped or aborted by the operator (not a failure)."""

    exit_code = 130


@dataclass(frozen=True, slots=True)
class _Job:
    label: str
    run: Callable[[], None]


class Shell:
    """The ``expctl shell`` console.

    Args:
        open_session: opens (and may connect) the session; called on the worker thread.
        profile_name: shown in the prompt and toolbar before the session is open.
        data_dir: the data directory (history lives there).
        input: a prompt_toolkit input (tests: ``create_pipe_input()``); the terminal if None.
        output: a prompt_toolkit output (tests: ``DummyOutput()``); the terminal if None.
        stdout: where command output goes (tests: a StringIO); the terminal through
            ``patch_stdout`` if None.
        sequence_dir: offered first when completing sequence files.
        delegate: runs ``runs``/``show``/``reduce`` as ``delegate(name, argv, data_dir)``
            (the CLI passes its own commands).
    """

    def __init__(self, open_session: Callable[[], Session], *, profile_name: str,
                 data_dir: Path, input: Any = None, output: Any = None,
                 stdout: TextIO | None = None, sequence_dir: Path = Path("sequences"),
                 delegate: Delegate | None = None) -> None:
        from expctl.plans.procedures import PumpProbeSettings

        self._open_session = open_session
        self.profile_name = profile_name
        self.data_dir = Path(data_dir)
        self._input = input
        self._output = output
        self._stdout = stdout
        self.sequence_dir = sequence_dir
        self.delegate = delegate
        self.registry = build_registry()
        self.board = StatusBoard(profile_name)
        self.settings: PumpProbeSettings = PumpProbeSettings()
        self.last_rock: tuple[str, Any] | None = None
        self._session: Session | None = None
        self._engine: Engine | None = None
        self._connect_error: ExpctlError | None = None
        self._jobs: queue.Queue[_Job | None] = queue.Queue()
        self._worker = threading.Thread(target=self._work, name="expctl-shell-worker")
        self._busy: str | None = None
        self._device_lock = threading.Lock()
        self._live: Callable[[], str] | None = None
        self._sequence_running = False
        self._exit = threading.Event()
        self._app: Any = None
        self._history: Any = None
        self._last_beam_poll = 0.0
        self._params_cache: dict[tuple[str, float], list[str]] = {}

    # ------------------------------------------------------------------ the loop
    def run(self) -> int:
        """Prompt until ``exit`` or end of input; returns the exit code (0)."""
        from prompt_toolkit import PromptSession
        from prompt_toolkit.history import FileHistory
        from prompt_toolkit.patch_stdout import patch_stdout

        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._history = FileHistory(str(history_path(self.data_dir)))
        prompt: PromptSession[str] = PromptSession(
            history=self._history, completer=make_completer(self.completion_context),
            complete_while_typing=False, bottom_toolbar=self._toolbar,
            refresh_interval=TOOLBAR_REFRESH_S, key_bindings=self._key_bindings(),
            style=_style(), input=self._input, output=self._output,
            reserve_space_for_menu=4)
        self._app = prompt.app
        drawn = threading.Event()
        prompt.app.after_render += lambda _app: drawn.set()
        # an `exit` reached by the worker between two prompts is seen at the next redraw
        prompt.app.before_render += lambda _app: self._exit_if_asked()
        self._worker.start()
        # connect once the first prompt is on screen: importing the backend holds the GIL
        self._jobs.put(_Job("connect", lambda: self._connect_after(drawn)))
        owner = patch_stdout(raw=True) if self._stdout is None else contextlib.nullcontext()
        with owner:
            try:
                while not self._exit.is_set():
                    try:
                        line = prompt.prompt(f"{self.profile_name}> ",
                                             pre_run=self._exit_if_asked)
                    except KeyboardInterrupt:
                        continue  # Ctrl-C at an idle prompt: drop the line
                    except EOFError:
                        break
                    self.submit(line)
            finally:
                self._shutdown()
        return 0

    def submit(self, line: str) -> None:
        """Parse a line and run it: now (IMMEDIATE) or on the worker, queued in order."""
        try:
            inv = parse_line(line, self.registry, self._is_device)
        except ExpctlError as exc:
            self.write(describe_error(exc))
            return
        if inv is None:
            return
        idle = self._busy is None and self._jobs.empty()
        if inv.command.mode is Mode.IMMEDIATE or (idle and inv.command.name == "exit"):
            self._execute(inv)
            return
        if self._busy is not None or not self._jobs.empty():
            ahead = self._jobs.qsize() + (1 if self._busy else 0)
            self.write(f"queued: {inv.line} (after {ahead} running/queued)")
        self._jobs.put(_Job(inv.line, lambda: self._execute(inv)))
        self.board.update(queued=self._jobs.qsize())

    def _execute(self, inv: Invocation) -> None:
        try:
            inv.command.handler(self, inv.args)
        except CommandEnded as ended:
            self.write(ended.message)
        except Exception as exc:  # the loop never dies: every error is one paragraph
            self.write(describe_error(exc))
        finally:
            session = self._session
            while session is not None and session.notes:
                self.write(f"note: {session.notes.pop(0)}")

    def _shutdown(self) -> None:
        """Let queued commands finish (Ctrl-C pauses as at the prompt), then stop the worker."""
        self._jobs.put(None)
        while self._worker.is_alive():
            try:
                self._worker.join(0.1)
            except KeyboardInterrupt:
                self.interrupt()
        if self._session is not None:
            self._session.close()

    def request_exit(self) -> None:
        """``exit``: leave once this (queued) command is reached; wakes the prompt."""
        self._exit.set()
        app = self._app
        if app is not None and app.is_running:
            app.loop.call_soon_threadsafe(
                lambda: app.exit(exception=EOFError()) if app.is_running else None)

    def _exit_if_asked(self) -> None:
        """Runs as each prompt starts and redraws: an ``exit`` reached by the worker ends it."""
        app = self._app
        if self._exit.is_set() and app is not None and app.is_running and not app.is_done:
            app.exit(exception=EOFError())

    # ------------------------------------------------------------------ worker side
    def _work(self) -> None:
        out = contextlib.redirect_stdout(self._stdout) if self._stdout else None
        with out or contextlib.nullcontext():
            while True:
                job = self._jobs.get()
                if job is None:
                    return
                with self._device_lock:
                    self._busy = job.label
                    self.board.update(queued=self._jobs.qsize())
                    try:
                        job.run()
                    finally:
                        self._busy = None
                        self._live = None
                        self._poll(read_beam=True)
                self._invalidate()

    def _connect_after(self, drawn: threading.Event) -> None:
        drawn.wait(FIRST_DRAW_WAIT_S)
        self._connect()

    def _connect(self) -> None:
        try:
            session = self._open_session()
            engine = session.engine  # connects the beamline
        except ExpctlError as exc:
            self._connect_error = exc
            self.write(describe_error(exc))
            return
        self.board.epoch = session.clock.epoch
        session.bus.subscribe(self.board, critical=False, name="toolbar")
        session.bus.subscribe(self._on_event, critical=False, name="shell display")
        self._engine = engine
        self._session = session
        self._settings_from(session)
        self.board.update(connected=True)
        self._poll(read_beam=True)

    def _settings_from(self, session: Session) -> None:
        """Device defaults (shutter, rocking axis and signal) from the profile's roles."""
        from expctl.plans.procedures import PumpProbeSettings

        try:
            self.settings = PumpProbeSettings.from_profile(session.profile)
        except BackendError as exc:  # commands then need the device named
            self.write(f"note: {exc.paragraph()}")

    @property
    def session(self) -> Session:
        """The open session (commands run after the connect job, so it is there or failed)."""
        if self._session is None:
            why = self._connect_error.paragraph() if self._connect_error else "still connecting"
            raise BackendError(f"not connected to {self.profile_name}: {why}")
        return self._session

    def device(self, name: str) -> Any:
        """A connected device by name."""
        return self.session.beamline.devices[name]

    def active_engine(self) -> Engine | None:
        """The engine a pause/resume/stop/abort is for: the sequence's, else the shell's."""
        if self._sequence_running and self._session is not None:
            return self._session.current_engine  # the engine Session.run built for it
        return self._engine

    def run_plan(self, factory: Callable[[], Any], watch: tuple[str, ...] = ()
                 ) -> RunSummary:
        """Run a plan on the shell's engine (rehearsed first); live readback of ``watch``."""
        from expctl.engine import EngineState

        engine = self._engine
        if engine is None:
            raise BackendError(f"not connected to {self.profile_name}")
        if engine.state is EngineState.FAILED:
            engine.reset()
        if watch:
            devices: Mapping[str, Any] = self.session.beamline.devices
            units = {n: self.session.profile.devices[n].units for n in watch}
            self._live = lambda: "  ".join(
                f"{n} {devices[n].position:.6g}{' ' + units[n] if units[n] else ''}"
                for n in watch)
        with self.session.control(f"expctl shell: {self._busy or 'command'}"):
            summary = self.session.run_plan(factory)
        if summary.outcome != "completed":
            raise CommandEnded(f"{self._busy or 'command'}: {summary.outcome}")
        return summary

    def run_sequence(self, loaded: LoadedSequence) -> RunSummary:
        """Run a checked sequence through the session (journal, run log, safe state)."""
        session = self.session
        self._sequence_running = True
        unsubscribe = session.bus.subscribe(self._on_sequence_event, critical=False,
                                            name="shell display")
        seen = len(session.bus.warnings)
        try:
            with session.control(f"expctl shell: {self._busy or 'seq run'}"):
                return session.run(loaded)
        finally:
            unsubscribe()
            self._sequence_running = False
            for warning in session.bus.warnings[seen:]:  # a display or plot that failed
                self.write(f"warning: {warning.text}")

    # ------------------------------------------------------------------ events
    def _on_event(self, event: Any) -> None:
        from expctl.engine.events import FaultRaised, SafeStateReached, StateChanged
        from expctl.ui.progress import pause_report, safe_state_line

        if isinstance(event, SafeStateReached):
            units = {n: spec.units for n, spec in self.session.profile.devices.items()}
            if event.reason == "pause":
                engine = self.active_engine()
                self.write((pause_report(engine) if engine is not None else "paused")
                           + "\npaused — type resume, stop or abort")
            else:
                self.write(safe_state_line(event, units))
        elif isinstance(event, StateChanged):
            if event.new == "suspended":
                from expctl.ui.report import suspended_text

                self.write(suspended_text(event.reason, self.board.epoch, event.time)
                           + " (resumes by itself; abort to give up)")
        elif isinstance(event, FaultRaised):
            self.write(f"fault in {event.step_path or event.action}: "
                       f"{event.error.paragraph()} → {event.policy}")

    def _on_sequence_event(self, event: Any) -> None:
        from expctl.engine.events import AnalysisDone, RunStopped

        if isinstance(event, RunStopped):
            rec, where = event.record, event.context.step_path
            self.write(f"  run {rec.run} {rec.label}: {rec.shots} shots, {event.outcome}"
                       f"{'  [' + where + ']' if where else ''}")
        elif isinstance(event, AnalysisDone) and hasattr(event.result, "center"):
            self.write("  " + format_peak(event.name, event.result))

    # ------------------------------------------------------------------ Ctrl-C
    def interrupt(self) -> None:
        """Ctrl-C while a command runs: pause at the next checkpoint; again: pause now."""
        from expctl.engine import EngineState as S

        engine = self.active_engine()
        if engine is None or engine.state is S.IDLE:
            self.write("nothing to pause: no motion or sequence is running")
            return
        state = engine.state
        try:
            if state is S.RUNNING:
                engine.pause()
                self.write("pause requested at the next checkpoint (Ctrl-C again: pause now)")
            elif state in (S.PAUSING, S.SUSPENDED):
                engine.pause(immediate=True)
                self.write("pausing now: driving the safe state (Ctrl-C again to abort)")
            elif state is S.PAUSED:
                engine.abort()
                self.write("aborting once the safe state is reached")
            else:
                self.write(f"engine is {state.value}: type resume, stop or abort")
        except IllegalCommand as exc:
            self.write(describe_error(exc))

    def _key_bindings(self) -> Any:
        from prompt_toolkit.filters import Condition
        from prompt_toolkit.key_binding import KeyBindings

        kb = KeyBindings()

        @kb.add("c-c", filter=Condition(lambda: self._busy is not None), eager=True)
        def _(event: Any) -> None:
            self.interrupt()

        return kb

    # ------------------------------------------------------------------ toolbar, output
    def _poll(self, *, read_beam: bool) -> None:
        session = self._session
        if session is None:
            return
        try:
            self.board.poll(session.beamline.devices, session.profile.devices,
                            read_beam=read_beam)
        except Exception as exc:  # a toolbar must never take the prompt down
            self.board.update(activity=f"status unavailable: {type(exc).__name__}")

    def _toolbar(self) -> Any:
        now = time.monotonic()
        idle = self._busy is None
        beam_due = now - self._last_beam_poll >= BEAM_POLL_S
        if idle and beam_due and self._device_lock.acquire(blocking=False):
            try:
                self._poll(read_beam=True)
                self._last_beam_poll = now
            finally:
                self._device_lock.release()
        elif not idle:
            self._poll(read_beam=False)
        activity = ""
        if self._busy is not None:
            try:
                live = self._live() if self._live is not None else ""
            except Exception:
                live = ""
            activity = f"{self._busy}{'  ' + live if live else ''}"
        self.board.update(activity=activity, queued=self._jobs.qsize())
        return toolbar_fragments(self.board.status)

    def _invalidate(self) -> None:
        app = self._app
        if app is not None and app.is_running:
            app.invalidate()

    def write(self, text: str) -> None:
        """Print a line (above the prompt on a terminal); terminal controls in it (from a
        label, a file, an error) are shown as escapes, never obeyed."""
        from expctl.ui.report import inert

        stream = self._stdout or sys.stdout
        stream.write(inert(text, newlines=True) + "\n")
        stream.flush()

    def console(self) -> Any:
        """A rich console on the shell's output (tables, the dry-run tree)."""
        from rich.console import Console

        stream = self._stdout or sys.stdout
        tty = self._stdout is None and sys.__stdout__ is not None and sys.__stdout__.isatty()
        width = os.get_terminal_size().columns if tty else 100
        return Console(file=stream, highlight=False, force_terminal=tty, width=width,
                       emoji=False)  # ":x:" in a label or file stays text

    def history_entries(self) -> list[str]:
        """Every command in the persistent history, oldest first."""
        if self._history is None:
            return []
        return list(reversed(list(self._history.load_history_strings())))

    # ------------------------------------------------------------------ completion
    def _is_device(self, word: str) -> bool:
        return self._session is not None and word in self._session.profile.devices

    def completion_context(self) -> CompletionContext:
        """What completion may offer now (devices once the profile is loaded)."""
        devices = self._session.profile.devices if self._session is not None else {}
        return CompletionContext(self.registry, devices, self._list_files, self._params_of)

    def _list_files(self, prefix: str) -> list[str]:
        return list_sequence_files(prefix, self.sequence_dir)

    def _params_of(self, path: str) -> list[str]:
        from expctl.sequence.schema import load_doc

        p = Path(path)
        try:
            key = (str(p.resolve()), p.stat().st_mtime)
        except OSError:
            return []
        if key not in self._params_cache:
            doc, _ = load_doc(p)
            self._params_cache[key] = list(doc.params) if doc is not None else []
        return self._params_cache[key]


def list_sequence_files(prefix: str, sequence_dir: Path) -> list[str]:
    """Paths completing ``prefix``: folders (with ``/``) and YAML files."""
    folder, _, stem = prefix.rpartition("/")
    base = Path(folder or ".")
    out: list[str] = []
    if not prefix and sequence_dir.is_dir():
        out += sorted(f"{sequence_dir.as_posix()}/{p.name}" for p in sequence_dir.iterdir()
                      if p.suffix in (".yaml", ".yml"))
    with contextlib.suppress(OSError):
        for entry in sorted(base.iterdir()):
            if not entry.name.startswith(stem) or entry.name.startswith("."):
                continue
            shown = f"{folder}/{entry.name}" if folder else entry.name
            if entry.is_dir():
                out.append(shown + "/")
            elif entry.suffix in (".yaml", ".yml"):
                out.append(shown)
    return out


def _style() -> Any:
    from prompt_toolkit.styles import Style

    return Style.from_dict({
        "bottom-toolbar": "noreverse bg:#202830 #c0c8d0",
        "tb.name": "bold #ffffff", "tb.ok": "#50d050", "tb.busy": "bold #f0c040",
        "tb.warn": "bold #ff9030", "tb.bad": "bold #ff5050", "tb.activity": "#80c0ff",
    })
