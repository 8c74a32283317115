"""Handing out sample spots: never one that anything (journal, registry) knows as exposed.

The spots a campaign took are in its journal; the spots every campaign, shell
and session took are in the sample registry (:class:`SpotBook`), which has the
last word: a spot is claimed there *before* the stage moves to it, and a claim
another session won is skipped.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from expctl.clock import Clock
from expctl.devices.protocols import SpotGrid
from expctl.engine.events import EventBus, SpotConsumed
from expctl.engine.replay import JournalLike, SpotBook
from expctl.errors import LimitError, SequenceError

__all__ = ["SpotTaker", "spot_context"]


class SpotTaker:
    """Takes never-exposed spots for one plan (remembering what it has seen used).

    Args:
        grids: the beamline's spot grids.
        journal: the campaign's journal (its consumed spots), if any.
        book: the sample registry, if any.
        bus: where :class:`SpotConsumed` goes.
        clock: the beamline's clock.
    """

    def __init__(self, grids: Mapping[str, SpotGrid], journal: JournalLike | None,
                 book: SpotBook | None, bus: EventBus, clock: Clock) -> None:
        self.grids = grids
        self.journal = journal
        self.book = book
        self.bus = bus
        self.clock = clock
        self._used: dict[str, set[int]] = {}

    def grid(self, name: str) -> SpotGrid:
        try:
            return self.grids[name]
        except KeyError:
            raise SequenceError(f"no spot grid called {name!r}", device=name,
                                allowed=", ".join(self.grids) or "none") from None

    def take(self, name: str, step: str) -> tuple[int, float, float]:
        """The next never-exposed spot of grid ``name``, claimed for ``step``: its index and
        stage position."""
        grid = self.grid(name)
        used = self._used.get(name)
        if used is None:
            used = set(self.journal.consumed_spots(name)) if self.journal else set()
            if self.book is not None:
                used |= self.book.exposed(name)
            self._used[name] = used
        while True:  # the registry has the last word: another session may have taken it
            index = next((i for i in range(len(grid)) if i not in used), None)
            if index is None:
                sample = self.book.sample(name) if self.book is not None else None
                on = f"sample {sample!r} on {name}" if sample else name
                raise LimitError(f"no never-exposed spot left on {on} (all {len(grid)} used)",
                                 device=name,
                                 hint="Mount a fresh sample (`expctl sample new NAME`) and "
                                      "resume or start again.")
            used.add(index)
            if self.book is None or self.book.claim(name, index, step):
                break
        x, y = grid.position(index)
        self.bus.publish(SpotConsumed(name, index, (x, y), self.clock.now()))
        return index, x, y


def spot_context(book: SpotBook | None, grid: str, index: int, x: float,
                 y: float) -> Mapping[str, Any]:
    """What runs at this spot record of it (``sample`` when the registry names one)."""
    spot: dict[str, Any] = {"grid": grid, "index": index, "x": x, "y": y}
    sample = book.sample(grid) if book is not None else None
    if sample is not None:
        spot["sample"] = sample
    return spot
