"""Alignment PNGs drawn in a worker process, so a plot never delays the next shot.

matplotlib needs ~0.1 s of CPU per PNG and holds the GIL while it draws; on the
engine thread that was most of a campaign's wall time.  :class:`BackgroundPlotter`
is the alignment log's plotter: calling it only puts two paths (the scan file the
log has just closed, the PNG to write) on a bounded queue and returns a future.
One worker process, started on the first scan, reads the scan back from its file
and draws it with a figure it keeps (:class:`~expctl.ui.plots.AlignmentFigure`),
on the other core.  What the worker finished is applied (catalog rows, warnings)
by the alignment log on the engine thread; :meth:`BackgroundPlotter.wait` lets a
command wait for the rest at exit, with progress (ADR 12).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

from expctl.errors import ExpctlError

if TYPE_CHECKING:
    from expctl.runlog.alignment import AlignmentScan
    from expctl.ui.plots import AlignmentFigure

__all__ = ["MAX_PENDING", "BackgroundPlotter", "PlotBacklogError"]

#: scans waiting to be drawn before new ones are left undrawn (two paths each)
MAX_PENDING = 4096


class PlotBacklogError(ExpctlError):
    """The plot worker is too far behind: this scan is logged but not drawn."""


class BackgroundPlotter:
    """Draws alignment-scan PNGs in one worker process; the caller never waits.

    Args:
        max_pending: scans queued at most; beyond that a scan is not drawn (its file and
            catalog row are kept) and the call raises :class:`PlotBacklogError`.
    """

    def __init__(self, max_pending: int = MAX_PENDING) -> None:
        self.max_pending = max_pending
        self._executor: ProcessPoolExecutor | None = None
        self._pending: set[Future[Path]] = set()
        self._lock = threading.Lock()
        self.drawn = 0

    def __call__(self, scan: AlignmentScan, png: Path) -> Future[Path]:
        """Queue ``scan`` (read back from its file by the worker) to be drawn into ``png``."""
        source = scan.file
        if source is None:
            raise ExpctlError(f"scan {scan.id} has no file to draw it from")
        with self._lock:
            if len(self._pending) >= self.max_pending:
                raise PlotBacklogError(
                    f"the plot worker is {len(self._pending)} scans behind: "
                    f"{png.name} is not drawn (scan file {source.name} is kept)")
            future = self._pool().submit(_draw, str(source), str(png))
            self._pending.add(future)
        future.add_done_callback(self._done)
        return future

    def _pool(self) -> ProcessPoolExecutor:
        if self._executor is None:  # spawn: no fork of a process with threads
            import multiprocessing

            self._executor = ProcessPoolExecutor(
                1, mp_context=multiprocessing.get_context("spawn"), initializer=_ignore_sigint)
        return self._executor

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
             poll_s: float = 0.1) -> None:
        """Block until every queued PNG is written; ``progress(done, total)`` meanwhile."""
        total = self.pending
        while (left := self.pending) > 0:
            if progress is not None:
                progress(total - left, total)
            time.sleep(poll_s)
        if progress is not None and total:
            progress(total, total)

    def close(self) -> None:
        """Wait for the queued PNGs, then end the worker process."""
        self.wait()
        if self._executor is not None:
            self._executor.shutdown(wait=True)
            self._executor = None


def _ignore_sigint() -> None:
    """(In the worker process.) Ctrl-C at the terminal reaches the whole process group:
    it is the CLI's to handle (pause), the plots go on."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)


#: the worker process's figure, built on its first scan and redrawn for every other
_figure: list[AlignmentFigure] = []


def _draw(source: str, png: str) -> Path:
    """(In the worker process.) Read the scan back from its file and draw it."""
    from expctl.runlog.alignment import read_alignment
    from expctl.ui.plots import AlignmentFigure

    if not _figure:
        _figure.append(AlignmentFigure())
    return _figure[0].draw(read_alignment(Path(source)), Path(png))


def describe_failure(future: Future[Any]) -> str:
    """A plot failure as one line (the worker's exception text)."""
    exc = future.exception()
    if isinstance(exc, ExpctlError):
        return exc.paragraph()
    return f"{type(exc).__name__}: {exc}"
