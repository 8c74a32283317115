"""Who may act on a device: users, beamline staff, or only via an accelerator request."""

from __future__ import annotations

from enum import IntEnum

from expctl.errors import AccessError, ArgumentError

__all__ = ["AccessLevel", "check_access"]


class AccessLevel(IntEnum):
    """Ordered access levels; a requester may act on devices at or below its level.

    ``ACCELERATOR`` marks parameters owned by the accelerator: nobody at the
    beamline sets them, everybody may *request* them (SACLA's semi-automatic
    accelerator control).
    """

    USER = 1
    STAFF = 2
    ACCELERATOR = 3

    @classmethod
    def parse(cls, text: str | AccessLevel) -> AccessLevel:
        """Read a profile spelling: ``user``, ``staff``, ``accelerator-request``."""
        if isinstance(text, AccessLevel):
            return text
        key = text.strip().lower().replace("-", "_")
        aliases = {"user": cls.USER, "staff": cls.STAFF, "accelerator": cls.ACCELERATOR,
                   "accelerator_request": cls.ACCELERATOR}
        if key not in aliases:
            raise ArgumentError(f"unknown access level {text!r}",
                                allowed="user, staff, accelerator-request")
        return aliases[key]

    @property
    def label(self) -> str:
        return {1: "user", 2: "staff", 3: "accelerator-request"}[int(self)]


def check_access(device: str, required: AccessLevel, held: AccessLevel, *, verb: str) -> None:
    """Raise :class:`AccessError` unless ``held`` allows ``verb`` on ``device``."""
    if required is AccessLevel.ACCELERATOR and verb != "request":
        raise AccessError(
            f"{device} is an accelerator parameter and cannot be {verb} directly",
            device=device,
            hint=f"Use a request instead, e.g. `request: {{{device}: VALUE}}`.",
        )
    if required is not AccessLevel.ACCELERATOR and required > held:
        raise AccessError(
            f"{verb} {device} needs {required.label} access; this session has {held.label}",
            device=device,
            hint="Ask beamline staff, or start the session with the staff access level.",
        )
