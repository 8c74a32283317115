"""The shell's one worker thread: every command that drives the beamline runs here, in order.

Devices never see two callers: a command typed while another runs is queued
behind it.  The worker holds ``device_lock`` for the whole of each job, so
the prompt's thread can tell "nothing runs, reading instruments is safe"
(the lock is free) from "something runs" without asking the engine.
"""

from __future__ import annotations

import contextlib
import queue
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TextIO

__all__ = ["Worker"]


@dataclass(frozen=True, slots=True)
class _Job:
    label: str
    run: Callable[[], None]


class Worker:
    """Runs jobs one at a time on its own thread.

    Args:
        after_job: called on the worker after each job (the shell refreshes its toolbar).
        stdout: where the jobs' ``print`` goes (tests); the process's stdout if None.
    """

    def __init__(self, after_job: Callable[[], None], stdout: TextIO | None = None) -> None:
        self._jobs: queue.Queue[_Job | None] = queue.Queue()
        self._thread = threading.Thread(target=self._work, name="expctl-shell-worker")
        self._after_job = after_job
        self._stdout = stdout
        #: what runs now (the line as typed), None when idle
        self.busy: str | None = None
        #: held by the worker for the whole of each job
        self.device_lock = threading.Lock()
        #: Ctrl-C stopped the job that runs now
        self.interrupted = False

    @property
    def idle(self) -> bool:
        """Nothing runs and nothing waits."""
        return self.busy is None and self._jobs.empty()

    @property
    def queued(self) -> int:
        return self._jobs.qsize()

    @property
    def is_current(self) -> bool:
        """Whether the caller runs on the worker thread."""
        return threading.current_thread() is self._thread

    def start(self) -> None:
        self._thread.start()

    def put(self, label: str, run: Callable[[], None]) -> None:
        """Run ``run`` after what is already queued."""
        self._jobs.put(_Job(label, run))

    def finish(self, on_interrupt: Callable[[], None]) -> None:
        """Let queued jobs end, then stop the thread; a Ctrl-C meanwhile calls
        ``on_interrupt`` (as at the prompt)."""
        self._jobs.put(None)
        while self._thread.is_alive():
            try:
                self._thread.join(0.1)
            except KeyboardInterrupt:
                on_interrupt()

    def _work(self) -> None:
        with _printing_to(self._stdout):
            while True:
                job = self._jobs.get()
                if job is None:
                    return
                with self.device_lock:
                    self.busy = job.label
                    self.interrupted = False
                    try:
                        job.run()
                    finally:
                        self.busy = None
                        self._after_job()


@contextlib.contextmanager
def _printing_to(stream: TextIO | None) -> Iterator[None]:
    """``print`` goes to ``stream`` while the worker lives (tests give one).

    Unlike ``contextlib.redirect_stdout`` it gives ``sys.stdout`` back only if it is
    still its own: a worker of an earlier shell ending late must not take the
    output of a later one away (``sys.stdout`` is one for all threads).
    """
    if stream is None:
        yield
        return
    before, sys.stdout = sys.stdout, stream
    try:
        yield
    finally:
        if sys.stdout is stream:
            sys.stdout = before
