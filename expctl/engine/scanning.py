"""Recorded scans, limits checked up front, device units, and a plan's clean-up.

The handlers of the actions a scan plan yields besides device actions: the
whole scan's targets checked against the limits before the first move
(:class:`CheckLimits`), the scan's record opened, its points and its end
published (:class:`~expctl.engine.scans.ScanBook`), the units of devices, and
the clean-up a plan registers (a relative scan's way back), run whatever ends it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from expctl.clock import Clock
from expctl.engine.devices import DeviceTable
from expctl.engine.events import EventBus, RunContext
from expctl.engine.interrupts import WaitInterrupted
from expctl.engine.scans import ScanBook, limit_problems
from expctl.errors import AggregateError, ExpctlError
from expctl.plans.actions import (
    Action,
    CheckLimits,
    CloseScan,
    Finally,
    FinallyDone,
    OpenScan,
    RecordPoint,
    Units,
)
from expctl.units import in_units

__all__ = ["Cleanups", "ScanActions", "device_units"]


def device_units(devices: DeviceTable, name: str, value: Any) -> Any:
    """A target given as a quantity (``"20 mdeg"``, ``Quantity``) in the device's units."""
    if type(value) is float or type(value) is int:
        return value
    return in_units(value, str(getattr(devices.device(name), "units", "") or ""))


@dataclass
class ScanActions:
    """The handlers of CheckLimits, OpenScan, RecordPoint, CloseScan and Units.

    Args:
        devices: the engine's device table.
        scans: the record of the scan open.
        bus: where the scan's events go.
        clock: the beamline's clock.
        run_context: what a scan opened now records of where the plan is.
        refuse_limits: given the problems of a CheckLimits; raises them (a rehearsal
            records them, and its moves do not report those axes again).
    """

    devices: DeviceTable
    scans: ScanBook
    bus: EventBus
    clock: Clock
    run_context: Callable[[str], RunContext]
    refuse_limits: Callable[[ExpctlError], None]

    def check_limits(self, action: CheckLimits) -> None:
        def check(name: str, value: float) -> None:
            self.devices.settable(name, "moved").check_value(value)

        problems = limit_problems(
            {name: [device_units(self.devices, name, v) for v in values]
             for name, values in action.targets.items()}, check)
        if problems:
            self.refuse_limits(problems[0] if len(problems) == 1 else AggregateError(
                problems, f"{len(problems)} axes would leave their limits; nothing moved"))

    def open_scan(self, action: OpenScan) -> int:
        units: dict[str, str] = {}
        for name in (*action.axes, *action.detectors):
            readable = self.devices.info(name).readable
            if readable is not None:
                units.update({sig: info.units for sig, info in readable.describe().items()})
        opened = self.scans.begin(action, self.clock.now(), units, self.run_context(""))
        self.bus.publish(opened)
        return opened.number

    def record_point(self, action: RecordPoint) -> None:
        self.bus.publish(self.scans.point(action, self.clock.now()))

    def close_scan(self, action: CloseScan) -> None:
        self.end("completed")

    def end(self, outcome: str) -> None:
        """Close the scan still open (its points are kept) with the plan's outcome."""
        closed = self.scans.end(outcome, self.clock.now())
        if closed is not None:
            self.bus.publish(closed)

    def units(self, action: Units) -> dict[str, str]:
        return {name: str(getattr(self.devices.device(name), "units", "") or "")
                for name in action.devices}


@dataclass
class Cleanups:
    """The clean-up actions a plan registered (:class:`Finally`), innermost last."""

    frames: list[tuple[Action, ...]] = field(default_factory=list)

    def push(self, action: Finally) -> None:
        self.frames.append(tuple(action.actions))

    def pop(self, action: FinallyDone) -> None:
        if self.frames:
            self.frames.pop()

    def run(self, perform: Callable[[Action], Any],
            fault: Callable[[Action, ExpctlError], None]) -> None:
        """Run them, innermost first, whatever ended the plan; a further stop or abort cuts
        it short, and a device that fails is reported as a fault, not raised over the
        plan's own outcome."""
        frames, self.frames = self.frames, []
        try:
            for actions in reversed(frames):
                for act in actions:
                    try:
                        perform(act)
                    except ExpctlError as err:
                        fault(act, err)
        except WaitInterrupted:
            pass
