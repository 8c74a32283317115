"""The link condition and the re-search while PVs are lost."""

from __future__ import annotations

import threading

from expctl.epics.link import Watchdog
from expctl.epics.recovery import LinkSuspender, Reconnector


class _Channel:
    def __init__(self, name: str, connected: bool = True, fresh: bool = True) -> None:
        self.name, self.connected, self.fresh, self.monitor = name, connected, fresh, True


class _Channels:
    """A ChannelSet stand-in: lost() as the real one computes it, searches counted."""

    def __init__(self, *channels: _Channel) -> None:
        self.channels = {c.name: c for c in channels}
        self.listeners: list = []
        self.searches = threading.Semaphore(0)

    def lost(self) -> list[str]:
        return [n for n, c in self.channels.items()
                if not c.connected or (c.monitor and not c.fresh)]

    def on_state(self, listener) -> None:
        self.listeners.append(listener)

    def search_again(self) -> None:
        self.searches.release()


def test_the_link_holds_until_every_pv_is_back_and_read_again():
    a, b = _Channel("BL3:THETA.RBV"), _Channel("BL3:BEAM")
    channels = _Channels(a, b)
    suspender = LinkSuspender(channels, settle=2.0)  # type: ignore[arg-type]
    assert suspender.reason({}) is None
    a.connected = a.fresh = False
    assert suspender.reason({}) == "control-system link lost: BL3:THETA.RBV not connected"
    a.connected = True  # reconnected, no value since: motion would use a stale position
    assert suspender.reason({}) is not None
    a.fresh = True
    assert suspender.reason({}) is None and suspender.settle == 2.0


def test_lost_pvs_are_searched_for_again_until_they_are_back():
    a = _Channel("BL3:THETA.RBV")
    channels = _Channels(a)
    dog = Watchdog()
    try:
        Reconnector(channels, dog)  # type: ignore[arg-type]
        a.connected = False
        for listener in channels.listeners:
            listener(a)
        assert channels.searches.acquire(timeout=5) and channels.searches.acquire(timeout=5)
        a.connected = True
        channels.searches.acquire(timeout=1.0)  # one search may already be under way
        assert not channels.searches.acquire(timeout=1.0)
    finally:
        dog.close()
