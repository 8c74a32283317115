"""One error hierarchy for everything a user or a device can cause.

Every error carries where it came from (file, line, column), what it concerns
(device, field) and what would have been acceptable (allowed range, hint), so
the CLI and the shell can render exactly one readable paragraph instead of a
traceback.  User-caused errors (exit code 2) derive from :class:`UserError`;
failures during execution (exit code 1) from :class:`DeviceError`,
:class:`BackendError`, :class:`DataError` or :class:`StorageError`.
"""

from __future__ import annotations

import errno as _errno
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

__all__ = [
    "AccessError",
    "AggregateError",
    "ArgumentError",
    "BackendError",
    "BeamLossError",
    "ConditionLostError",
    "CorruptFileError",
    "DataError",
    "DetectorDropoutError",
    "DeviceError",
    "DeviceTimeoutError",
    "DisconnectedError",
    "DiskFullError",
    "ExpctlError",
    "FileTooLargeError",
    "IllegalCommand",
    "LimitError",
    "Location",
    "MotorStallError",
    "ReadOnlyStorageError",
    "RequestRefusedError",
    "SequenceError",
    "SignalError",
    "StorageError",
    "StorageLockedError",
    "StoragePermissionError",
    "UnitError",
    "UserError",
    "storage_error",
]


@dataclass(frozen=True, slots=True)
class Location:
    """A place in a source file (1-based line and column)."""

    file: str | None = None
    line: int | None = None
    column: int | None = None

    def __str__(self) -> str:
        parts = [self.file or "<input>"]
        if self.line is not None:
            parts.append(str(self.line))
            if self.column is not None:
                parts.append(str(self.column))
        return ":".join(parts)


class ExpctlError(Exception):
    """Root of every error expctl raises on purpose.

    Args:
        message: what went wrong, as a sentence.
        location: where in a sequence file it went wrong, if anywhere.
        device: the device (or field) concerned.
        allowed: what would have been accepted, e.g. ``"-5.0 .. 5.0 mm"``.
        hint: what to do about it (a did-you-mean, a command to run).
    """

    exit_code = 1

    def __init__(
        self,
        message: str,
        *,
        location: Location | None = None,
        device: str | None = None,
        allowed: str | None = None,
        hint: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.location = location
        self.device = device
        self.allowed = allowed
        self.hint = hint

    def paragraph(self) -> str:
        """Render as one paragraph: location, device, message, allowed range, hint."""
        return _sentences(self._statement(), self.hint)

    def _statement(self) -> str:
        """Location, device, message and allowed range: the paragraph before any hint."""
        head = f"{self.location}: " if self.location is not None else ""
        dev = f"{self.device}: " if self.device and self.device not in self.message else ""
        text = f"{head}{dev}{self.message}"
        if self.allowed:
            text += f" (allowed: {self.allowed})"
        return text

    def __str__(self) -> str:
        return self.paragraph()


def _sentences(text: str, *more: str | None) -> str:
    """Join sentences, adding the full stop a sentence before another one lacks."""
    for extra in more:
        if extra:
            text += f" {extra}" if text.endswith(".") else f". {extra}"
    return text


class UserError(ExpctlError):
    """Something the user asked for that cannot be done as asked (exit code 2)."""

    exit_code = 2


class SequenceError(UserError):
    """A sequence file is malformed or refers to something that does not exist."""


class UnitError(UserError, ValueError):
    """A quantity has unknown units or units of the wrong dimension."""


class LimitError(UserError, ValueError):
    """A target lies outside a device's limits."""


class ArgumentError(UserError, ValueError):
    """A function or plan was given an argument it cannot work with (from Python code)."""


class SignalError(UserError, KeyError):
    """A signal that was asked for is not among those read."""


class AccessError(UserError, PermissionError):
    """The requester lacks the access level a device demands."""


class IllegalCommand(UserError):
    """An engine command that the current state does not accept.

    Args:
        command: the refused command.
        state: the state the engine is in.
        allowed: the commands that state accepts.
    """

    def __init__(self, command: str, state: str, allowed: Iterable[str]) -> None:
        allowed = sorted(allowed)
        super().__init__(
            f"cannot {command} while the engine is {state}",
            allowed=", ".join(allowed) if allowed else "none",
        )
        self.command = command
        self.state = state
        self.allowed_commands = tuple(allowed)


class DeviceError(ExpctlError):
    """A device failed to do what it was told."""


class MotorStallError(DeviceError):
    """A motor stopped short of its target."""


class DeviceTimeoutError(DeviceError, TimeoutError):
    """A device did not complete within its timeout."""


class DetectorDropoutError(DeviceError):
    """A detector stopped delivering frames."""


class ConditionLostError(DeviceError):
    """A condition data taking needs is gone for a while (beam, a control-system link).

    With suspenders installed the engine suspends on it (a cut run is retaken once
    the condition is back, marked with ``outcome``) instead of applying the step's
    fault policy.
    """

    outcome = "cut"


class BeamLossError(ConditionLostError):
    """The X-ray beam was lost while it was needed."""

    outcome = "beamloss"


class DisconnectedError(ConditionLostError):
    """A device's control-system connection dropped (an IOC restart, a network cut)."""

    outcome = "disconnected"


class RequestRefusedError(DeviceError):
    """The accelerator refused a request (outside its envelope or not now)."""


class BackendError(ExpctlError):
    """A control-system backend is missing, misconfigured or unreachable."""


class DataError(ExpctlError):
    """A run, file or record cannot be found or read."""


class StorageError(ExpctlError):
    """The data directory cannot be written or read as needed (an environment fault, exit 1).

    Never retried by a step's fault policy: repeating a write to a full disk
    cannot help, and a half-logged run must not be taken again silently.  When
    it stops data taking, the engine says so in :attr:`consequence` (what is
    safe, how to continue), rendered between the cause and the remedy.

    Args:
        message: what could not be done, naming the file and the OS's reason.
        path: the file or directory concerned.
        hint: what to do about the storage itself.
    """

    def __init__(self, message: str, *, path: str | os.PathLike[str] | None = None,
                 hint: str | None = None, device: str | None = None) -> None:
        super().__init__(message, hint=hint, device=device)
        self.path = None if path is None else str(path)
        self.consequence: str | None = None

    def paragraph(self) -> str:
        """Cause, then what was done about it (:attr:`consequence`), then the remedy."""
        return _sentences(self._statement(), self.consequence, self.hint)


class DiskFullError(StorageError):
    """No space left on the device (or the disk quota is exhausted)."""


class FileTooLargeError(StorageError):
    """A file reached the size limit of this process (``ulimit -f``) or file system."""


class StoragePermissionError(StorageError):
    """The operating system refused access to a file or directory (EACCES, EPERM)."""


class ReadOnlyStorageError(StorageError):
    """The file system is mounted read-only."""


class StorageLockedError(StorageError):
    """Another process holds a lock on a file (the catalog, a run file) for too long."""


class CorruptFileError(StorageError):
    """A file exists but cannot be read as what it should be (HDF5, SQLite, journal)."""


_PERMISSIONS = "Check the permissions of {dir} (`ls -ld {dir}`) or choose another --data-dir."
#: errno -> (error class, remedy); the remedy's ``{dir}`` is the directory concerned.
_ERRNO_KINDS: dict[int, tuple[type[StorageError], str]] = {
    _errno.ENOSPC: (DiskFullError, "Free space on the file system holding {dir} "
                                   "(`df -h {dir}` shows it)."),
    _errno.EDQUOT: (DiskFullError, "Your disk quota there is exhausted (`quota -s`); "
                                   "free space or ask for more."),
    _errno.EFBIG: (FileTooLargeError, "The file reached the file-size limit of this process "
                                      "or file system (`ulimit -f` shows the process limit)."),
    _errno.EACCES: (StoragePermissionError, _PERMISSIONS),
    _errno.EPERM: (StoragePermissionError, _PERMISSIONS),
    _errno.EROFS: (ReadOnlyStorageError, "The file system is mounted read-only; choose a "
                                         "writable --data-dir."),
    _errno.ELOOP: (StoragePermissionError, "A symbolic link stands where expctl writes; "
                                           "expctl never writes through links. Remove it."),
}


def storage_error(exc: OSError, doing: str, path: str | os.PathLike[str] | None = None
                  ) -> StorageError:
    """The :class:`StorageError` for an OS error met while ``doing`` something to ``path``.

    Args:
        exc: the OS error (its errno decides the class and the remedy).
        doing: what was being done, as a verb phrase (``"write run file"``).
        path: the file concerned (``exc.filename`` when omitted).
    """
    target = path if path is not None else exc.filename
    code = exc.errno if exc.errno is not None else _errno_in_text(str(exc))
    name = _errno.errorcode.get(code, "") if code is not None else ""
    reason = os.strerror(code) if code is not None else (exc.strerror or str(exc))
    where = f" {target}" if target is not None else ""
    message = f"cannot {doing}{where}: {reason}" + (f" ({name})" if name else "")
    kind, remedy = _ERRNO_KINDS.get(code or -1, (StorageError, ""))
    folder = (os.path.dirname(os.fspath(target)) or ".") if target is not None else "."
    return kind(message, path=target, hint=remedy.format(dir=folder) or None)


def _errno_in_text(text: str) -> int | None:
    """HDF5 reports the OS error inside its message (``errno = 28``) with no errno set."""
    import re

    found = re.search(r"errno = (\d+)", text)
    return int(found.group(1)) if found else None


class AggregateError(ExpctlError):
    """Several errors found together, e.g. every violation in a sequence.

    The exit code is the most severe among the parts: a user error only if all
    parts are user errors.
    """

    def __init__(self, errors: Sequence[ExpctlError], summary: str | None = None) -> None:
        self.errors = tuple(errors)
        n = len(self.errors)
        super().__init__(summary or f"{n} problem{'s' if n != 1 else ''} found")
        self.exit_code = (
            2 if self.errors and all(e.exit_code == 2 for e in self.errors) else 1
        )

    def paragraph(self) -> str:
        return "\n".join([f"{self.message}:"] + [f"  - {e.paragraph()}" for e in self.errors])
