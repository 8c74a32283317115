"""The shipped sequence verbs, one module each, and :func:`standard_verbs`.

A module holds its step's dataclass and a :class:`~expctl.sequence.registry.Verb`
that reads, titles, checks and compiles it.  Adding a verb means writing one
such module and passing ``standard_verbs().with_verbs(MyVerb())`` to
:func:`~expctl.sequence.load.load_sequence`; nothing registers itself on import.
"""

from __future__ import annotations

from expctl.sequence.registry import VerbRegistry
from expctl.sequence.verbs.analyze import AnalyzeStep, AnalyzeVerb
from expctl.sequence.verbs.checkpoint import CheckpointStep, CheckpointVerb
from expctl.sequence.verbs.for_ import ForStep, ForVerb
from expctl.sequence.verbs.if_ import IfStep, IfVerb
from expctl.sequence.verbs.include import IncludeStep, IncludeVerb
from expctl.sequence.verbs.move import MoveStep, MoveVerb
from expctl.sequence.verbs.next_spot import NextSpotStep, NextSpotVerb
from expctl.sequence.verbs.repeat import RepeatStep, RepeatVerb
from expctl.sequence.verbs.request import RequestStep, RequestVerb
from expctl.sequence.verbs.rocking_curve import RockingCurveStep, RockingCurveVerb
from expctl.sequence.verbs.run import RunStep, RunVerb
from expctl.sequence.verbs.scan import ScanStep, ScanVerb
from expctl.sequence.verbs.set import SetStep, SetVerb
from expctl.sequence.verbs.wait import WaitStep, WaitVerb

__all__ = [
    "AnalyzeStep", "CheckpointStep", "ForStep", "IfStep", "IncludeStep", "MoveStep",
    "NextSpotStep", "RepeatStep", "RequestStep", "RockingCurveStep", "RunStep", "ScanStep",
    "SetStep", "WaitStep", "standard_verbs",
]


def standard_verbs() -> VerbRegistry:
    """The verbs every sequence may use (sequences/README.md documents them)."""
    return VerbRegistry([
        MoveVerb(), SetVerb(), RequestVerb(), RunVerb(), ScanVerb(), RockingCurveVerb(),
        NextSpotVerb(), WaitVerb(), CheckpointVerb(), AnalyzeVerb(), RepeatVerb(), ForVerb(),
        IfVerb(), IncludeVerb(),
    ])
