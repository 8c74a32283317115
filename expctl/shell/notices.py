"""What the console says about engine events no command prints itself.

A pause's report and the way to go on, the safe state reached, a suspension and
why (it resumes by itself), a fault and the policy applied, a run of a console
command cut and retaken.  A sequence's own runs and results are told by
:class:`expctl.ui.progress.EventLines`, so they are left out here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from expctl.shell.app import Shell

__all__ = ["Notices"]


class Notices:
    """Event-bus subscriber (non-critical) writing engine events for the operator."""

    def __init__(self, shell: Shell) -> None:
        self.shell = shell

    def __call__(self, event: Any) -> None:
        from expctl.engine.events import FaultRaised, RunStopped, SafeStateReached, StateChanged
        from expctl.ui.progress import pause_report, safe_state_line

        sh = self.shell
        if isinstance(event, SafeStateReached):
            units = {n: spec.units for n, spec in sh.session.profile.devices.items()}
            if event.reason == "pause":
                engine = sh.active_engine()
                sh.write((pause_report(engine) if engine is not None else "paused")
                         + "\npaused — type resume, stop or abort")
            else:
                sh.write(safe_state_line(event, units))
        elif isinstance(event, StateChanged):
            if event.new == "suspended":
                from expctl.ui.report import suspended_text

                sh.write(suspended_text(event.reason, sh.board.epoch, event.time)
                         + " (resumes by itself; abort to give up)")
        elif isinstance(event, FaultRaised):
            sh.write(f"fault in {event.step_path or event.action}: "
                     f"{event.error.paragraph()} → {event.policy}")
        elif isinstance(event, RunStopped) and event.outcome in ("beamloss", "interrupted") \
                and not sh.sequence_running:
            rec = event.record
            sh.write(f"run {rec.run}{' ' + rec.label if rec.label else ''} cut after "
                     f"{rec.shots} shots ({event.outcome}): it is retaken")
