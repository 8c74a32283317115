"""The operator console loop: a prompt that stays up while commands run on one worker thread.

Who owns the terminal (ADR 3): prompt_toolkit, for the whole session.  What
commands print goes through ``patch_stdout`` above the prompt (a scan's rows
as its points arrive); live state lives in the bottom toolbar, refreshed four
times a second.  No rich ``Live`` display runs inside the shell.

Commands that move devices take control of the beamline (the data directory's
lock) for as long as they run, so they are refused while another process — an
``expctl run`` in another terminal — controls it; reading commands never are.

Threads: the main thread runs the prompt, the IMMEDIATE commands (pause,
resume, stop, abort, help, history, comment) and the READ commands (``wa``,
``wm``, ``runs``, ``show``, ``plot``) — those answer at once even while a
command runs or a sequence is paused; beside a running command they read
positions and states only, never instruments.  Every command that moves the
beamline runs on the single worker thread, in the order typed — a command typed
while another runs is queued — so devices never see two callers.  The session
is opened on the worker too, after the first prompt is up, which is why the
shell starts fast.

Ctrl-C is SPEC's for what is typed at the console: it stops a move, a scan or a
count at once (motion stopped where it is, a scan's points kept and marked, a
relative scan back at its start).  During ``seq run`` it is bluesky's: pause at
the next checkpoint, again pause now; then ``resume``, ``stop`` or ``abort``.
At an idle prompt Ctrl-C clears the line.  Leaving with the shutter open asks
first.  No error ends the loop: each is printed as one paragraph.
"""

from __future__ import annotations

import contextlib
import sys
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from expctl.errors import BackendError, ExpctlError
from expctl.paths import DataDir
from expctl.shell.commands import build_registry, describe_error
from expctl.shell.complete import CompletionContext, make_completer
from expctl.shell.files import SequenceFiles, list_sequence_files
from expctl.shell.parse import Invocation, parse_line
from expctl.shell.registry import Mode
from expctl.shell.toolbar import StatusBoard, toolbar_fragments, toolbar_style
from expctl.shell.worker import Worker

if TYPE_CHECKING:
    from expctl.engine import Engine, RunSummary
    from expctl.plans.procedures import PumpProbeSettings
    from expctl.session import Session

__all__ = ["CommandEnded", "Delegate", "Shell", "history_path", "list_sequence_files"]

#: ``delegate(name, argv, data_dir)`` runs a command the shell borrows from the CLI
Delegate = Callable[[str, list[str], Path], None]

TOOLBAR_REFRESH_S = 0.25
BEAM_POLL_S = 1.0
FIRST_DRAW_WAIT_S = 2.0
#: terminal width assumed when output is not a terminal (tests, pipes)
DEFAULT_WIDTH = 100
#: the worker's first job: opening the session once the prompt is drawn
CONNECT_JOB = "connect"


def history_path(data_dir: Path) -> Path:
    """Where the shell keeps its persistent history: ``<data_dir>/shell_history``."""
    return DataDir(data_dir).shell_history


class CommandEnded(ExpctlError):
    """A command's plan was stopped or aborted by the operator (not a failure)."""

    exit_code = 130


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
        self._files = SequenceFiles(sequence_dir)
        self._session: Session | None = None
        self._engine: Engine | None = None
        self._connect_error: ExpctlError | None = None
        self.worker = Worker(self._after_job, stdout)
        self._live: Callable[[], str] | None = None
        #: a ``seq run`` is under way (Ctrl-C pauses it instead of stopping)
        self.sequence_running = False
        self._exit = threading.Event()
        self._app: Any = None
        self._prompt: Any = None
        self._history: Any = None
        self._last_beam_poll = 0.0
        self._tweak: Any = None
        #: the line the worker's command was typed as (kept in scan records)
        self.line = ""
        self._leaving = False

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
            style=toolbar_style(), input=self._input, output=self._output,
            reserve_space_for_menu=4)
        self._app, self._prompt = prompt.app, prompt
        drawn = threading.Event()
        prompt.app.after_render += lambda _app: drawn.set()
        # an `exit` reached by the worker between two prompts is seen at the next redraw
        prompt.app.before_render += lambda _app: self._exit_if_asked()
        self.worker.start()
        # connect once the first prompt is on screen: importing the backend holds the GIL
        self.worker.put(CONNECT_JOB, lambda: self._connect_after(drawn))
        owner = patch_stdout(raw=True) if self._stdout is None else contextlib.nullcontext()
        with owner:
            try:
                while True:
                    try:
                        line = prompt.prompt(self._prompt_text, pre_run=self._exit_if_asked)
                    except KeyboardInterrupt:
                        if self._tweak is not None:
                            self._end_tweak("tweak ended (Ctrl-C)")
                        continue  # Ctrl-C at an idle prompt: drop the line
                    except EOFError:
                        if self._may_leave():
                            break
                        continue
                    self.submit(line)
                    if self._leaving:
                        break
            finally:
                self._shutdown()
        return 0

    def _prompt_text(self) -> str:
        return self._tweak.prompt() if self._tweak is not None else f"{self.profile_name}> "

    def submit(self, line: str) -> None:
        """Parse a line and run it: now (IMMEDIATE, READ) or on the worker, queued in order."""
        if self._tweak is not None:
            try:
                if not self._tweak.line(self, line):
                    self._tweak = None
            except ExpctlError as exc:
                self.write(describe_error(exc))
            return
        try:
            inv = parse_line(line, self.registry, self._is_device)
        except ExpctlError as exc:
            self.write(describe_error(exc))
            return
        if inv is None:
            return
        idle = self.worker.idle
        mode = inv.command.mode
        if mode is Mode.READ and (self.worker.queued or
                                  (self._session is None and self._connect_error is None)):
            # typed after commands still waiting (or before the beamline is connected):
            # answer in the order typed, after them
            mode = Mode.WORKER
        if mode is not Mode.WORKER or (idle and inv.command.name == "exit"):
            self._execute(inv)
            return
        if not idle:
            running = self.worker.busy
            first = (f"connecting to {self.profile_name}" if running == CONNECT_JOB
                     else f"`{running}`" if running else "the command queued")
            more = f" and {self.worker.queued} more" if self.worker.queued else ""
            self.write(f"queued: {inv.line} (runs after {first}{more})")
        self.queue(inv.line, lambda: self._execute(inv))

    def queue(self, label: str, run: Callable[[], None]) -> None:
        """Run ``run`` on the worker after what is already queued."""
        self.worker.put(label, run)
        self.board.update(queued=self.worker.queued)

    @property
    def busy(self) -> str | None:
        """What the worker runs now (the line as typed), None when idle."""
        return self.worker.busy

    @property
    def interrupted(self) -> bool:
        """Ctrl-C stopped the command the worker runs."""
        return self.worker.interrupted

    def _execute(self, inv: Invocation) -> None:
        if inv.command.mode is Mode.WORKER:
            self.line = inv.line
        try:
            inv.command.handler(self, inv.args)
        except CommandEnded as ended:
            self.write(ended.message)
        except KeyboardInterrupt:  # a READ command (plot, reduce) cut short at the prompt
            self.write(f"{inv.command.name}: interrupted")
        except Exception as exc:  # the loop never dies: every error is one paragraph
            self.write(describe_error(exc))
        finally:
            session = self._session
            while session is not None and session.notes:
                self.write(f"note: {session.notes.pop(0)}")

    def _shutdown(self) -> None:
        """Let queued commands finish (Ctrl-C stops or pauses as at the prompt), then stop
        the worker."""
        self.worker.finish(self.interrupt)
        if self._session is not None:
            self._session.close()

    def request_exit(self) -> None:
        """``exit``: leave now (asking first with the shutter open), or — reached by the
        worker after queued commands — once the prompt wakes."""
        if not self.worker.is_current:
            self._leaving = self._may_leave()
            return
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

    def _may_leave(self) -> bool:
        """Before leaving, with the shutter open, ask first (see :mod:`expctl.shell.leave`)."""
        from expctl.shell.leave import may_leave

        self._exit.clear()
        return may_leave(self, self._ask)

    def _ask(self, question: str) -> str:
        """A line typed in answer to ``question`` (EOFError when the input has ended)."""
        return str(self._prompt.prompt(question))

    # ------------------------------------------------------------------ worker side
    def _after_job(self) -> None:
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
        from expctl.runlog.scans import scan_file
        from expctl.shell.notices import Notices
        from expctl.ui.scanview import ScanPrinter

        self.board.epoch = session.clock.epoch
        session.bus.subscribe(self.board, critical=False, name="toolbar")
        session.bus.subscribe(Notices(self), critical=False, name="shell display")
        session.bus.subscribe(ScanPrinter(
            self.write, self.width,
            where=lambda n: str(scan_file(session.data_dir, n).relative_to(session.data_dir))),
            critical=False, name="scan rows")
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
        if self.sequence_running and self._session is not None:
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
        with self.session.control(f"expctl shell: {self.busy or 'command'}"):
            summary = self.session.run_plan(factory)
        if summary.outcome != "completed":
            why = " (Ctrl-C)" if self.interrupted else ""
            raise CommandEnded(f"{self.busy or 'command'}: {summary.outcome}{why}")
        return summary

    # ------------------------------------------------------------------ reading
    def where(self) -> dict[str, dict[str, Any]]:
        """``wa``'s rows: read in full on the worker (its turn), else as
        :func:`expctl.shell.reading.where` says."""
        from expctl.shell.reading import where

        if self.worker.is_current:
            return self.session.where()
        return where(self.session, self.worker.device_lock, self.active_engine())

    def add_comment(self, text: str) -> None:
        """``comment``: file ``text`` in the logbook and say what it was filed with."""
        from expctl.shell.reading import file_comment

        filed = file_comment(self.session, text)
        where = ", ".join(f"{k} {v}" for k, v in filed.items() if v not in (None, ""))
        self.write(f"comment filed in the logbook{' (' + where + ')' if where else ''}")

    # ------------------------------------------------------------------ tweak mode
    def start_tweak(self, tweak: Any) -> None:
        """Lines typed from now on go to ``tweak`` (``tw``) until it ends."""
        self._tweak = tweak
        self._invalidate()

    def _end_tweak(self, message: str) -> None:
        self._tweak = None
        self.write(message)

    # ------------------------------------------------------------------ Ctrl-C
    def interrupt(self) -> None:
        """Ctrl-C while a command runs (see :mod:`expctl.shell.interrupt`)."""
        from expctl.shell.interrupt import interrupt

        interrupt(self)

    def _key_bindings(self) -> Any:
        from prompt_toolkit.filters import Condition
        from prompt_toolkit.key_binding import KeyBindings

        kb = KeyBindings()

        @kb.add("c-c", filter=Condition(lambda: self.worker.busy is not None), eager=True)
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
                            session.profile.roles, read_beam=read_beam)
        except Exception as exc:  # a toolbar must never take the prompt down
            self.board.update(shutter=f"status unavailable: {type(exc).__name__}")

    def _toolbar(self) -> Any:
        now = time.monotonic()
        busy = self.worker.busy
        beam_due = now - self._last_beam_poll >= BEAM_POLL_S
        lock = self.worker.device_lock
        if busy is None and beam_due and lock.acquire(blocking=False):
            try:
                self._poll(read_beam=True)
                self._last_beam_poll = now
            finally:
                lock.release()
        elif busy is not None:
            self._poll(read_beam=False)
        live = ""
        if busy is not None and self._live is not None:
            try:
                live = self._live()
            except Exception:  # noqa: BLE001 - a readback that fails shows nothing
                live = ""
        self.board.update(activity=busy or "", live=live, queued=self.worker.queued)
        # the terminal's last column is left free: writing it would wrap the line
        return toolbar_fragments(self.board.status, self.width() - 1)

    def _invalidate(self) -> None:
        app = self._app
        if app is not None and app.is_running:
            app.invalidate()

    def width(self) -> int:
        """The terminal's width (``DEFAULT_WIDTH`` before the prompt runs)."""
        app = self._app
        if app is None:
            return DEFAULT_WIDTH
        try:
            return int(app.output.get_size().columns)
        except Exception:  # noqa: BLE001 - no terminal to ask
            return DEFAULT_WIDTH

    def write(self, text: str) -> None:
        """Print a line (above the prompt on a terminal, wrapped at words to its width);
        terminal controls in it (from a label, a file, an error) are shown as escapes,
        never obeyed."""
        from expctl.ui.report import inert

        text = inert(text, newlines=True)
        if self._stdout is None:  # a terminal: long lines wrapped at words, not mid-word
            from expctl.ui.output import wrap_lines

            text = wrap_lines(text, self.width() - 1)
        stream = self._stdout or sys.stdout
        stream.write(text + "\n")
        stream.flush()

    def console(self) -> Any:
        """A rich console on the shell's output (tables, the dry-run tree), terminal-wide."""
        from rich.console import Console

        stream = self._stdout or sys.stdout
        tty = self._stdout is None and sys.__stdout__ is not None and sys.__stdout__.isatty()
        return Console(file=stream, highlight=False, force_terminal=tty, width=self.width(),
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
        return CompletionContext(self.registry, devices, self._files.files, self._files.params)

