"""The garbage collector while a plan runs: the heap from before it is left alone.

A step scan keeps a reading per point, so the young generations fill and the
collector runs every few dozen points; each full collection then visits every
object of the process (modules, numpy, the session) although none of them
becomes garbage because of the plan.  :func:`heap_frozen` moves what exists when
the plan starts into the permanent generation (:func:`gc.freeze`) and back
after (:func:`gc.unfreeze`): collections visit only what the plan made.  Cycles
that were already garbage wait until the plan ends (ADR 20).
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["heap_frozen"]


@contextmanager
def heap_frozen() -> Iterator[None]:
    """Freeze the heap for the block, unless something else has frozen it (a plan inside
    a plan, a rehearsal during a run, an application that froze it before forking):
    then it is left as it is, and not unfrozen after."""
    if gc.get_freeze_count():
        yield
        return
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()
