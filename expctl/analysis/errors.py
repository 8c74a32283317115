"""The one error analysis raises for input it cannot work with."""

from __future__ import annotations

from expctl.errors import UserError

__all__ = ["AnalysisError"]


class AnalysisError(UserError, ValueError):
    """Input an analysis function cannot use: empty, NaN, wrong shape, bad option.

    A ``ValueError`` too, so numeric code that already catches ``ValueError``
    keeps working; a ``UserError`` so the CLI renders it as one paragraph.
    Data that is merely poor (no peak, peak at the edge) is *not* an error: it
    comes back as flags on the result, so a sequence can react to it.
    """
