"""Faults on demand: ``beamline.faults.inject(kind, target, **options)``.

=========  ==========================  ===============================================
kind       target                      effect (options)
=========  ==========================  ===============================================
stall      a motor                     next move stops short: MotorStallError
                                       (``fraction`` of the way, default 0.5)
timeout    a motor, discrete device,   next command never completes: DeviceTimeoutError
           detector or accelerator     after ``after`` s (default 10)
           parameter
dropout    a detector                  it stops delivering from ``at`` (clock s, default
                                       now): triggers and runs fail with
                                       DetectorDropoutError
beam_loss  (none)                      no beam from ``start`` (clock s, default now) for
                                       ``duration`` s (default 60): BeamLossError where
                                       X-rays are required
refuse     an accelerator parameter    next request refused: RequestRefusedError
                                       (``reason``)
=========  ==========================  ===============================================

One-shot faults (stall, timeout, refuse) apply ``count`` times (default 1), to the
first commands from ``at`` (clock s, default now) on.  ``expctl run --fault`` builds
these calls from a schedule (see ``expctl.beamtime.faults``).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from expctl.clock import Clock
from expctl.errors import BackendError
from sim.physics.source import BeamLoss

__all__ = ["FAULT_KINDS", "SimFaults"]

FAULT_KINDS = ("stall", "timeout", "dropout", "beam_loss", "refuse")
_TARGET_KINDS = {
    "stall": {"motor"},
    "timeout": {"motor", "shutter", "attenuator", "switchable", "mpccd", "accelerator"},
    "dropout": {"mpccd"},
    "refuse": {"accelerator"},
}


class SimFaults:
    """The fault table of one simulated beamline.

    Args:
        kinds: device name -> profile kind, to check targets.
        clock: the beamline clock (an estimator twin's copy gets its own).
        beam_loss: the beam-loss schedule (facility time) injected episodes join.
        facility_offset_s: facility time at clock zero.
    """

    def __init__(self, kinds: dict[str, str], clock: Clock, beam_loss: BeamLoss,
                 facility_offset_s: float) -> None:
        self._kinds = kinds
        self._clock = clock
        self._beam_loss = beam_loss
        self._offset = facility_offset_s
        #: one-shot faults armed: (kind, target, not before, options); devices look at it
        #: before asking :meth:`take` (empty in the common case)
        self.armed: list[tuple[str, str, float, dict[str, Any]]] = []
        self.dropouts: dict[str, float] = {}
        self.listeners: list[Callable[[], None]] = []  # told when a dropout/beam loss is armed

    def inject(self, kind: str, target: str | None = None, **options: Any) -> None:
        """Arm a fault; see the module table for kinds, targets and options."""
        if kind not in FAULT_KINDS:
            raise BackendError(f"unknown fault kind {kind!r}", allowed=", ".join(FAULT_KINDS))
        if kind == "beam_loss":
            start = float(options.get("start", self._clock.now()))
            self._beam_loss.inject(start + self._offset, float(options.get("duration", 60.0)))
            self._notify()
            return
        allowed = sorted(n for n, k in self._kinds.items() if k in _TARGET_KINDS[kind])
        if target not in allowed:
            raise BackendError(f"fault {kind!r} cannot target {target!r}",
                               device=target, allowed=", ".join(allowed))
        if kind == "dropout":
            self.dropouts[target] = float(options.get("at", self._clock.now()))
            self._notify()
            return
        at = float(options.pop("at", -math.inf))
        for _ in range(int(options.pop("count", 1))):
            self.armed.append((kind, target, at, dict(options)))

    def _notify(self) -> None:
        for listener in self.listeners:
            listener()

    def take(self, kind: str, target: str) -> dict[str, Any] | None:
        """Consume the next armed one-shot fault of ``kind`` on ``target``, if any."""
        if not self.armed:  # the common case: asked at every device action
            return None
        now = self._clock.now()
        for i, (k, t, at, opts) in enumerate(self.armed):
            if k == kind and t == target and at <= now:
                del self.armed[i]
                return opts
        return None

    def dropout_time(self, detectors: list[str]) -> tuple[str, float] | None:
        """The earliest dropout among ``detectors``: (name, clock time)."""
        if not self.dropouts:
            return None
        hits = [(t, n) for n, t in self.dropouts.items() if n in detectors]
        if not hits:
            return None
        t, n = min(hits)
        return n, t

    def clear(self) -> None:
        """Disarm every fault and end injected beam-loss episodes now (random ones remain;
        the past stays as it was, for the facility's record)."""
        self.armed.clear()
        self.dropouts.clear()
        self._beam_loss.end_injected(self._clock.now() + self._offset)
