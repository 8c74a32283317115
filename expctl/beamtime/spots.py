"""The sample registry seen from a running session: the engine's spot book, the record of
runs taken at each spot, and the spot count a sequence needs before it starts."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

from expctl.beamtime.samples import SampleRegistry
from expctl.errors import LimitError, Location

__all__ = ["RegistrySpots", "SpotRunRecorder", "spot_shortages", "spots_needed"]


class RegistrySpots:
    """The engine's :class:`~expctl.engine.engine.SpotBook` on the sample registry.

    Args:
        registry: the data directory's sample registry (writable).
        sample_of: grid -> the mounted sample's name (registering one if none is).
        campaign: the campaign id written with each claimed spot.
    """

    def __init__(self, registry: SampleRegistry, sample_of: Callable[[str], str],
                 campaign: str = "") -> None:
        self.registry = registry
        self._sample_of = sample_of
        self.campaign = campaign

    def sample(self, grid: str) -> str | None:
        return self._sample_of(grid)

    def exposed(self, grid: str) -> set[int]:
        return self.registry.used(self._sample_of(grid))

    def destroyed(self, grid: str, index: int) -> bool:
        return self.registry.state(self._sample_of(grid), index) == "destroyed"

    def claim(self, grid: str, index: int, step: str) -> bool:
        return self.registry.claim(self._sample_of(grid), index, campaign=self.campaign,
                                   step=step)


class SpotRunRecorder:
    """Event subscriber: adds every run taken at a registered spot to that spot; a run
    taken with the pump on (its device away from its safe value) destroys the spot.

    Args:
        registry: the sample registry.
        pump: the pump device (profile role ``pump``) and its safe (off) value, if any.
    """

    def __init__(self, registry: SampleRegistry, pump: tuple[str, Any] | None) -> None:
        self.registry = registry
        self.pump = pump
        self._pumped: dict[int, bool] = {}

    def __call__(self, event: Any) -> None:
        from expctl.engine.events import RunStarted, RunStopped

        if isinstance(event, RunStarted):
            pumped = self.pump is not None and event.snapshot.get(self.pump[0]) not in (
                None, self.pump[1])
            self._pumped[event.record.run] = pumped
            spot = event.context.sample_spot
            if pumped and spot and "sample" in spot:  # destroyed from its first shot on
                self.registry.mark(spot["sample"], [int(spot["index"])], "destroyed",
                                   f"pumped in run {event.record.run}")
        elif isinstance(event, RunStopped):
            pumped = self._pumped.pop(event.record.run, False)
            spot = event.context.sample_spot
            if not spot or "sample" not in spot:
                return
            self.registry.add_run(spot["sample"], int(spot["index"]), event.record.run,
                                  event.record.label, event.outcome,
                                  destroyed=pumped and event.record.shots > 0)


def spot_shortages(needed: Mapping[str, tuple[int, Location | None]],
                   fresh: Mapping[str, tuple[str | None, int]]) -> list[LimitError]:
    """A limit error for each grid where the sequence needs more never-exposed spots than
    the mounted sample has left.

    Args:
        needed: grid -> (spots the sequence takes, where its first ``next_spot`` is).
        fresh: grid -> (mounted sample or None, its never-exposed spots).
    """
    out = []
    for grid, (count, where) in needed.items():
        if grid not in fresh or count <= 0:
            continue
        sample, left = fresh[grid]
        if count <= left:
            continue
        on = f"sample {sample!r}" if sample else "a fresh sample"
        out.append(LimitError(
            f"the sequence needs {count} never-exposed spots on grid {grid!r} and {on} "
            f"has {left} left", location=where, allowed=f"at most {left} spots",
            hint="Mount a fresh sample (`expctl sample new NAME`) or take fewer spots "
                 "(e.g. --set spots_per_delay=...)."))
    return out


def spots_needed(outline: Any) -> dict[str, tuple[int, Location | None]]:
    """grid -> (how many spots a checked sequence's ``next_spot`` steps take in all, where
    the first of them is written)."""
    from expctl.sequence.verbs.next_spot import NextSpotStep

    out: dict[str, tuple[int, Location | None]] = {}

    def walk(node: Any) -> None:
        step = node.step
        if isinstance(step, NextSpotStep):
            count, where = out.get(step.grid, (0, step.loc))
            out[step.grid] = (count + math.ceil(node.executions), where)
        for child in node.children:
            walk(child)

    walk(outline)
    return out
