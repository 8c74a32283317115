"""Step scans in the engine: a scan's points without a round trip through the plan each.

A point of a step scan is a checkpoint, a move, a trigger, a read and, for a recorded
scan, a record of the reading (:class:`~expctl.plans.actions.StepScan`).  Yielded one
by one, each action was a trip through the plan generator and the engine's dispatch,
and each a new action object: a good part of what a point cost on the simulator.
:class:`ScanPoints` does a point in one step while nothing needs the engine's
attention, and does the rest of a point action by action, as the plan would have
yielded them, as soon as something does (a command, a fault, a refused target, a
journaled step, a wall clock), so pause, suspenders, fault policies and journal
transcripts see exactly the actions they saw before.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from expctl.devices.status import jump_to_end
from expctl.engine.interrupts import RECOVERABLE
from expctl.engine.lifecycle import Lifecycle
from expctl.engine.motion import DeviceActions
from expctl.engine.states import EngineState
from expctl.engine.steps import StepStack
from expctl.errors import UserError
from expctl.plans.actions import Action, Move, Read, RecordPoint, StepScan, Trigger

__all__ = ["ScanMove", "ScanPoints"]

RUNNING = EngineState.RUNNING

#: what a point remembers since its checkpoint: its scan and position (the move to
#: redo after a pause), not a Move made at every point
ScanMove = tuple[StepScan, tuple[float, ...]]


class ScanPoints:
    """The interpreter's handling of :class:`StepScan` (a part of the
    :class:`~expctl.engine.interpreter.Interpreter`, which sets what is declared here)."""

    _attention: bool
    _life: Lifecycle
    _steps: StepStack
    _motion: DeviceActions
    _handlers: dict[type, Callable[[Any], Any]]
    _since_checkpoint: list[Action | ScanMove]

    if TYPE_CHECKING:  # the interpreter's
        def _execute_special(self, action: Action) -> Any: ...

        def _attempt(self, action: Action) -> Any: ...

        def _recover(self, action: Action, handler: Callable[[Any], Any],
                     err: Exception) -> Any: ...

    def _one_action(self, action: Action) -> Any:
        """``action`` as if the plan had yielded it."""
        if self._attention or self._steps.in_step:
            return self._execute_special(action)
        return self._attempt(action)

    def _do_scan(self, scan: StepScan) -> tuple[Mapping[str, Any], ...]:
        """Every point of ``scan``; the readings.  (Called outside the engine's fault
        handling: each action's fault policy is applied to that action.)"""
        point, one_action = self._point, self._one_action
        readings = []
        for position in scan.positions:
            reading = point(scan, position)
            readings.append(reading)
            if scan.record:
                one_action(RecordPoint(reading))
        return tuple(readings)

    def _point(self, scan: StepScan, position: tuple[float, ...]) -> Mapping[str, Any]:
        """One point: in one step on a virtual clock while the engine is running and
        needs to look at nothing, a single axis moving within its limits; otherwise, or
        from where that stops being so, action by action."""
        motion = self._motion
        if (not motion.virtual or self._attention or self._steps.in_step
                or self._life.model.state is not RUNNING or len(position) != 1):
            return self._each(scan.point(position))
        since = self._since_checkpoint
        since.clear()  # the checkpoint (running: nothing to halt for)
        target = position[0]
        dev = motion.devices.allowed.get(scan.axes[0])
        if dev is None or type(target) is not float:
            return self._each(scan.point(position)[1:])
        try:
            dev.check_value(target)
        except UserError:  # refused (or collected by a rehearsal) as a Move is
            return self._each(scan.point(position)[1:])
        try:
            status = dev.set(target)
            since.append((scan, position))
            if not jump_to_end((status,), motion.clock):
                motion.wait([status], (dev,))
        except RECOVERABLE as err:
            self._recover(scan.move(position), self._handlers[Move], err)
        trigger, read, handlers = scan.trigger, scan.read, self._handlers
        if trigger is not None:
            if self._attention:
                return self._each((trigger, read))
            handler = handlers[Trigger]
            try:
                handler(trigger)
            except RECOVERABLE as err:
                self._recover(trigger, handler, err)
        if self._attention:
            return self._one_action(read)
        handler = handlers[Read]
        try:
            return handler(read)
        except RECOVERABLE as err:
            return self._recover(read, handler, err)

    def _each(self, actions: tuple[Action, ...]) -> Any:
        result = None
        for action in actions:
            result = self._one_action(action)
        return result
