"""Procedures: whole experiments built from stubs, with step paths the journal can resume by.

:func:`pump_probe` is the canonical procedure of DESIGN.md (14 steps); each
sample spot is one step ``delay[i]/spot[j]``, so a crash loses at most the
spot in progress, which resume replaces with a fresh one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from expctl.devices.profile import Profile
from expctl.devices.protocols import RunRecord
from expctl.errors import BackendError
from expctl.plans.actions import Plan
from expctl.plans.stubs import (
    align_to_peak,
    close_shutter,
    mv,
    next_spot,
    open_shutter,
    put,
    request,
    step,
    take_run,
)
from expctl.units import Quantity

__all__ = ["DelayPoint", "PumpProbeSettings", "SpotRecord", "delay_scan", "pump_probe"]


@dataclass(frozen=True, slots=True)
class PumpProbeSettings:
    """Device names and values of the pump–probe procedure.

    :meth:`from_profile` takes the names from a profile's ``roles:``; the
    defaults are profile ``bl3``'s names, for plans built without a profile.
    """

    grid: str = "sample"
    theta: str = "theta"
    shutter: str = "xray_shutter"
    pump: str = "pump"
    pump_delay: str = "pump_delay"
    pd_gain: str = "pd_gain"
    attenuator: str = "attenuator"
    weak_gain: str = "high"
    strong_gain: str = "low"
    attenuator_in: float = 200.0
    attenuator_out: float = 0.0
    rock_span: float = 0.01
    rock_points: int = 41
    rock_signal: str = "mpccd.roi0"
    rock_i0: str | None = "pd_i0"
    rock_read: tuple[str, ...] = ("mpccd", "pd_i0")

    @classmethod
    def from_profile(cls, profile: Profile, **values: Any) -> PumpProbeSettings:
        """Device names from ``profile``'s roles (and first DAQ detector); ``values`` win.

        Raises:
            BackendError: the profile names no device for a role the procedure needs.
        """
        roles = profile.roles
        if not roles.delays:
            raise BackendError(f"profile {profile.name} names no device for the role 'delays'",
                               hint="Add `roles: {delays: [DEVICE]}` to the profile.")
        i0 = roles.require("i0")
        names: dict[str, Any] = {
            "theta": roles.require("theta"), "shutter": roles.require("shutter"),
            "pump": roles.require("pump"), "pump_delay": roles.delays[0],
            "pd_gain": roles.require("pd_gain"), "attenuator": roles.require("attenuator"),
            "rock_i0": i0}
        if profile.daq.detectors:
            detector = profile.daq.detectors[0]
            names |= {"rock_signal": f"{detector}.roi0", "rock_read": (detector, i0)}
        return cls(**(names | values))


@dataclass(frozen=True, slots=True)
class SpotRecord:
    """One spot of a pump–probe campaign: where, the alignment, and its two runs."""

    delay: float
    spot: tuple[int, float, float]
    peak: Any
    reference: RunRecord
    pumped: RunRecord


def _one_spot(delay: float, reference_shots: int, s: PumpProbeSettings) -> Plan:
    spot = yield from next_spot(s.grid)                                    # 1
    yield from request(s.pump, "off")                                      # 2
    yield from put(s.pd_gain, s.weak_gain)                                 # 3
    yield from put(s.attenuator, s.attenuator_in)                          # 4
    peak = yield from align_to_peak(                                       # 5 + 6
        s.theta, s.rock_span, s.rock_points, signal=s.rock_signal, read=s.rock_read,
        i0=s.rock_i0, name="rock")
    reference = yield from take_run(reference_shots, "reference")          # 7
    yield from request(s.pump, "on")                                       # 8
    yield from put(s.pd_gain, s.strong_gain)                               # 9
    yield from put(s.attenuator, s.attenuator_out)                         # 10
    pumped = yield from take_run(1, "pumped")                              # 11
    return SpotRecord(delay, tuple(spot), peak, reference, pumped)


def pump_probe(delays: Sequence[float], spots_per_delay: int = 5, reference_shots: int = 300,
               settings: PumpProbeSettings | None = None) -> Plan:
    """Single-shot pump–probe: for each delay, for each of N fresh spots, align then shoot.

    The X-ray shutter is opened first and closed at the end (both steps of
    their own); the pump is requested off again at the end.

    Args:
        delays: pump–probe delays in ps, requested from the accelerator (step 13).
        spots_per_delay: fresh spots per delay (step 12).
        reference_shots: shots of each unpumped reference run (step 7).
        settings: device names and values; ``bl3`` defaults when omitted.

    Returns:
        One :class:`SpotRecord` per spot, in order.
    """
    s = settings or PumpProbeSettings()
    records: list[SpotRecord] = []
    yield from step("prepare", "open the X-ray shutter", open_shutter(s.shutter))
    for i, delay in enumerate(delays):                                     # 14
        def per_delay(i: int = i, delay: float = float(delay)) -> Plan:
            yield from request(s.pump_delay, delay)                        # 13
            for j in range(spots_per_delay):                               # 12
                rec = yield from step(f"delay[{i}]/spot[{j}]", f"spot {j + 1}",
                                      _one_spot(delay, reference_shots, s),
                                      {"delay": delay, "i_delay": i, "i_spot": j})
                records.append(rec)
        yield from step(f"delay[{i}]", f"delay {float(delay):g} ps", per_delay(),
                        {"delay": float(delay), "i_delay": i},
                        scan={"delay": Quantity(float(delay), "ps")}, scan_step=i)
    yield from step("finish", "pump off, shutter closed", _finish(s))
    return records


def _finish(s: PumpProbeSettings) -> Plan:
    yield from request(s.pump, "off")
    yield from close_shutter(s.shutter)


@dataclass(frozen=True, slots=True)
class DelayPoint:
    """One point of a delay scan: the delay and the run taken there."""

    delay: float
    run: RunRecord


def delay_scan(delays: Sequence[float], shots: int, *, device: str = "delay",
               requested: bool = False, label: str = "delay_scan") -> Plan:
    """One run per delay: move the split-delay axis (or request the accelerator's delay).

    Args:
        delays: delays in the device's units (ps).
        shots: shots per run.
        device: the delay device (``delay`` pseudo-axis, or ``pump_delay``).
        requested: request the value (accelerator parameter) instead of moving.
        label: run label.
    """
    points: list[DelayPoint] = []
    for i, delay in enumerate(delays):
        def body(delay: float = float(delay)) -> Plan:
            if requested:
                yield from request(device, delay)
            else:
                yield from mv({device: delay})
            return (yield from take_run(shots, label))
        run = yield from step(f"delay[{i}]", f"delay {float(delay):g}", body(),
                              {"delay": float(delay), "i_delay": i},
                              scan={device: float(delay)}, scan_step=i)
        points.append(DelayPoint(float(delay), run))
    return points
