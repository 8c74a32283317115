"""The engine's lifecycle as data: a ``transitions`` machine built from the state table.

States come from :class:`~expctl.engine.states.EngineState`, transitions from
:data:`~expctl.engine.states.TRANSITIONS`; the machine is queued, without
auto-transitions, on a model of its own.  A trigger the current state does not
accept is an :class:`~expctl.errors.IllegalCommand` naming the ones it does.
Every change is handed to ``on_change`` and wakes threads waiting on ``cond``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from transitions import Machine, MachineError

from expctl.engine.states import COMMANDS, TRANSITIONS, EngineState
from expctl.errors import IllegalCommand

__all__ = ["Lifecycle"]


class _Model:
    """The machine's model: holds the state."""

    state: EngineState
    #: added by the machine: fires the named transition
    trigger: Callable[..., bool]


class Lifecycle:
    """One engine's state machine.

    Args:
        on_change: called with (old state, new state, reason) after every transition.
    """

    def __init__(self, on_change: Callable[[EngineState, EngineState, str], None]) -> None:
        self._on_change = on_change
        #: holds the state (``model.state``: one attribute away, for the engine's hot path)
        self.model = _Model()
        #: held while firing; notified after every transition
        self.cond = threading.Condition(threading.RLock())
        self._machine = Machine(
            model=self.model, states=EngineState, initial=EngineState.IDLE,
            transitions=[{"trigger": t, "source": list(src), "dest": dst}
                         for t, src, dst in TRANSITIONS],
            auto_transitions=False, queued=True, send_event=True,
            after_state_change=self._changed,
        )

    @property
    def state(self) -> EngineState:
        return self.model.state

    def allowed_commands(self) -> list[str]:
        """User commands the current state accepts."""
        return sorted(t for t in self._machine.get_triggers(self.state) if t in COMMANDS)

    def fire(self, trigger: str, reason: str = "") -> None:
        """Take the transition ``trigger``; refuse it if the state has none of that name."""
        with self.cond:
            try:
                self.model.trigger(trigger, reason=reason)
            except MachineError:
                name = trigger.replace("_", " ")
                raise IllegalCommand(name, self.state.value, self.allowed_commands()) from None
            self.cond.notify_all()

    def wait_while(self, state: EngineState) -> None:
        """Block until the state is no longer ``state`` (a command from another thread)."""
        with self.cond:
            while self.model.state is state:
                self.cond.wait()

    def _changed(self, event: Any) -> None:
        # transitions passes state names
        self._on_change(EngineState[event.transition.source],
                        EngineState[event.transition.dest], event.kwargs.get("reason", ""))
