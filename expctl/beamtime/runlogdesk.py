"""The run log a session writes through, with its alignment plots drawn beside it.

Run files, catalog, scan records, logbook and alignment log
(:func:`expctl.runlog.attach.attach`) are attached once, on first use, to the
session's event bus; the alignment PNGs are drawn on a background thread
(:class:`~expctl.ui.plotworker.BackgroundPlotter`, ADR 16) so a plot never delays
a shot.  Plots that fail are not errors of the run: they become warnings the
command shows at its end.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from expctl.clock import Clock
    from expctl.devices.profile import Profile
    from expctl.engine import EventBus
    from expctl.runlog.attach import RunLogHandle
    from expctl.ui.plotworker import BackgroundPlotter

__all__ = ["RunLogDesk"]


class RunLogDesk:
    """One session's run log and alignment plotter.

    Args:
        bus: the session's event bus (asked for when the log is first attached).
        data_dir: where run files, the catalog and alignment scans go.
        profile: the beamline profile (its smalldata conventions).
        clock: the session's clock (time of plot warnings).
        plots: draw alignment-scan PNGs (``--no-plots``: scan files and rows only).
    """

    def __init__(self, bus: Callable[[], EventBus], data_dir: Path, profile: Profile,
                 clock: Clock, plots: bool = True) -> None:
        self._bus = bus
        self.data_dir = data_dir
        self.profile = profile
        self.clock = clock
        self.plots = plots
        self.handle: RunLogHandle | None = None
        self._plotter: BackgroundPlotter | None = None

    def attach(self) -> RunLogHandle:
        """Subscribe the run writer, catalog and alignment log (once)."""
        if self.handle is None:
            from expctl.runlog.attach import attach
            from expctl.runlog.smalldata import SmallDataConfig

            if self.plots and self._plotter is None:
                from expctl.ui.plotworker import BackgroundPlotter

                self._plotter = BackgroundPlotter()
            self.handle = attach(self._bus(), self.data_dir, alignment_plotter=self._plotter,
                                 smalldata=SmallDataConfig.from_profile(self.profile))
        return self.handle

    @property
    def plots_pending(self) -> int:
        """Alignment PNGs queued or being drawn in the background."""
        return self._plotter.pending if self._plotter is not None else 0

    def finish_plots(self, progress: Callable[[int, int], None] | None = None) -> None:
        """Wait until every alignment PNG queued so far is written (``progress(done,
        total)`` meanwhile); plots that failed become bus warnings."""
        if self.handle is None:
            return
        wait = self._plotter.wait if self._plotter is not None else None
        self._warn(self.handle.alignment.finish(
            (lambda: wait(progress)) if wait is not None else None))

    def close(self) -> None:
        """Close the run log (plots still queued are drawn first) and the plotter."""
        if self.handle is not None:
            self._warn(self.handle.close())
            self.handle = None
        if self._plotter is not None:
            self._plotter.close()
            self._plotter = None

    def _warn(self, failures: list[str]) -> None:
        from expctl.engine.events import SubscriberWarning

        bus = self._bus()
        for text in failures:
            bus.warnings.append(SubscriberWarning("alignment plots", text, "exit",
                                                  self.clock.now()))
