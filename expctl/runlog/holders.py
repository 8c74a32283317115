"""Who holds a file open or locked: so a lock error can name the other process.

SQLite (POSIX byte-range locks) and HDF5 (``flock``) cannot say who holds the
lock they wait for, but Linux lists every lock in ``/proc/locks`` by inode and
pid.  Elsewhere the list is simply empty and messages say less.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["describe_holders", "lock_holders"]

_PROC_LOCKS = Path("/proc/locks")


def lock_holders(*paths: Path) -> list[int]:
    """Pids (other than ours) holding a lock on any of ``paths``, in order, without repeats."""
    wanted = set()
    for path in paths:
        try:
            st = os.stat(path)
        except OSError:
            continue
        wanted.add((os.major(st.st_dev), os.minor(st.st_dev), st.st_ino))
    if not wanted:
        return []
    try:
        lines = _PROC_LOCKS.read_text(encoding="ascii", errors="replace").splitlines()
    except OSError:
        return []
    found: list[int] = []
    for line in lines:
        parts = line.split()
        # "1: POSIX  ADVISORY  WRITE 1234 08:01:5678 0 EOF" ("->" marks a waiter)
        if len(parts) < 6 or parts[1] == "->":
            continue
        try:
            pid = int(parts[4])
            major, minor, inode = parts[5].split(":")
            key = (int(major, 16), int(minor, 16), int(inode))
        except ValueError:
            continue
        if key in wanted and pid != os.getpid() and pid not in found:
            found.append(pid)
    return found


def describe_holders(*paths: Path) -> str:
    """``"process 1234 (expctl run sequences/small.yaml)"``, or ``""`` when unknown."""
    names = []
    for pid in lock_holders(*paths):
        try:
            raw = Path(f"/proc/{pid}/cmdline").read_bytes()
            args = raw.decode(errors="replace").split("\0")
            command = " ".join(" ".join(_short(a) for a in args if a).split())
        except OSError:
            command = ""
        names.append(f"process {pid}" + (f" ({command[:120]})" if command else ""))
    return ", ".join(names)


def _short(arg: str) -> str:
    """The program's name without its folder (``/usr/bin/python3`` -> ``python3``)."""
    return os.path.basename(arg) if arg.startswith("/") and "/bin/" in arg else arg
