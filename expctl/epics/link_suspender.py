"""The condition a control-system link sets on data taking: every PV connected and re-read.

Installed as a suspender (the session installs the conditions a beamline declares),
it holds the engine suspended from the moment a PV disconnects (an IOC restart,
a network cut) until every PV is connected again *and* has delivered a value
since — so motion and runs resume on fresh readings, never on values cached from
before the cut — and has stayed so for ``settle`` seconds.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from expctl.epics.ca import ChannelSet

__all__ = ["LinkSuspender"]


@dataclass(frozen=True)
class LinkSuspender:
    """Trips while any PV of ``channels`` is disconnected or not re-read since reconnecting."""

    channels: ChannelSet
    settle: float = 2.0

    def reason(self, devices: Mapping[str, Any]) -> str | None:
        lost = self.channels.lost()
        if not lost:
            return None
        shown = ", ".join(lost[:3]) + (f" and {len(lost) - 3} more" if len(lost) > 3 else "")
        return f"control-system link lost: {shown} not connected"
