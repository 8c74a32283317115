"""One rehearsal per run: the pre-flight check reuses the dry-run the user saw, and what the
rehearsal found never lands in the real session's results."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest

from expctl.engine.events import GoingLive
from expctl.errors import AggregateError, UserError
from expctl.session import Session

ROOT = Path(__file__).resolve().parents[2]
SMALL = ROOT / "sequences" / "small.yaml"
#: the module (``expctl.engine.estimate`` is also the name of the function it exports)
estimate_module = importlib.import_module("expctl.engine.estimate")

#: the fitted centre is known only at run time: the static check passes, a rehearsal
#: finds the move beyond theta's limits (10 .. 13 deg)
OFF_LIMITS = """\
name: off_limits
beamline: bl3
safe_state:
  - close: xray_shutter
steps:
  - set: {pd_gain: high, attenuator: 1800 um}
  - open: xray_shutter
  - rocking_curve: {axis: theta, span: 0.01 deg, points: 11, signal: mpccd.roi0 / pd_i0,
                    as: rock}
  - move: {theta: "${rock.center + 5}"}
  - close: xray_shutter
"""


@pytest.fixture
def rehearsals(monkeypatch) -> list[int]:
    """Counts rehearsals on the simulated twin (every one goes through ``estimate``)."""
    calls: list[int] = []
    real = estimate_module.estimate

    def counted(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(estimate_module, "estimate", counted)
    return calls


def _results_when_live(session: Session) -> list[dict]:
    seen: list[dict] = []
    session.bus.subscribe(lambda e: seen.append(dict(session.results))
                          if isinstance(e, GoingLive) else None)
    return seen


def test_the_dry_run_shown_is_the_pre_flight_check(tmp_path, rehearsals) -> None:
    with Session.open("bl3", tmp_path / "data") as session:
        loaded = session.load(SMALL, ["shots=5"])
        dry = session.dry_run(loaded)
        assert rehearsals == [1] and dry.ok and "rock" in dry.results
        live = _results_when_live(session)
        summary = session.run(loaded, rehearsal=dry)
    assert summary.outcome == "completed" and len(summary.runs) == 2
    assert rehearsals == [1]  # no second rehearsal before the real run
    assert live == [{}]  # the rehearsal's fit was not in the session when it went live
    assert session.results["rock"] is not dry.results["rock"]


def test_without_a_dry_run_the_session_rehearses_once(tmp_path, rehearsals) -> None:
    with Session.open("bl3", tmp_path / "data") as session:
        live = _results_when_live(session)
        summary = session.run(SMALL, ["shots=5"])
        real_center = session.results["rock"].center
    assert summary.outcome == "completed" and rehearsals == [1] and live == [{}]
    assert 11.3 < real_center < 11.5


def test_violations_found_by_the_rehearsal_refuse_the_run(tmp_path, rehearsals) -> None:
    seq = tmp_path / "off_limits.yaml"
    seq.write_text(OFF_LIMITS)
    with Session.open("bl3", tmp_path / "data") as session:
        loaded = session.load(seq)
        assert loaded.ok  # the centre is unknown before the scan: only a rehearsal can tell
        live = _results_when_live(session)
        with pytest.raises(AggregateError) as info:
            session.run(loaded)
    assert live == [] and rehearsals == [1]  # nothing moved
    text = info.value.paragraph()
    assert "1 problem found before any motion" in text
    assert "theta target" in text and "allowed: 10 .. 13 deg" in text


def test_a_rehearsal_of_another_sequence_is_refused(tmp_path) -> None:
    with Session.open("bl3", tmp_path / "data") as session:
        dry = session.dry_run(session.load(SMALL, ["shots=5"]))
        with pytest.raises(UserError, match="the rehearsal given is of .*small.yaml"):
            session.run(session.load(SMALL, ["shots=6"]), rehearsal=dry)
