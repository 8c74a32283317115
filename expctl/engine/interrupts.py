"""How the engine's parts tell the interpreter to leave the action they are in.

These never leave the engine: the interpreter catches each of them and acts
(ends the plan, drives the safe state, waits while suspended).
"""

from __future__ import annotations

from expctl.engine.suspenders import CUT_OUTCOME
from expctl.errors import AggregateError, DeviceError, UserError

__all__ = ["RECOVERABLE", "AbortRequested", "StopRequested", "SuspendRequested",
           "WaitInterrupted"]


class StopRequested(Exception):
    """The engine was told to stop: end the plan cleanly."""


class AbortRequested(Exception):
    """The engine was told to abort: close the plan, drive the safe state."""


class WaitInterrupted(Exception):
    """A wait was cut by a command (immediate pause, stop, abort)."""


class SuspendRequested(Exception):
    """A suspender tripped; ``reason`` says which, ``outcome`` what a run it cut is marked."""

    def __init__(self, reason: str, outcome: str = CUT_OUTCOME) -> None:
        super().__init__(reason)
        self.reason = reason
        self.outcome = outcome


#: What an action may raise that the engine acts on (the rest ends the plan).
RECOVERABLE = (SuspendRequested, WaitInterrupted, UserError, AggregateError, DeviceError)
