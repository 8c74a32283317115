"""The Analyze handler hands facility analyses the beamline's archive and DAQ settings."""

from __future__ import annotations

import pytest

from expctl.engine import Engine, EventBus
from expctl.engine.events import AnalysisDone
from expctl.errors import DataError
from expctl.plans import Analyze


def _plan(action):
    return (yield action)


def test_facility_analysis_gets_archive_and_daq_config(bl) -> None:
    archive = object()
    bl.archive = archive
    seen: dict = {}

    def fn(x, *, scale, archive, daq_config):
        seen.update(archive=archive, config=daq_config)
        return x * scale

    bus = EventBus()
    events: list = []
    bus.subscribe(events.append)
    summary = Engine(bl, bus=bus).run(_plan(Analyze("r", fn, (2,), {"scale": 3},
                                                    facility=True)))
    assert summary.value == 6
    assert seen["archive"] is archive
    assert seen["config"] == bl.daq.config()
    done = [e for e in events if isinstance(e, AnalysisDone)]
    assert [(e.name, e.result) for e in done] == [("r", 6)]


def test_plain_analysis_gets_no_facility_arguments(bl) -> None:
    summary = Engine(bl, bus=EventBus()).run(_plan(Analyze("r", lambda **kw: sorted(kw),
                                                           kwargs={"a": 1})))
    assert summary.value == ["a"]


def test_facility_analysis_without_an_archive_fails_with_the_beamline_named(bl) -> None:
    assert bl.archive is None
    with pytest.raises(DataError) as err:
        Engine(bl, bus=EventBus()).run(_plan(Analyze("ref_sum", lambda **kw: 0, facility=True)))
    assert err.value.message == (f"analysis 'ref_sum' reads the facility archive, and "
                                 f"beamline {bl.profile.name} has none")
