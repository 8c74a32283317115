"""The sample registry seen from a session: which sample its beamline holds, the engine's
spot book, the record of runs taken at each spot, and the spot count a sequence needs."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from expctl.beamtime.samples import SampleInfo, SampleRegistry
from expctl.devices.profile import Profile
from expctl.devices.protocols import Beamline
from expctl.errors import LimitError, Location, UserError

__all__ = ["RegistrySpots", "SampleDesk", "SpotRunRecorder", "pump_of", "spot_shortages",
           "spots_needed"]


class SampleDesk:
    """The samples of one beamline in one data directory: what is mounted where.

    Reads go through a read-only view (they work on a read-only data directory);
    the registry is opened for writing only when something is written.

    Args:
        data_dir: the data directory (its ``samples.sqlite``).
        beamline_no: the beamline number (samples are mounted per beamline and grid).
        beamline: gives the connected beamline (spot grids; told what is mounted).
        notes: where to tell the user about a sample registered for them.
    """

    def __init__(self, data_dir: Path, beamline_no: int, beamline: Callable[[], Beamline],
                 notes: list[str]) -> None:
        self.data_dir = Path(data_dir)
        self.number = beamline_no
        self._beamline = beamline
        self._notes = notes
        self._registry: SampleRegistry | None = None
        self._view: SampleRegistry | None = None

    @property
    def registry(self) -> SampleRegistry:
        """The registry, writable (opened on first use)."""
        if self._registry is None:
            self._registry = SampleRegistry(self.data_dir)
        return self._registry

    def view(self) -> SampleRegistry:
        """The registry for reading."""
        if self._registry is not None:
            return self._registry
        if self._view is None:
            self._view = SampleRegistry(self.data_dir, readonly=True)
        return self._view

    def mounted(self, grid: str, *, create: bool = False) -> str | None:
        """The sample on ``grid`` now; with ``create``, one is registered if none is."""
        name = self.view().mounted(self.number, grid)
        if name is None and create:
            name = self.registry.unique_name(grid)
            self.mount(name, grid=grid, new=True,
                       comment="registered automatically: no sample was mounted")
            self._notes.append(f"no sample was mounted on grid {grid!r}: registered {name!r} "
                               "(`expctl sample new NAME` names the next one)")
        return name

    def mount(self, name: str, *, grid: str | None = None, new: bool = False,
              comment: str = "") -> SampleInfo:
        """Mount ``name`` (registering it first if ``new``) on ``grid`` (the only spot grid
        by default); the beamline is told, so a simulator restores the sample's damage."""
        beamline = self._beamline()
        grids = beamline.spot_grids
        grid = grid or next(iter(grids), "")
        if grid not in grids:
            raise UserError(f"no spot grid {grid!r} on {beamline.profile.name}",
                            allowed=", ".join(grids) or "none")
        if new:
            info = self.registry.new(name, grid, len(grids[grid]), comment, mount_on=self.number)
        else:
            self.registry.set_size(name, len(grids[grid]))
            info = self.registry.mount(self.number, grid, name)
        beamline.mount_sample(grid, name)
        return info

    def tell(self, beamline: Beamline) -> None:
        """Tell a just connected beamline which sample each of its grids holds."""
        view = self.view()
        for grid in beamline.spot_grids:
            name = view.mounted(self.number, grid)
            if name is not None:
                beamline.mount_sample(grid, name)

    def spot_book(self, campaign: str) -> RegistrySpots:
        """The engine's spot book for a campaign (a sample is registered if none is)."""
        return RegistrySpots(self.registry, lambda g: self.mounted(g, create=True) or "",
                             campaign)

    def fresh(self) -> dict[str, tuple[str | None, int]]:
        """grid -> (mounted sample, its never-exposed spots) (a whole grid if none is)."""
        view = self.view()
        out: dict[str, tuple[str | None, int]] = {}
        for grid, spots in self._beamline().spot_grids.items():
            name = view.mounted(self.number, grid)
            out[grid] = (name, len(spots) - (len(view.used(name)) if name else 0))
        return out

    def known_fresh(self, grids: Iterable[str]) -> dict[str, tuple[str | None, int]]:
        """Like :meth:`fresh` without connecting: only mounted samples of known size."""
        view = self.view()
        out: dict[str, tuple[str | None, int]] = {}
        for grid in grids:
            name = view.mounted(self.number, grid)
            info = view.get(name) if name else None
            if info is not None and info.fresh is not None:
                out[grid] = (name, info.fresh)
        return out

    def close(self) -> None:
        for reg in (self._registry, self._view):
            if reg is not None:
                reg.close()
        self._registry = self._view = None


class RegistrySpots:
    """The engine's :class:`~expctl.engine.replay.SpotBook` on the sample registry.

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


def pump_of(profile: Profile) -> tuple[str, Any] | None:
    """The pump device (profile role ``pump``) and its safe value: a run taken with it
    anywhere else destroys its spot."""
    name = profile.roles.pump
    spec = profile.devices.get(name) if name else None
    return (spec.name, spec.safe) if spec is not None else None


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
