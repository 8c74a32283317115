"""Duration estimate and pre-flight check: run the plan on the beamline's simulated twin.

The same interpreter as a real run executes the plan against
``beamline.estimator_copy()`` on a virtual clock, so data-dependent steps
(move to the fitted peak) follow simulated data, and every limit and access
violation is collected (with the YAML line of its step when known) instead
of stopping at the first.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from expctl.devices.access import AccessLevel
from expctl.devices.protocols import Beamline
from expctl.engine.engine import Engine
from expctl.engine.events import (
    EngineEvent,
    EventBus,
    RunContext,
    RunStopped,
    ShotBlockTaken,
    StepFinished,
    StepStarted,
)
from expctl.errors import AggregateError, ExpctlError
from expctl.plans.actions import Action, Plan

__all__ = ["Estimate", "StepTime", "estimate"]


@dataclass(frozen=True, slots=True)
class StepTime:
    """Beamline seconds one step took in the rehearsal."""

    path: str
    label: str
    seconds: float


@dataclass(frozen=True)
class Estimate:
    """What a rehearsal found: duration, per-step times, runs, shots, violations, results."""

    total_s: float
    per_step: tuple[StepTime, ...]
    runs: int
    shots: int
    violations: tuple[ExpctlError, ...]
    results: dict[str, Any] = field(default_factory=dict)
    data_bytes: int = 0
    error: ExpctlError | None = None

    @property
    def ok(self) -> bool:
        """True when nothing would be refused and the rehearsal ran to its end."""
        return not self.violations and self.error is None

    def describe(self) -> str:
        """``12.3 s of beamline time, 2 runs, 60 shots; ok`` or the problems, one per line."""
        runs, shots = self.runs, self.shots
        head = (f"{self.total_s:.1f} s of beamline time, {runs} run{'s' if runs != 1 else ''}, "
                f"{shots} shot{'s' if shots != 1 else ''}")
        problems = [e.paragraph() for e in self.violations]
        if self.error is not None:
            problems.append(f"stopped: {self.error.paragraph()}")
        return head + ("; ok" if not problems else ":\n" + "\n".join(f"  - {p}"
                                                                      for p in problems))


class _Rehearsal(Engine):
    """An engine that collects what it must refuse (limits, access) and goes on, so one
    rehearsal finds every violation; a multi-axis move with a refused target still
    moves the other axes, so the rest of the plan sees where they went."""

    def __init__(self, beamline: Beamline, **options: Any) -> None:
        super().__init__(beamline, **options)
        self.violations: list[ExpctlError] = []

    def _refuse_limits(self, err: ExpctlError) -> None:
        self._motion.already_refused.update(
            e.device for e in (err.errors if isinstance(err, AggregateError) else (err,))
            if e.device)
        raise err

    def _refuse(self, err: ExpctlError) -> None:
        if err.exit_code != 2:
            raise err
        self._steps.locate(err)
        self.violations.extend(err.errors if isinstance(err, AggregateError) else (err,))


class _Tally:
    """Collects step times, runs, shots and data volume from the rehearsal's events."""

    def __init__(self) -> None:
        self.open: dict[str, tuple[str, float]] = {}
        self.steps: list[StepTime] = []
        self.runs = 0
        self.shots = 0
        self.bytes = 0

    def __call__(self, event: EngineEvent) -> None:
        if isinstance(event, StepStarted):
            self.open[event.path] = (event.label, event.time)
        elif isinstance(event, StepFinished):
            label, t0 = self.open.pop(event.path, ("", event.time))
            self.steps.append(StepTime(event.path, label, event.time - t0))
        elif isinstance(event, ShotBlockTaken):
            self.shots += len(event.block)
            self.bytes += sum(int(getattr(a, "nbytes", 0)) for a in event.block.data.values())
        elif isinstance(event, RunStopped) and event.outcome == "completed":
            self.runs += 1


def estimate(plan_factory: Callable[[], Plan], beamline: Beamline, *,
             access: AccessLevel = AccessLevel.USER, context: RunContext | None = None,
             safe_state: Iterable[Action] = (),
             subscribers: Iterable[Callable[[EngineEvent], None]] = ()) -> Estimate:
    """Rehearse ``plan_factory()`` on a simulated twin of ``beamline``; nothing real moves.

    Args:
        plan_factory: makes a fresh plan (the rehearsal consumes one).
        beamline: the beamline to rehearse on (its ``estimator_copy()`` is used).
        access: the access level the real run will have.
        context: the run context the real run will have.
        safe_state: the sequence's declared safe state.
        subscribers: more consumers of the rehearsal's events (e.g. data-quality checks).
    """
    twin = beamline.estimator_copy()
    bus = EventBus()
    tally = _Tally()
    bus.subscribe(tally)
    for subscriber in subscribers:
        bus.subscribe(subscriber)
    engine = _Rehearsal(twin, bus=bus, access=access, safe_state=safe_state)
    t0 = twin.clock.now()
    error: ExpctlError | None = None
    try:
        engine.run(plan_factory(), context)
    except ExpctlError as err:
        error = err
    finally:
        twin.close()
    return Estimate(twin.clock.now() - t0, tuple(tally.steps), tally.runs, tally.shots,
                    tuple(engine.violations), dict(engine.results), tally.bytes, error)
