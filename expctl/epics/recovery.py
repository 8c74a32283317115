"""Losing and regaining the control-system link.

:class:`LinkSuspender` is the condition the link sets on data taking.  Installed
as a suspender (the session installs the conditions a beamline declares), it
holds the engine suspended from the moment a PV disconnects (an IOC restart, a
network cut) until every PV is connected again *and* has delivered a value since
— so motion and runs resume on fresh readings, never on values cached from before
the cut — and has stayed so for ``settle`` seconds.

:class:`Reconnector` shortens the wait: caproto re-searches lost PVs with a
back-off up to 5 s; while anything is lost it asks for a search every
:data:`SEARCH_PERIOD` seconds, so a restarted IOC is found within that.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from expctl.epics.ca import Channel, ChannelSet
from expctl.epics.link import Watchdog
from expctl.errors import DisconnectedError

__all__ = ["SEARCH_PERIOD", "LinkSuspender", "Reconnector"]

#: Wall seconds between searches for lost PVs.
SEARCH_PERIOD = 0.5


@dataclass(frozen=True)
class LinkSuspender:
    """Trips while any PV of ``channels`` is disconnected or not re-read since reconnecting;
    a run it cuts is marked ``disconnected``."""

    channels: ChannelSet
    settle: float = 2.0
    outcome: ClassVar[str] = DisconnectedError.outcome

    def reason(self, devices: Mapping[str, Any]) -> str | None:
        lost = self.channels.lost()
        if not lost:
            return None
        shown = ", ".join(lost[:3]) + (f" and {len(lost) - 3} more" if len(lost) > 3 else "")
        return f"control-system link lost: {shown} not connected"


class Reconnector:
    """Searches for lost PVs every :data:`SEARCH_PERIOD` while any is lost."""

    def __init__(self, channels: ChannelSet, watchdog: Watchdog) -> None:
        self._channels = channels
        self._watchdog = watchdog
        self._lock = threading.Lock()
        self._searching = False
        channels.on_state(self._state_changed)

    def _state_changed(self, channel: Channel) -> None:
        if channel.connected:
            return
        with self._lock:
            if self._searching:
                return
            self._searching = True
        self._watchdog.after(SEARCH_PERIOD, self._search)

    def _search(self) -> None:
        if not any(not c.connected for c in self._channels.channels.values()):
            with self._lock:
                self._searching = False
            return
        self._channels.search_again()
        self._watchdog.after(SEARCH_PERIOD, self._search)
