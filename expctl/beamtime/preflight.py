"""The pre-flight check: a plan is rehearsed on the simulated twin before anything moves.

The engine runs the plan it is given; refusing a plan whose rehearsal found a
limit or access violation (or, for a sequence, could not finish) is the
session's, through these functions.  A rehearsal the user has already seen (the
CLI's and the shell's dry-run) is reused rather than made again.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from expctl.devices.protocols import Beamline
from expctl.errors import AggregateError, ExpctlError, UserError

if TYPE_CHECKING:
    from expctl.sequence.dryrun import DryRun
    from expctl.sequence.load import LoadedSequence

__all__ = ["preflight_sequence", "refuse_problems"]


def refuse_problems(problems: Iterable[ExpctlError]) -> None:
    """Refuse what a rehearsal found problems in, naming every one (nothing moved)."""
    found = list(problems)
    if found:
        n = len(found)
        raise AggregateError(found, f"{n} problem{'s' if n != 1 else ''} found before any "
                                    "motion")


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
