"""The one exception the facility API raises: ``dbpy.APIError`` (also ``stpy.APIError``)."""

from __future__ import annotations

from expctl.errors import DataError

__all__ = ["APIError"]


class APIError(DataError):
    """A run, tag, equipment or detector the facility does not have.

    User scripts catch ``dbpy.APIError`` and ``stpy.APIError`` to poll for runs
    that have not started yet, so both names are this one class; it is also an
    :class:`~expctl.errors.ExpctlError`, so the CLI renders it as one paragraph.
    """
