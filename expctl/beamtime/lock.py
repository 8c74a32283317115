"""One controller per beamline: an exclusive lock in the data directory, holder named.

``<data_dir>/locks/bl<N>.lock`` is held with ``flock`` by the one process that
drives beamline N (``expctl run``, ``resume``, the shell while it moves devices).
The kernel releases a ``flock`` when its process dies, even by ``kill -9``, so a
lock can never stay held by a dead process; the file's content only *describes*
the holder (pid, host, user, what it runs, campaign, since when) for the refusal
message.  A description found when the lock is free was left by a holder that
ended without releasing (a crash): it is reported and replaced, never trusted.

Read-only commands (``runs``, ``show``, ``devices``, ``reduce``, ``validate``,
``--dry-run``) never take it.  The lock is per data directory: controllers that
write to different data directories do not see each other (see ADR 0005).
"""

from __future__ import annotations

import contextlib
import fcntl
import getpass
import json
import os
import time
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

from expctl.errors import DataError, UserError
from expctl.records import record

__all__ = ["BeamlineLock", "ControllerBusyError", "LockHolder", "lock_path"]


def lock_path(data_dir: Path, beamline: int) -> Path:
    """``<data_dir>/locks/bl<N>.lock``: every profile of beamline N shares it."""
    return Path(data_dir) / "locks" / f"bl{beamline}.lock"


@record
class LockHolder:
    """Who controls a beamline: what the lock file says about its holder."""

    pid: int
    host: str
    user: str
    purpose: str
    since: float
    profile: str = ""
    campaign: str | None = None

    def describe(self) -> str:
        """``pid 4242 on hutch-pc (user alice) running `expctl run …` since 14:03:12 …``."""
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(self.since))
        campaign = f", campaign {self.campaign}" if self.campaign else ""
        return (f"pid {self.pid} on {self.host} (user {self.user}) running `{self.purpose}`"
                f"{campaign}, since {when}")

    @classmethod
    def parse(cls, text: str) -> LockHolder | None:
        """The holder a lock file describes; ``None`` if empty or unreadable."""
        try:
            data: Any = json.loads(text)
            return cls(**{k: data[k] for k in ("pid", "host", "user", "purpose", "since")},
                       profile=str(data.get("profile", "")), campaign=data.get("campaign"))
        except (ValueError, TypeError, KeyError):
            return None


class ControllerBusyError(UserError):
    """Another process controls the beamline (exit code 2: try again when it is done)."""


class BeamlineLock:
    """The exclusive control lock of one beamline in one data directory.

    Args:
        data_dir: the data directory.
        beamline: the beamline number (the profile's ``beamline``).
        profile: the profile name, recorded for the holder description.
    """

    def __init__(self, data_dir: Path, beamline: int, profile: str = "") -> None:
        self.path = lock_path(data_dir, beamline)
        self.beamline = beamline
        self.profile = profile
        self._fd: int | None = None
        self.holder_info: LockHolder | None = None

    @property
    def held(self) -> bool:
        """True while this object holds the lock."""
        return self._fd is not None

    def acquire(self, purpose: str, campaign: str | None = None) -> LockHolder | None:
        """Take control or raise :class:`ControllerBusyError` naming the holder.

        Returns:
            the description a previous holder left without releasing (it crashed or
            was killed), so the caller can say it took over; else ``None``.
        """
        if self._fd is not None:
            return None
        fd = self._open()
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            text = _read(fd)
            os.close(fd)
            holder = LockHolder.parse(text)
            who = holder.describe() if holder else "a process that is just starting"
            raise ControllerBusyError(
                f"beamline {self.beamline} is controlled by {who}", device=f"bl{self.beamline}",
                hint="Wait until it ends, or stop it there; read-only commands (runs, show, "
                     "devices, reduce, validate, --dry-run) work meanwhile.") from None
        stale = LockHolder.parse(_read(fd))
        self._fd = fd
        self.holder_info = LockHolder(os.getpid(), _host(), _user(), purpose,
                                      time.time(), self.profile, campaign)
        self._describe()
        return stale

    def update(self, *, campaign: str | None = None, purpose: str | None = None) -> None:
        """Record what the holder is doing now (a campaign id once it has one)."""
        if self._fd is None or self.holder_info is None:
            return
        self.holder_info = replace(self.holder_info, campaign=campaign or
                                   self.holder_info.campaign,
                                   purpose=purpose or self.holder_info.purpose)
        self._describe()

    def release(self) -> None:
        """Give control back (the description is cleared first, so none is left stale)."""
        fd, self._fd = self._fd, None
        if fd is None:
            return
        with contextlib.suppress(OSError):
            os.ftruncate(fd, 0)
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)
        self.holder_info = None

    def holder(self) -> LockHolder | None:
        """Who holds the lock, from its description, without touching the lock itself (so a
        look never makes a starting controller fail).  A description left by a process of
        this host that no longer exists is stale: ``None``."""
        if self._fd is not None:
            return self.holder_info
        try:
            holder = LockHolder.parse(self.path.read_text(encoding="utf-8"))
        except OSError:
            return None
        if holder is not None and holder.host == _host() \
                and not _alive(holder.pid):
            return None
        return holder

    def _open(self) -> int:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            return os.open(self.path, os.O_RDWR | os.O_CREAT, 0o664)  # close-on-exec
        except OSError as exc:
            raise DataError(f"cannot take control of beamline {self.beamline}: "
                            f"{self.path}: {exc.strerror or exc}",
                            hint="Controlling needs a writable data directory (--data-dir); "
                                 "read-only commands do not.") from None

    def _describe(self) -> None:
        """Write the holder's description.  Not fsynced: other processes read it from the
        page cache, which a crash of this one leaves intact, and a power cut that loses it
        also frees the ``flock`` — a missing description is then only a missing note."""
        fd, holder = self._fd, self.holder_info
        if fd is None or holder is None:
            return
        data = json.dumps(asdict(holder)).encode() + b"\n"
        os.ftruncate(fd, 0)
        os.pwrite(fd, data, 0)

    def __enter__(self) -> BeamlineLock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def _read(fd: int) -> str:
    try:
        return os.pread(fd, 4096, 0).decode("utf-8", "replace")
    except OSError:
        return ""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, belongs to someone else
        return True
    return True


def _host() -> str:
    """This host's name (``gethostname``, without importing :mod:`socket`)."""
    return os.uname().nodename


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return str(os.getuid())
