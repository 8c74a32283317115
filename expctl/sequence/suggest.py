"""Did-you-mean suggestions for names, shared by every check that names a choice."""

from __future__ import annotations

import difflib
from collections.abc import Iterable

__all__ = ["did_you_mean"]


def did_you_mean(word: str, choices: Iterable[str]) -> str | None:
    """``"Did you mean 'theta'?"`` for the closest choice, or None.

    Close spellings first (difflib); otherwise a unique choice that starts with
    ``word`` (``spots`` -> ``spots_per_delay``).
    """
    pool = sorted(set(choices))
    close = difflib.get_close_matches(word, pool, n=1, cutoff=0.6)
    if not close and word:
        close = [c for c in pool if c.startswith(word)]
        close = close if len(close) == 1 else []
    return f"Did you mean {close[0]!r}?" if close else None
