"""Ctrl-C at the console: SPEC's for what is typed, bluesky's for a sequence.

A console command (a move, a scan, a count) stops at once: axes stop where they
are, a scan keeps its points.  A ``seq run`` pauses at the next checkpoint; a
second Ctrl-C pauses now (the safe state is driven); a third, once paused,
aborts.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from expctl.errors import IllegalCommand
from expctl.shell.commands import describe_error

if TYPE_CHECKING:
    from expctl.shell.app import Shell

__all__ = ["interrupt"]


def interrupt(sh: Shell) -> None:
    """Ctrl-C while the worker runs a command: stop it, or pause/abort a sequence."""
    from expctl.engine import EngineState as S

    engine = sh.active_engine()
    if engine is None or engine.state is S.IDLE:
        sh.write("nothing to stop: no motion or sequence is running")
        return
    state = engine.state
    try:
        if not sh.sequence_running:
            engine.stop()
            sh.worker.interrupted = True
            sh.write("stopping now (Ctrl-C): motion stopped where it is")
        elif state is S.RUNNING:
            engine.pause()
            sh.write("pause requested at the next checkpoint (Ctrl-C again: pause now)")
        elif state in (S.PAUSING, S.SUSPENDED):
            engine.pause(immediate=True)
            sh.write("pausing now: driving the safe state (Ctrl-C again to abort)")
        elif state is S.PAUSED:
            engine.abort()
            sh.write("aborting once the safe state is reached")
        else:
            sh.write(f"engine is {state.value}: type resume, stop or abort")
    except IllegalCommand as exc:
        sh.write(describe_error(exc))
