"""One owner of named results: the engine stores what an analysis found; `as:` on a run
binds a plan variable; a rehearsal writes nothing into the session."""

from __future__ import annotations

from pathlib import Path

from expctl.engine.events import AnalysisDone
from expctl.session import Session
from expctl.testing import make_fake_beamline

DATA = Path(__file__).resolve().parents[2] / "data"

SEQ = """\
name: owner
beamline: bl3
steps:
  - open: xray_shutter
  - run: {shots: 3, label: first, as: first}
  - run: {shots: "${first.shots + 2}", label: second}
  - rocking_curve: {axis: theta, span: 0.01 deg, points: 7, signal: mpccd.roi0, as: rock}
  - close: xray_shutter
"""


def test_the_engine_owns_results_and_as_binds_a_plan_variable(tmp_path) -> None:
    path = tmp_path / "owner.yaml"
    path.write_text(SEQ, encoding="utf-8")
    with Session.open(DATA / "profiles" / "bl3-mini.yaml", tmp_path / "data",
                      beamline=make_fake_beamline(), suspenders=False) as session:
        stored: list[dict] = []
        session.bus.subscribe(lambda e: stored.append(dict(session.results))
                              if isinstance(e, AnalysisDone) else None)
        summary = session.run(path)
    assert summary.outcome == "completed"
    assert [r.shots for r in summary.runs] == [3, 5]  # ${first} fed the second run
    assert set(session.results) == {"rock"}  # the run record stayed a plan variable
    assert stored == [{"rock": session.results["rock"]}]  # stored by the engine as it ran
