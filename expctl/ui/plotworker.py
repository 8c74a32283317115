"""Alignment PNGs drawn on a worker thread, so a plot never delays the next shot.

:class:`BackgroundPlotter` is the alignment log's plotter: calling it puts the scan
(an immutable :class:`~expctl.runlog.alignment.AlignmentScan`, nothing read back from
its file) on a bounded queue and returns a future.  One worker thread, started on the
first scan, draws it with :func:`expctl.ui.plots.plot_alignment` — Pillow straight into
pixels, a few milliseconds a PNG, most of it (zlib) outside the GIL — so the engine
thread barely notices.  (A matplotlib figure cost ~0.2 s of CPU a PNG and ~0.7 s to
import; it needed a worker process, which cost more to start than a campaign's plots
now cost to draw: ADR 16.)  What the worker finished is applied (catalog rows,
warnings) by the alignment log on the engine thread; :meth:`BackgroundPlotter.wait`
lets a command wait for the rest at exit, with progress (ADR 12).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING

from expctl.errors import ExpctlError

if TYPE_CHECKING:
    from expctl.runlog.alignment import AlignmentScan

__all__ = ["MAX_PENDING", "BackgroundPlotter", "PlotBacklogError"]

#: scans waiting to be drawn before new ones are left undrawn
MAX_PENDING = 4096


class PlotBacklogError(ExpctlError):
    """The plot worker is too far behind: this scan is logged but not drawn."""


class BackgroundPlotter:
    """Draws alignment-scan PNGs on one worker thread; the caller never waits.

    Args:
        max_pending: scans queued at most; beyond that a scan is not drawn (its file and
            catalog row are kept) and the call raises :class:`PlotBacklogError`.
        draw: ``draw(scan, png)`` writes one PNG (:func:`expctl.ui.plots.plot_alignment`).
    """

    def __init__(self, max_pending: int = MAX_PENDING,
                 draw: Callable[[AlignmentScan, Path], Path] | None = None) -> None:
        self.max_pending = max_pending
        self._draw = draw
        self._worker: ThreadPoolExecutor | None = None
        self._pending: set[Future[Path]] = set()
        self._lock = threading.Lock()
        self.drawn = 0

    def __call__(self, scan: AlignmentScan, png: Path) -> Future[Path]:
        """Queue ``scan`` to be drawn into ``png``."""
        with self._lock:
            if len(self._pending) >= self.max_pending:
                kept = f"scan file {scan.file.name}" if scan.file else f"scan {scan.id}"
                raise PlotBacklogError(
                    f"the plot worker is {len(self._pending)} scans behind: "
                    f"{png.name} is not drawn ({kept} is kept)")
            future = self._started().submit(self._drawing(), scan, png)
            self._pending.add(future)
        future.add_done_callback(self._done)
        return future

    def _started(self) -> ThreadPoolExecutor:
        if self._worker is None:
            self._worker = ThreadPoolExecutor(1, thread_name_prefix="alignment plots")
        return self._worker

    def _drawing(self) -> Callable[[AlignmentScan, Path], Path]:
        if self._draw is None:
            from expctl.ui.plots import plot_alignment

            self._draw = plot_alignment
        return self._draw

    def _done(self, future: Future[Path]) -> None:
        with self._lock:
            self._pending.discard(future)
            if future.exception() is None:
                self.drawn += 1

    @property
    def pending(self) -> int:
        """Scans queued or being drawn."""
        with self._lock:
            return len(self._pending)

    def wait(self, progress: Callable[[int, int], None] | None = None,
             poll_s: float = 0.02) -> None:
        """Block until every queued PNG is written; ``progress(done, total)`` meanwhile."""
        total = self.pending
        while (left := self.pending) > 0:
            if progress is not None:
                progress(total - left, total)
            time.sleep(poll_s)
        if progress is not None and total:
            progress(total, total)

    def close(self) -> None:
        """Wait for the queued PNGs, then end the worker thread."""
        self.wait()
        worker, self._worker = self._worker, None
        if worker is not None:
            worker.shutdown(wait=True)
