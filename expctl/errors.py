"""One error hierarchy for everything a user or a device can cause.

Every error carries where it came from (file, line, column), what it concerns
(device, field) and what would have been acceptable (allowed range, hint), so
the CLI and the shell can render exactly one readable paragraph instead of a
traceback.  User-caused errors (exit code 2) derive from :class:`UserError`;
failures during execution (exit code 1) from :class:`DeviceError`,
:class:`BackendError` or :class:`DataError`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

__all__ = [
    "AccessError",
    "AggregateError",
    "ArgumentError",
    "BackendError",
    "BeamLossError",
    "ConditionLostError",
    "DataError",
    "DetectorDropoutError",
    "DeviceError",
    "DeviceTimeoutError",
    "DisconnectedError",
    "ExpctlError",
    "IllegalCommand",
    "LimitError",
    "Location",
    "MotorStallError",
    "RequestRefusedError",
    "SequenceError",
    "SignalError",
    "UnitError",
    "UserError",
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
        head = f"{self.location}: " if self.location is not None else ""
        dev = f"{self.device}: " if self.device and self.device not in self.message else ""
        text = f"{head}{dev}{self.message}"
        if self.allowed:
            text += f" (allowed: {self.allowed})"
        if self.hint:
            text += f" {self.hint}" if text.endswith(".") else f". {self.hint}"
        return text

    def __str__(self) -> str:
        return self.paragraph()


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
    the condition is back) instead of applying the step's fault policy.
    """


class BeamLossError(ConditionLostError):
    """The X-ray beam was lost while it was needed."""


class DisconnectedError(ConditionLostError):
    """A device's control-system connection dropped (an IOC restart, a network cut)."""


class RequestRefusedError(DeviceError):
    """The accelerator refused a request (outside its envelope or not now)."""


class BackendError(ExpctlError):
    """A control-system backend is missing, misconfigured or unreachable."""


class DataError(ExpctlError):
    """A run, file or record cannot be found or read."""


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
