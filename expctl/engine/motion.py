"""Device actions: move, set, request, trigger, read, sleep — and waiting for them.

Every target is checked against the device's limits and this engine's access
level before anything moves; a move of several axes moves none of them if one
target is refused (a rehearsal, which goes on after a refusal, moves the
others).  Waiting goes through the clock: on a virtual clock it jumps to the
last completion time; on a wall clock it polls, and a command that must cut
the wait (immediate pause, stop, abort) stops the moving devices.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from operator import call
from typing import Any

from expctl.clock import Clock
from expctl.devices.access import AccessLevel, check_access
from expctl.devices.deferred import merge_readings
from expctl.devices.protocols import Device, Settable, Stoppable
from expctl.devices.status import Status, jump_to_end, wait_all
from expctl.engine.devices import DeviceTable
from expctl.engine.interrupts import WaitInterrupted
from expctl.engine.scanning import device_units
from expctl.errors import AggregateError, ExpctlError, SequenceError, UserError
from expctl.plans.actions import Action, Move, Read, Request, Set, Sleep, Trigger

__all__ = ["DeviceActions"]


@dataclass
class DeviceActions:
    """The handlers of the actions that talk to devices.

    Args:
        devices: the engine's device table.
        clock: the beamline's clock.
        access: the engine's access level (for requests).
        cut: on a wall clock, asked while waiting: must the wait end now?
        remember: told of every device-setting action done (replayed after a pause).
        refuse: given a refused target; raises it (a rehearsal records it and goes on).
        already_refused: axes whose limits a CheckLimits already refused (a rehearsal
            does not report them again at every point; a real run never gets that far).
    """

    devices: DeviceTable
    clock: Clock
    access: AccessLevel
    cut: Callable[[], bool]
    remember: Callable[[Action], None]
    refuse: Callable[[ExpctlError], None]
    already_refused: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        #: the clock jumps (a wait is a jump to its end)
        self.virtual = self.clock.is_virtual
        # what a Trigger / Read of the same devices calls, found once (a step scan
        # repeats one of each at every point)
        self._triggers: dict[tuple[str, ...], tuple[Callable[[int], Status], ...]] = {}
        self._readers: dict[tuple[str, ...], tuple[Callable[[], Mapping[str, Any]], ...]] = {}

    def wait(self, statuses: list[Status], devices: Iterable[Device] = ()) -> None:
        """Wait for statuses; on a wall clock, commands can cut the wait (motion stops)."""
        clock = self.clock
        if self.virtual:
            if not jump_to_end(statuses, clock):  # a callback-driven status on a virtual clock
                wait_all(statuses, clock)
            return
        while True:
            now = clock.now()
            if all(st.is_done(now) for st in statuses):
                break
            if self.cut():
                for dev in devices:
                    if isinstance(dev, Stoppable):
                        dev.stop()
                raise WaitInterrupted()
            pending = next((st for st in statuses if st.pending), None)
            if pending is not None:  # finished by hardware: wake as soon as it is
                pending.wait_real(0.05)
                continue
            ends = [t for st in statuses if (t := st.completion_time()) is not None and t > now]
            clock.sleep_until(min([now + 0.05, *ends]))
        now = clock.now()
        for st in statuses:
            st.result(now)

    def move(self, action: Move) -> None:
        targets = action.targets
        if len(targets) == 1 and not action.relative:  # a step-scan point: one axis
            ((name, target),) = targets.items()
            dev = self.devices.allowed.get(name)
            if dev is not None and (type(target) is float or type(target) is int):
                try:
                    dev.check_value(target)
                except UserError:
                    pass  # reported below, as for several axes
                else:
                    status = dev.set(target)
                    self.remember(action)
                    if not (self.virtual and jump_to_end((status,), self.clock)):
                        self.wait([status], (dev,))
                    return
        planned: list[tuple[Settable, float]] = []
        errors: list[ExpctlError] = []
        for name, value in targets.items():
            try:
                if action.relative:
                    axis = self.devices.movable(name)
                    value = device_units(self.devices, name, value)
                    target, dev = axis.position + value, axis
                else:
                    dev = self.devices.settable(name, "moved")
                    target = device_units(self.devices, name, value)
                dev.check_value(target)
                planned.append((dev, target))
            except UserError as err:
                errors.append(err)
        errors = [e for e in errors if e.device not in self.already_refused]
        if errors:  # before anything moves
            self.refuse(errors[0] if len(errors) == 1 else AggregateError(errors))
        statuses = [dev.set(target) for dev, target in planned]
        self.remember(Move({d.name: t for d, t in planned}) if action.relative else action)
        self.wait(statuses, [d for d, _ in planned])

    def set(self, action: Set) -> None:
        dev = self.devices.settable(action.device, "set")
        value = device_units(self.devices, action.device, action.value)
        dev.check_value(value)
        status = dev.set(value)
        self.remember(action)
        self.wait([status], [dev])

    def request(self, action: Request) -> None:
        info = self.devices.info(action.device)
        param = info.requestable
        if param is None:
            raise SequenceError(f"{action.device} is not an accelerator parameter",
                                device=action.device, hint="Use set or move instead.")
        check_access(action.device, param.access, self.access, verb="request")
        value = device_units(self.devices, action.device, action.value)
        param.check_value(value)
        status = param.request(value, self.access)
        self.remember(action)
        self.wait([status])

    def trigger(self, action: Trigger) -> None:
        key = action.devices
        if type(key) is not tuple:
            key = tuple(key)
        triggers = self._triggers.get(key)
        if triggers is None:
            infos = [self.devices.info(name) for name in key]
            triggers = self._triggers[key] = tuple(
                info.triggerable.trigger for info in infos if info.triggerable is not None)
        shots = action.shots
        statuses = []  # (a loop, not a comprehension: no function made per point)
        for trigger in triggers:
            statuses.append(trigger(shots))
        if not (self.virtual and jump_to_end(statuses, self.clock)):
            self.wait(statuses)

    def read(self, action: Read) -> Mapping[str, Any]:
        """Every device's reading as one mapping; deferred readings stay deferred (a plan
        that never looks at a detector's values never has them computed)."""
        key = action.devices
        if type(key) is not tuple:
            key = tuple(key)
        readers = self._readers.get(key)
        if readers is None:
            readers = self._readers[key] = tuple(self._reader(name) for name in key)
        return merge_readings(list(map(call, readers)))

    def _reader(self, name: str) -> Callable[[], Mapping[str, Any]]:
        readable = self.devices.info(name).readable
        if readable is None:
            raise SequenceError(f"{name} cannot be read", device=name)
        return readable.read

    def sleep(self, action: Sleep) -> None:
        now = self.clock.now()
        self.wait([Status("sleep", now, now + action.seconds)])
