"""The shipped sequence verbs, one module each, and :func:`standard_verbs`.

A module holds its step's dataclass and a :class:`~expctl.sequence.registry.Verb`
that reads, titles, checks and compiles it.  Adding a verb means writing one
such module and passing ``standard_verbs().with_verbs(MyVerb())`` to
:func:`~expctl.sequence.load.load_sequence`; nothing registers itself on import.
The shipped verbs are imported as a sequence first uses them (:data:`SHIPPED`).
"""

from __future__ import annotations

from expctl.sequence.registry import LazyVerb, VerbRegistry

__all__ = ["SHIPPED", "standard_verbs"]

#: every shipped verb: its keywords, module (in this package) and class (a test keeps the
#: keywords equal to the class's own)
SHIPPED = (
    (("move",), "move", "MoveVerb"),
    (("set", "open", "close"), "set", "SetVerb"),
    (("request",), "request", "RequestVerb"),
    (("run",), "run", "RunVerb"),
    (("scan",), "scan", "ScanVerb"),
    (("rocking_curve",), "rocking_curve", "RockingCurveVerb"),
    (("next_spot",), "next_spot", "NextSpotVerb"),
    (("wait",), "wait", "WaitVerb"),
    (("checkpoint",), "checkpoint", "CheckpointVerb"),
    (("analyze",), "analyze", "AnalyzeVerb"),
    (("repeat",), "repeat", "RepeatVerb"),
    (("for",), "for_", "ForVerb"),
    (("if",), "if_", "IfVerb"),
    (("include",), "include", "IncludeVerb"),
)


def standard_verbs() -> VerbRegistry:
    """The verbs every sequence may use (sequences/README.md documents them)."""
    return VerbRegistry(LazyVerb(words, f"{__name__}.{module}", name)
                        for words, module, name in SHIPPED)
