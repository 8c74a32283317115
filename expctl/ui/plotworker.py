"""Alignment PNGs drawn in a worker process, so a plot never delays the next shot.

matplotlib needs ~0.1 s of CPU per PNG and holds the GIL while it draws; on the
engine thread that was most of a campaign's wall time.  :class:`BackgroundPlotter`
is the alignment log's plotter: calling it only puts two paths (the scan file the
log has just closed, the PNG to write) on a bounded queue and returns a future.
One worker process, started on the first scan, reads the scan back from its file
and draws it with a figure it keeps (:class:`~expctl.ui.plots.AlignmentFigure`),
on the other core.  The worker is a plain ``python -m expctl.ui.plotworker``
subprocess spoken to in JSON lines, not a multiprocessing ``spawn`` child: spawn
re-runs the caller's ``__main__`` in the child, so a user's script without an
``if __name__ == "__main__"`` guard would run its campaign twice.  What the worker
finished is applied (catalog rows, warnings) by the alignment log on the engine
thread; :meth:`BackgroundPlotter.wait` lets a command wait for the rest at exit, with
progress (ADR 12).
"""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from expctl.errors import ExpctlError

if TYPE_CHECKING:
    from expctl.runlog.alignment import AlignmentScan
    from expctl.ui.plots import AlignmentFigure

__all__ = ["MAX_PENDING", "BackgroundPlotter", "PlotBacklogError", "PlotError"]

#: scans waiting to be drawn before new ones are left undrawn (two paths each)
MAX_PENDING = 4096


class PlotBacklogError(ExpctlError):
    """The plot worker is too far behind: this scan is logged but not drawn."""


class PlotError(ExpctlError):
    """The worker could not draw a scan (its message is the worker's exception text)."""


class BackgroundPlotter:
    """Draws alignment-scan PNGs in one worker process; the caller never waits.

    Args:
        max_pending: scans queued at most; beyond that a scan is not drawn (its file and
            catalog row are kept) and the call raises :class:`PlotBacklogError`.
    """

    def __init__(self, max_pending: int = MAX_PENDING) -> None:
        self.max_pending = max_pending
        self._worker: subprocess.Popen[str] | None = None
        self._requests: IO[str] | None = None
        self._reader: threading.Thread | None = None
        self._futures: dict[int, Future[Path]] = {}
        self._ids = itertools.count()
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
            future: Future[Path] = Future()
            key = next(self._ids)
            self._futures[key] = future
            self._pending.add(future)
            requests = self._started()
            try:
                requests.write(json.dumps([key, str(source), str(png)]) + "\n")
                requests.flush()
            except OSError as exc:  # the worker is gone: the reader fails what is left
                self._futures.pop(key, None)
                future.set_exception(PlotError(f"the plot worker stopped: {exc}"))
        future.add_done_callback(self._done)
        return future

    def _started(self) -> IO[str]:
        """The worker's requests pipe (the worker started on first use, with a thread
        reading its answers)."""
        if self._requests is None:
            here = str(Path(__file__).resolve().parents[2])  # this expctl, wherever it is
            path = os.pathsep.join(p for p in (here, os.environ.get("PYTHONPATH")) if p)
            worker = subprocess.Popen(
                [sys.executable, "-m", "expctl.ui.plotworker"], stdin=subprocess.PIPE,
                stdout=subprocess.PIPE, text=True, bufsize=1,
                env={**os.environ, "PYTHONPATH": path})
            self._worker, self._requests = worker, worker.stdin
            self._reader = threading.Thread(target=self._read, args=(worker.stdout,),
                                            name="plot worker answers", daemon=True)
            self._reader.start()
        assert self._requests is not None  # noqa: S101 (Popen with stdin=PIPE)
        return self._requests

    def _read(self, answers: IO[str]) -> None:
        """(Reader thread.) Resolve each future as the worker answers; fail the rest if it
        ends."""
        with answers:
            for line in answers:
                key, png, error = json.loads(line)
                with self._lock:
                    future = self._futures.pop(key, None)
                if future is None:
                    continue
                if error is None:
                    future.set_result(Path(png))
                else:
                    future.set_exception(PlotError(error))
        with self._lock:
            left, self._futures = list(self._futures.values()), {}
        for future in left:
            future.set_exception(PlotError("the plot worker stopped before drawing this scan"))

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
        worker, requests, reader = self._worker, self._requests, self._reader
        self._worker = self._requests = self._reader = None
        if worker is not None and requests is not None and reader is not None:
            requests.close()  # the worker ends at the end of its input
            worker.wait()
            reader.join()


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
    return _describe(future.exception())


def _describe(exc: BaseException | None) -> str:
    if isinstance(exc, ExpctlError):
        return exc.paragraph()
    return f"{type(exc).__name__}: {exc}"


def serve(requests: IO[str], answers: IO[str]) -> None:
    """(The worker process.) Draw each ``[id, scan file, png]`` line of ``requests``;
    answer ``[id, png, None]`` or ``[id, None, failure]``.  Ctrl-C at the terminal
    reaches the whole process group: it is the CLI's to handle (pause), the plots go on."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    for line in requests:
        key, source, png = json.loads(line)
        try:
            answer = [key, str(_draw(source, png)), None]
        except Exception as exc:  # every failure is the parent's to report
            answer = [key, None, _describe(exc)]
        answers.write(json.dumps(answer) + "\n")
        answers.flush()


if __name__ == "__main__":
    serve(sys.stdin, sys.stdout)
