"""What the shell's commands look up without moving anything: devices (``wa``), scan
records, signal units, and the logbook they write comments into (through the run log's
own subscriber)."""

from __future__ import annotations

import getpass
import threading
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from expctl.errors import DataError, IllegalCommand, UserError

if TYPE_CHECKING:
    from expctl.session import Session

__all__ = ["file_comment", "no_scan_yet", "scan_row", "signal_units", "where"]


def where(session: Session, device_lock: threading.Lock, engine: Any
          ) -> dict[str, dict[str, Any]]:
    """``wa``'s rows: everything when nothing runs (the worker's lock is free) or the
    engine is paused (its thread waiting); else positions and states only."""
    from expctl.engine import EngineState

    if device_lock.acquire(blocking=False):
        try:
            return session.where()
        finally:
            device_lock.release()
    paused = engine is not None and engine.state is EngineState.PAUSED
    return session.where(passive=not paused)


def no_scan_yet() -> IllegalCommand:
    """The error for cen/pic/plot before any scan."""
    return IllegalCommand("act on the last scan", "without any scan yet",
                          ["ascan", "dscan", "rock"])


def scan_row(data_dir: Path, number: int | None = None) -> dict[str, Any]:
    """A scan record's catalog row: scan ``number``, or the last console scan.

    Read through a read-only catalog, so it works while a command writes one.
    """
    from expctl.runlog import Catalog

    try:
        with Catalog(data_dir, readonly=True) as catalog:
            if number is not None:
                return catalog.scan(number)
            rows = [r for r in catalog.alignments()
                    if r.get("kind", "alignment") != "alignment"
                    and r.get("outcome") not in ("opening", "running")]
    except DataError as err:
        if number is not None:
            raise UserError(err.message, allowed=err.allowed,
                            hint="`runs --scans` lists the scans.") from None
        raise no_scan_yet() from None
    if not rows:
        raise no_scan_yet()
    return rows[-1]


def signal_units(devices: Mapping[str, Any], names: Iterable[str]) -> dict[str, str]:
    """The declared unit of every signal the devices ``names`` read."""
    units: dict[str, str] = {}
    for name in names:
        describe = getattr(devices[name], "describe", None)
        if describe is not None:
            units |= {sig: info.units for sig, info in describe().items()}
    return units


def file_comment(session: Session, text: str) -> dict[str, Any]:
    """File ``text`` in the logbook with the run, scan and step going on now; returns
    what it was filed with (``{"comment": id, "run": …, "scan": …, "step": …}``).

    With the run log attached the comment is published on the session's bus (its
    logbook knows the current run and scan from the events); before that it is
    written by a logbook of its own.
    """
    from expctl.engine.events import CommentAdded

    event = CommentAdded(text, session.clock.now(), getpass.getuser())
    runlog = session.runlog
    if runlog is not None:
        session.bus.publish(event)
        return dict(runlog.logbook.last)
    from expctl.runlog.logbook import Logbook

    logbook = Logbook(session.data_dir)
    logbook.add(event)
    return dict(logbook.last)
