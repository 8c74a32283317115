"""The one error analysis raises for input it cannot work with."""

from __future__ import annotations

from expctl.errors import UserError

__all__ = ["AnalysisError", "I0Error"]


class AnalysisError(UserError, ValueError):
    """Input an analysis function cannot use: empty, NaN, wrong shape, bad option.

    A ``ValueError`` too, so numeric code that already catches ``ValueError``
    keeps working; a ``UserError`` so the CLI renders it as one paragraph.
    Data that is merely poor (no peak, peak at the edge) is *not* an error: it
    comes back as flags on the result, so a sequence can react to it.
    """


class I0Error(AnalysisError):
    """The I0 monitor reads NaN, zero, negative or infinite charge: usually no beam.

    ``problem`` is the finding alone (``"i0 has 3 non-positive or infinite
    values"``); the message adds the Python remedy. Callers that know a better
    remedy for their users (the rocking-curve step: the shutter, ``i0_window:``
    in YAML) use ``problem`` with their own hint.
    """

    def __init__(self, problem: str, remedy: str | None = None) -> None:
        super().__init__(f"{problem}; {remedy}" if remedy else problem)
        self.problem = problem
