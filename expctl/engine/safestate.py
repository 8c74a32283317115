"""The safe state: which actions make the beamline safe, and driving them without a break.

What is safe is the sequence's ``safe_state:`` block plus every device's own
safe value (the profile's ``safe:``).  Driving it is the one thing nothing
interrupts: a KeyboardInterrupt that arrives meanwhile redoes the device it cut
and is handed back to be raised once every device has been driven, and a device
that fails is reported and the others are still driven.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from expctl.devices.protocols import Beamline, Readable, Requestable
from expctl.engine.devices import DeviceTable
from expctl.errors import ExpctlError
from expctl.plans.actions import Action, Request, Set

__all__ = ["SafeDrive", "device_safe_actions", "drive_safe_state"]


def device_safe_actions(beamline: Beamline, declared: tuple[Action, ...]) -> tuple[Action, ...]:
    """Every device's safe value that the ``declared`` actions do not already cover."""
    covered = {getattr(a, "device", None) for a in declared}
    extra: list[Action] = []
    for name, dev in beamline.devices.items():
        value = getattr(dev, "safe_value", None)
        if value is None and beamline.profile is not None:
            spec = beamline.profile.devices.get(name)
            value = spec.safe if spec is not None else None
        if value is None or name in covered:
            continue
        extra.append(Request(name, value) if isinstance(dev, Requestable) else Set(name, value))
    return tuple(extra)


@dataclass
class SafeDrive:
    """What driving the safe state did: how to undo it, what changed, what failed."""

    #: actions that put back what was changed (a resume after a pause drives them)
    undo: list[Set | Request] = field(default_factory=list)
    #: (device, value before, safe value)
    changes: list[tuple[str, Any, Any]] = field(default_factory=list)
    #: one paragraph per device that could not be made safe
    failed: list[str] = field(default_factory=list)
    #: a KeyboardInterrupt that came meanwhile, to raise now that it is done
    held: BaseException | None = None


def drive_safe_state(actions: Iterable[Action], devices: DeviceTable,
                     perform: Callable[[Action], Any],
                     fault: Callable[[Action, ExpctlError], None]) -> SafeDrive:
    """Drive every safe-state action whose device is not at its safe value yet.

    Args:
        actions: the safe state.
        devices: the engine's devices.
        perform: executes one action (the engine's handler, waits shielded).
        fault: told about a device that failed (the others are still driven).
    """
    done = SafeDrive()
    for act in actions:
        name, value = getattr(act, "device", ""), getattr(act, "value", None)
        try:
            dev = devices.device(name)
            before = dev.read()[name] if isinstance(dev, Readable) else None
            if before == value:
                continue
            while True:
                try:
                    perform(act)
                    break
                except KeyboardInterrupt as exc:  # drive it again, raise afterwards
                    done.held = exc
        except ExpctlError as err:
            fault(act, err)
            done.failed.append(err.paragraph())
            continue
        if before is not None:
            done.changes.append((name, before, value))
            done.undo.append(Request(name, before) if isinstance(act, Request)
                             else Set(name, before))
    return done
