"""Drive an in-process ``Shell`` line by line through prompt_toolkit's pipe input.

Each :meth:`ShellDriver.type` sends one line once the shell is idle and returns what
the shell printed for it, so a test reads like an operator's session.
"""

from __future__ import annotations

import io
import re
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from prompt_toolkit.input import create_pipe_input
from prompt_toolkit.output import DummyOutput

from expctl.cli.shell import run_cli_command
from expctl.session import Session
from expctl.shell import Shell

REPO = Path(__file__).resolve().parents[2]


class ShellDriver:
    """A running shell with a pipe for input and a StringIO for output."""

    def __init__(self, data: Path, open_session: Callable[[], Session] | None = None) -> None:
        self.out = io.StringIO()
        self._pipe_cm = create_pipe_input()
        self.pipe = self._pipe_cm.__enter__()
        self.shell = Shell(open_session or (lambda: Session.open("bl3", data)),
                           profile_name="bl3", data_dir=data, input=self.pipe,
                           output=DummyOutput(), stdout=self.out,
                           sequence_dir=REPO / "sequences", delegate=run_cli_command)
        self.submitted = 0
        submit = self.shell.submit

        def counted(line: str) -> None:
            submit(line)
            self.submitted += 1

        self.shell.submit = counted  # type: ignore[method-assign]
        self._thread = threading.Thread(target=self.shell.run, daemon=True)
        self._thread.start()
        self._seen = 0
        self.wait_idle()

    def wait_idle(self, timeout: float = 60.0) -> None:
        end = time.monotonic() + timeout
        time.sleep(0.05)
        sh = self.shell
        while not sh.worker.idle or sh._session is None:
            if time.monotonic() > end:
                raise TimeoutError(f"shell still busy with {sh.busy!r}:\n{self.text}")
            time.sleep(0.02)

    def type(self, line: str, *, wait: bool = True) -> str:
        """Send ``line``; with ``wait``, once the shell took it and is idle again, return
        what it printed."""
        before = self.submitted
        self.pipe.send_text(line + "\n")
        if not wait:
            return ""
        end = time.monotonic() + 30
        while self.submitted == before:
            if time.monotonic() > end:
                raise TimeoutError(f"the shell never took {line!r}:\n{self.text}")
            time.sleep(0.01)
        self.wait_idle()
        return self.new_output()

    def new_output(self) -> str:
        text = self.out.getvalue()
        new, self._seen = text[self._seen:], len(text)
        return new

    def wait_for(self, pattern: str, timeout: float = 30.0) -> re.Match[str]:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            m = re.search(pattern, self.out.getvalue())
            if m:
                return m
            time.sleep(0.02)
        raise AssertionError(f"never saw {pattern!r} in:\n{self.out.getvalue()}")

    @property
    def text(self) -> str:
        return self.out.getvalue()

    def device(self, name: str) -> Any:
        return self.shell.device(name)

    def close(self) -> None:
        if self._thread.is_alive():
            self.pipe.send_text("exit\nn\n")
            self._thread.join(30)
        self._pipe_cm.__exit__(None, None, None)
