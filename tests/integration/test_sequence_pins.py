"""Every shipped sequence checks, compiles and dry-runs exactly as pinned.

Refactorings of the sequence package (the verb registry, the unit lexer) must
not change what a sequence does.  The pins in ``tests/data/pins/`` hold, per
sequence, the dry-run JSON (``expctl run SEQ --dry-run --json``) and a digest
of the compiled plan's full action stream (driven without an engine: reads
give 1.0, analyses a fixed peak).  A deliberate change of behaviour
regenerates them with ``python -m tests.integration.test_sequence_pins``
and shows the difference in the commit.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
SEQUENCES = ROOT / "sequences"
PINS = ROOT / "tests" / "data" / "pins"
SHIPPED = sorted(p.stem for p in SEQUENCES.glob("*.yaml"))
#: the shipped sequences and one that uses every step kind (compiled, not dry-run)
COMPILED = [*SHIPPED, "every_verb"]

#: what an analysis answers while the plan is recorded (fields later steps read)
_ANALYSIS = {"center": 11.4025, "ok": True, "roi0_photons": 1000.0, "photons": 1000.0}


def _canonical(value: Any) -> str:
    """A stable text of an action field: callables by name, paths relative to the repo."""
    if callable(value) and not dataclasses.is_dataclass(value):
        return f"<{getattr(value, '__qualname__', type(value).__name__)}>"
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        inner = ", ".join(f"{f.name}={_canonical(getattr(value, f.name))}"
                          for f in dataclasses.fields(value))
        return f"{type(value).__name__}({inner})"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k!r}: {_canonical(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_canonical(v) for v in value) + "]"
    return repr(value).replace(str(ROOT), "<repo>")


def _source(name: str) -> Path:
    shipped = SEQUENCES / f"{name}.yaml"
    return shipped if shipped.exists() else PINS / f"{name}.yaml"


def _outline(node: Any) -> Iterator[str]:
    yield (f"{node.path or '-'} {node.title} x{node.executions:g} runs={node.runs:g} "
           f"shots={node.shots:g} iterations={node.iterations:g}")
    for child in node.children:
        yield from _outline(child)


def action_lines(name: str) -> Iterator[str]:
    """The checked outline and compiled plan of sequence NAME on profile bl3, a line each."""
    from expctl.devices.registry import BackendRegistry
    from expctl.plans.actions import Analyze, Read
    from expctl.sequence.load import load_sequence
    from expctl.testing import record_plan

    profile = BackendRegistry().find_profile("bl3")
    loaded = load_sequence(_source(name), profile)
    loaded.raise_errors()
    yield from _outline(loaded.report.outline)
    responses: dict[type, Callable[[Any], Any]] = {
        Analyze: lambda a: dict(_ANALYSIS),
        Read: lambda a: {k: 1.0 for d in a.devices for k in (d, f"{d}.roi0")}}
    recording = record_plan(loaded.plan_factory()(), responses)
    for action in recording.actions:
        yield _canonical(action)
    for action in loaded.safe_actions():
        yield "safe " + _canonical(action)


def action_digest(name: str) -> dict[str, Any]:
    lines = list(action_lines(name))
    text = "\n".join(lines).encode()
    return {"lines": len(lines), "sha256": hashlib.sha256(text).hexdigest(),
            "first": lines if len(lines) <= 1000 else lines[:60]}


def dry_run_json(name: str, data_dir: Path) -> dict[str, Any]:
    """``expctl run sequences/NAME.yaml --dry-run --json`` with the file path made relative."""
    import contextlib
    import io

    from expctl.cli import main

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main(["run", str(SEQUENCES / f"{name}.yaml"), "--dry-run", "--json",
                     "--data-dir", str(data_dir)])
    data = json.loads(out.getvalue())
    data["file"] = Path(data["file"]).relative_to(ROOT).as_posix()
    data["exit_code"] = code
    return data


def _pin(name: str, kind: str) -> Path:
    return PINS / f"{name}.{kind}.json"


@pytest.mark.parametrize("name", COMPILED)
def test_compiled_actions_are_pinned(name: str) -> None:
    expected = json.loads(_pin(name, "actions").read_text())
    found = action_digest(name)
    assert found["first"] == expected["first"]
    assert (found["lines"], found["sha256"]) == (expected["lines"], expected["sha256"]), (
        "the compiled action stream changed; if on purpose, regenerate the pins with "
        "`python -m tests.integration.test_sequence_pins`")


@pytest.mark.parametrize("name", SHIPPED)
def test_dry_run_json_is_pinned(name: str, tmp_path: Path) -> None:
    pytest.importorskip("sim.backend", reason="the simulated backend is needed for dry-runs")
    expected = json.loads(_pin(name, "dryrun").read_text())
    assert dry_run_json(name, tmp_path) == expected


def _update() -> None:
    import tempfile

    PINS.mkdir(parents=True, exist_ok=True)
    for name in COMPILED:
        if name in SHIPPED:
            with tempfile.TemporaryDirectory() as tmp:
                dry = dry_run_json(name, Path(tmp))
            _pin(name, "dryrun").write_text(json.dumps(dry, indent=1, ensure_ascii=False)
                                            + "\n")
        _pin(name, "actions").write_text(json.dumps(action_digest(name), indent=1,
                                                    ensure_ascii=False) + "\n")
        print(f"pinned {name}", file=sys.stderr)


if __name__ == "__main__":
    _update()
