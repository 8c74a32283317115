"""The lifecycle table: what it allows, what it refuses, and that the docs show it."""

from __future__ import annotations

from pathlib import Path

import pytest

from expctl.engine import Engine
from expctl.engine.lifecycle import Lifecycle
from expctl.engine.states import (
    COMMANDS,
    DIAGRAM_BEGIN,
    DIAGRAM_END,
    TRANSITIONS,
    EngineState,
    mermaid_diagram,
    update_document,
)
from expctl.errors import IllegalCommand
from expctl.testing import make_fake_beamline

ALLOWED = {(trigger, src) for trigger, sources, _ in TRANSITIONS for src in sources}
ALL_TRIGGERS = sorted({t for t, _, _ in TRANSITIONS})


def _lifecycle_in(state: EngineState) -> Lifecycle:
    life = Lifecycle(lambda old, new, reason: None)
    life._machine.set_state(state)  # the test reaches in to place the machine
    return life


@pytest.mark.parametrize("state", list(EngineState), ids=lambda s: s.value)
@pytest.mark.parametrize("trigger", ALL_TRIGGERS)
def test_every_pair_outside_the_table_is_refused(state: EngineState, trigger: str) -> None:
    life = _lifecycle_in(state)
    if (trigger, state) in ALLOWED:
        life.fire(trigger)
        dest = next(d for t, srcs, d in TRANSITIONS if t == trigger and state in srcs)
        assert life.state is dest
    else:
        with pytest.raises(IllegalCommand) as info:
            life.fire(trigger)
        assert life.state is state
        allowed = sorted(t for t, s in ALLOWED if s is state and t in COMMANDS)
        assert info.value.allowed_commands == tuple(allowed)
        assert f"while the engine is {state.value}" in info.value.message


def test_resume_while_idle_names_the_allowed_commands() -> None:
    engine = Engine(make_fake_beamline())
    with pytest.raises(IllegalCommand) as info:
        engine.resume()
    assert info.value.paragraph() == "cannot resume while the engine is idle (allowed: none)"
    engine._life._machine.set_state(EngineState.PAUSED)
    assert engine.allowed_commands() == ["abort", "resume", "stop"]


def test_auto_transitions_are_off() -> None:
    life = Lifecycle(lambda old, new, reason: None)
    assert not hasattr(life.model, "to_running")


def test_architecture_doc_shows_the_current_diagram() -> None:
    doc = Path(__file__).parents[3] / "docs" / "architecture.md"
    text = doc.read_text(encoding="utf-8")
    assert update_document(text) == text, "run: python -m expctl.engine.states"


def test_diagram_has_one_edge_per_table_entry() -> None:
    edges = [line for line in mermaid_diagram().splitlines() if "-->" in line and "[*]" not in line]
    assert len(edges) == sum(len(srcs) for _, srcs, _ in TRANSITIONS)
    assert "    paused --> running: **resume**" in edges


def test_update_document_needs_markers() -> None:
    with pytest.raises(ValueError, match="markers"):
        update_document("no diagram here")
    doc = f"a\n{DIAGRAM_BEGIN}\nold\n{DIAGRAM_END}\nb"
    assert "stateDiagram-v2" in update_document(doc)
