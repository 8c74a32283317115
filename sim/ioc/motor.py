"""An axis (motor or pseudo-axis) served as a motor record.

The fields a motor-record client uses behave as on a real IOC: a put to ``VAL``
echoes the target, clears ``DMOV`` and completes (put-completion) when the move
has ended; ``STOP`` and ``SPMG`` stop it; a target outside the soft limits
``HLM``/``LLM`` sets ``LVIO`` and is not moved (the put still completes, as the
record does); ``DISP = 1`` refuses puts.  ``RBV``/``DRBV``/``MOVN``/``DMOV`` follow
the simulated trajectory (see :meth:`MotorRecord.refresh`).
"""

from __future__ import annotations

import asyncio
import math
from typing import TYPE_CHECKING, Any

from caproto import SkipWrite
from caproto.server import PVGroup, pvproperty

from expctl.devices.pseudo import LinearPseudoAxis
from expctl.errors import DeviceError, LimitError
from expctl.units import format_quantity
from sim.ioc.channels import ErrorPVs, PutFailDouble, post

if TYPE_CHECKING:
    from expctl.devices.profile import DeviceSpec
    from sim.ioc.server import SimIOC

__all__ = ["MotorRecord", "in_motion"]

#: Readback deadband (``RDBD``) and step size (``MRES``) when the profile gives no ``tolerance``.
DEFAULT_TOLERANCE = 1e-6


def in_motion(device: Any, now: float) -> bool:
    """Whether the axis' trajectory (or any of a pseudo-axis' real axes) is still moving."""
    if isinstance(device, LinearPseudoAxis):
        return any(in_motion(axis, now) for axis, _, _ in device.components.values())
    return bool(device.command.end > now)


class MotorRecord(PVGroup):
    """One axis at ``<prefix>`` (``BL3:THETA``, ``BL3:THETA.RBV`` …)."""

    val = pvproperty(name="", value=0.0, record="motor", dtype=PutFailDouble, precision=6,
                     doc="motor record of a simulated axis")

    def __init__(self, prefix: str, *, ioc: SimIOC, device: Any, spec: DeviceSpec) -> None:
        super().__init__(prefix)
        self.ioc = ioc
        self.device = device
        self.spec = spec
        self.errors = ErrorPVs(prefix)
        self.pvdb.update(self.errors.pvdb)
        self._busy = False
        self._stopped = asyncio.Event()

    @property
    def fields(self) -> Any:
        return self.val.field_inst

    async def start(self) -> None:
        """Fill the record's fields from the profile and the axis' state."""
        f, spec, dev = self.fields, self.spec, self.device
        lim = spec.limits
        high, low = (lim.high, lim.low) if math.isfinite(lim.high - lim.low) else (0.0, 0.0)
        velocity = float(getattr(dev, "velocity", 0.0) or 0.0)
        accel = float(getattr(dev, "acceleration", 0.0) or 0.0)
        tolerance = float(spec.options.get("tolerance", DEFAULT_TOLERANCE))
        for field, value in ((f.engineering_units, spec.units),
                             (f.description, (spec.description or spec.name)[:40]),
                             (f.user_high_limit, high), (f.user_low_limit, low),
                             (f.dial_high_limit, high), (f.dial_low_limit, low),
                             (f.velocity, velocity),
                             (f.seconds_to_velocity, velocity / accel if accel else 0.0),
                             (f.retry_deadband, tolerance), (f.motor_step_size, tolerance)):
            await field.write(value)
        await self.val.write(dev.position, verify_value=False)
        await f.dial_desired_value.write(dev.position)
        await self.refresh()

    async def refresh(self) -> None:
        """Post the readback and motion flags (called by the IOC's scan loop and after moves)."""
        f, dev = self.fields, self.device
        now = self.ioc.clock.now()
        pos = float(dev.position)
        moving = in_motion(dev, now)
        await post(f.user_readback_value, pos)
        await post(f.dial_readback_value, pos)
        await post(f.motor_is_moving, int(moving))
        await post(f.done_moving_to_value, int(not (moving or self._busy)))
        lim = self.spec.limits
        await post(f.user_high_limit_switch, int(pos >= lim.high))
        await post(f.user_low_limit_switch, int(pos <= lim.low))

    @val.putter
    async def val(self, instance: Any, value: float) -> None:
        await self.move(float(value))
        raise SkipWrite()

    async def move(self, target: float) -> None:
        """What a put to VAL does; returns when the move has ended (put-completion)."""
        f, dev, name = self.fields, self.device, self.spec.name
        units = self.spec.units
        if f.disable_putfield.value:
            raise await self.errors.refuse(DeviceError(
                f"{name} is disabled (DISP = 1): the IOC refuses moves", device=name))
        await self.ioc.faults.hold_if_ignored(name)
        if f.stop_pause_move_go.value in ("Stop", "Pause"):
            await self.val.write(target, verify_value=False)
            await self.errors.report(DeviceError(
                f"{name} did not move: motion is disabled (SPMG = "
                f"{f.stop_pause_move_go.value})", device=name))
            return
        low, high = f.user_low_limit.value, f.user_high_limit.value
        outside = high > low and not low <= target <= high
        try:
            dev.check_value(target)
        except LimitError:
            outside = True
        if outside:
            await post(f.limit_violation, 1)
            await self.errors.report(DeviceError(
                f"{name} did not move to {format_quantity(target, units)}: outside the soft "
                f"limits {low:g} .. {high:g} {units} (HLM/LLM), LVIO set", device=name))
            return
        await post(f.limit_violation, 0)
        await self.errors.report(None)
        await self.val.write(target, verify_value=False)
        await f.dial_desired_value.write(target)
        self._busy = True
        self._stopped.clear()
        try:
            status = dev.set(target)
            await self.refresh()
            error = await self.ioc.finish(status, cancel=self._stopped)
        finally:
            self._busy = False
            await self.refresh()
            self.ioc.autosave.changed(name, float(dev.position))
        if error is not None:
            raise await self.errors.refuse(error)

    def stop(self) -> None:
        """Stop now (``STOP``, ``SPMG = Stop``); a pending put completes at once."""
        self.device.stop()
        self._stopped.set()

    @val.fields.stop.putter
    async def _stop_put(fields: Any, instance: Any, value: int) -> int:
        if value:
            fields.parent.group.stop()
        return 0

    @val.fields.stop_pause_move_go.putter
    async def _spmg_put(fields: Any, instance: Any, value: Any) -> Any:
        if value in ("Stop", "Pause", 0, 1):
            fields.parent.group.stop()
        return value
