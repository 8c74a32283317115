"""The pre-flight check: a plan is rehearsed on the simulated twin before anything moves.

The engine runs the plan it is given; refusing a plan whose rehearsal found a
limit or access violation (or, for a sequence, could not finish) is the
session's, through these functions.  A rehearsal the user has already seen (the
CLI's and the shell's dry-run) is reused rather than made again.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from types import GeneratorType
from typing import TYPE_CHECKING

from expctl.devices.access import AccessLevel
from expctl.devices.protocols import Beamline
from expctl.engine.estimate import Estimate, estimate
from expctl.errors import AggregateError, ArgumentError, ExpctlError, UserError
from expctl.plans.actions import Plan

if TYPE_CHECKING:
    from expctl.sequence.dryrun import DryRun
    from expctl.sequence.load import LoadedSequence

__all__ = ["preflight_sequence", "refuse_problems", "rehearse_plan"]


def refuse_problems(problems: Iterable[ExpctlError]) -> None:
    """Refuse what a rehearsal found problems in, naming every one (nothing moved)."""
    found = list(problems)
    if found:
        n = len(found)
        raise AggregateError(found, f"{n} problem{'s' if n != 1 else ''} found before any "
                                    "motion")


def rehearse_plan(plan: Callable[[], Plan], beamline: Beamline,
                  access: AccessLevel) -> Estimate:
    """Rehearse a Python plan on ``beamline``'s twin: how long it takes and every limit and
    access problem, with nothing moving.

    Args:
        plan: a function that makes the plan (``lambda: rel_scan(...)``): the rehearsal
            uses one plan up, the real run needs a fresh one.

    Raises:
        ArgumentError: ``plan`` is a plan already made (a generator), not a function.
    """
    if isinstance(plan, GeneratorType) or not callable(plan):
        raise ArgumentError(
            "rehearse needs a function that makes the plan, not a plan already made",
            hint="Write session.rehearse(lambda: my_plan(...)); the real run then needs "
                 "its own plan, e.g. session.engine.run(my_plan(...)), or "
                 "session.run_plan(lambda: my_plan(...)), which rehearses it first.")
    return estimate(plan, beamline, access=access)


def preflight_sequence(loaded: LoadedSequence, beamline: Beamline,
                       rehearsal: DryRun | None = None) -> DryRun:
    """Refuse a sequence whose rehearsal found limit or access violations or could not
    finish (a fitted value beyond a limit, an analysis that fails): what the CLI refuses
    a sequence for.  ``rehearsal``: its dry-run already made; one is made otherwise.

    Raises:
        UserError: ``rehearsal`` is of another sequence.
        AggregateError: the problems found.
    """
    from expctl.sequence.dryrun import dry_run

    if rehearsal is None:
        rehearsal = dry_run(loaded, beamline)
    elif rehearsal.loaded is not loaded:
        raise UserError(f"the rehearsal given is of {rehearsal.loaded.path}, not of "
                        f"{loaded.path}", hint="Pass the dry-run of this sequence.")
    refuse_problems([*rehearsal.violations, *([rehearsal.error] if rehearsal.error else [])])
    return rehearsal
