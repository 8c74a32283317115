"""Fault schedules for rehearsing beamtime trouble: ``--fault beam_loss@120s+30s``.

Grammar (one fault per ``--fault``; times are quantities, a bare number is seconds)::

    KIND@TIME[+DURATION][:TARGET][,OPTION=VALUE...]

=========  =================  ==========================================================
KIND       TARGET             what happens TIME after the first plan starts
=========  =================  ==========================================================
beam_loss  (none)             no beam for DURATION (default 60 s)
stall      a motor            its next move stops short (``fraction=0.5`` of the way)
timeout    a device           its next command never completes (fails ``after=10s``)
dropout    a detector         it stops delivering frames
refuse     an accel. param.   the accelerator refuses its next request (``reason=...``)
=========  =================  ==========================================================

``count=N`` arms a one-shot fault (stall, timeout, refuse) N times.  Examples:
``beam_loss@2min+45s``, ``stall@300s:theta``, ``timeout@10min:mpccd,after=5s``,
``refuse@0:pump_delay,reason=chicane at its limit``.

Parsing happens here (the CLI and session layer); the backend applies the faults
through its ``faults.inject`` (simulated beamlines only), so a real control system
never sees them.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import field
from typing import Any

from expctl.engine.events import EventBus, StateChanged
from expctl.errors import ExpctlError, UnitError, UserError
from expctl.records import record
from expctl.units import convert, parse_quantity

__all__ = ["FAULT_GRAMMAR", "FaultSpec", "arm_faults", "arm_when_started", "check_faults",
           "parse_fault"]

FAULT_GRAMMAR = "KIND@TIME[+DURATION][:TARGET][,OPTION=VALUE...]"
_KINDS = {"beam_loss": False, "stall": True, "timeout": True, "dropout": True, "refuse": True}
_OPTIONS = {"stall": {"fraction", "count"}, "timeout": {"after", "count"},
            "refuse": {"reason", "count"}, "dropout": set(), "beam_loss": set()}
_TIME_OPTIONS = {"after"}
_SPEC = re.compile(r"^(?P<kind>[a-z_]+)@(?P<at>[^+:,]+)(?:\+(?P<dur>[^:,]+))?"
                   r"(?::(?P<target>[^,]+))?(?P<opts>(?:,[^,]*)*)$")


@record
class FaultSpec:
    """One scheduled fault: ``kind`` at ``at`` seconds after the first plan starts."""

    text: str
    kind: str
    at: float
    duration: float | None = None
    target: str | None = None
    options: dict[str, Any] = field(default_factory=dict)

    def inject_args(self, start: float) -> tuple[str, str | None, dict[str, Any]]:
        """``(kind, target, options)`` for ``beamline.faults.inject`` with clock zero ``start``."""
        when = start + self.at
        if self.kind == "beam_loss":
            return "beam_loss", None, {"start": when, "duration": self.duration or 60.0}
        if self.kind == "dropout":
            return "dropout", self.target, {"at": when}
        return self.kind, self.target, {**self.options, "at": when}


def _seconds(text: str, what: str, spec: str) -> float:
    try:
        q = parse_quantity(text.strip())
        value = convert(q.value, q.unit, "s") if q.unit else q.value
    except UnitError as exc:
        raise _error(spec, f"{what} {text.strip()!r}: {exc.message}") from None
    if value < 0:
        raise _error(spec, f"{what} must not be negative")
    return value


def _error(spec: str, message: str) -> UserError:
    return UserError(f"--fault {spec}: {message}",
                     allowed=FAULT_GRAMMAR,
                     hint="E.g. --fault beam_loss@120s+30s or --fault stall@300s:theta.")


def parse_fault(text: str) -> FaultSpec:
    """Read one ``--fault`` value; a user error (exit 2) naming what is wrong."""
    m = _SPEC.match(text.strip())
    if m is None:
        raise _error(text, "not a fault schedule")
    kind = m["kind"]
    if kind not in _KINDS:
        raise UserError(f"--fault {text}: unknown fault kind {kind!r}",
                        allowed=", ".join(_KINDS))
    target = m["target"].strip() if m["target"] else None
    if _KINDS[kind] and not target:
        raise _error(text, f"{kind} needs a device: {kind}@TIME:DEVICE")
    if not _KINDS[kind] and target:
        raise _error(text, f"{kind} takes no device")
    if m["dur"] is not None and kind != "beam_loss":
        raise _error(text, "+DURATION is for beam_loss only")
    options: dict[str, Any] = {}
    for item in filter(None, (m["opts"] or "").split(",")):
        name, sep, value = item.partition("=")
        name = name.strip()
        if not sep or name not in _OPTIONS[kind]:
            raise _error(text, f"{kind} has no option {item.strip()!r} "
                               f"(options: {', '.join(sorted(_OPTIONS[kind])) or 'none'})")
        options[name] = _option(name, value.strip(), text)
    duration = _seconds(m["dur"], "DURATION", text) if m["dur"] is not None else None
    if duration == 0:
        raise _error(text, "DURATION must be positive")
    return FaultSpec(text.strip(), kind, _seconds(m["at"], "TIME", text), duration, target,
                     options)


def _option(name: str, value: str, spec: str) -> Any:
    if name in _TIME_OPTIONS:
        return _seconds(value, name, spec)
    if name == "count":
        if not value.isdigit() or int(value) < 1:
            raise _error(spec, f"count must be a whole number >= 1, got {value!r}")
        return int(value)
    if name == "fraction":
        try:
            fraction = float(value)
        except ValueError:
            fraction = -1.0
        if not 0.0 <= fraction < 1.0:
            raise _error(spec, f"fraction must be in 0 .. 1, got {value!r}")
        return fraction
    return value


def check_faults(specs: Iterable[FaultSpec], beamline: Any) -> None:
    """Refuse faults the backend cannot inject (before anything moves), as user errors.

    They are armed on a throwaway twin, which checks targets the way the real
    injection will; a beamline without fault injection refuses them all.
    """
    specs = list(specs)
    if not specs:
        return
    faults = getattr(beamline, "faults", None)
    if faults is None:
        raise UserError("--fault: this beamline cannot inject faults (simulators only)",
                        device=beamline.profile.name)
    twin = beamline.estimator_copy()
    for spec in specs:
        kind, target, options = spec.inject_args(twin.clock.now())
        try:
            twin.faults.inject(kind, target, **options)
        except ExpctlError as exc:
            raise UserError(f"--fault {spec.text}: {exc.message}", device=exc.device,
                            allowed=exc.allowed) from None
    twin.close()


def arm_faults(specs: Iterable[FaultSpec], beamline: Any, start: float) -> None:
    """Inject every fault with its time counted from clock reading ``start``."""
    for spec in specs:
        kind, target, options = spec.inject_args(start)
        beamline.faults.inject(kind, target, **options)


def arm_when_started(bus: EventBus, specs: Iterable[FaultSpec],
                     beamline: Callable[[], Any]) -> None:
    """Arm ``specs`` on ``beamline()`` when the first plan starts on ``bus`` (the fault
    times count from then)."""
    armed: list[bool] = []
    faults = tuple(specs)

    def arm(event: object) -> None:
        if not armed and isinstance(event, StateChanged) and event.new == "running":
            armed.append(True)
            connected = beamline()
            arm_faults(faults, connected, connected.clock.now())

    bus.subscribe(arm)
