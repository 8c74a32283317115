"""Profiles and sequences are parsed by libyaml when PyYAML has it, with the same limits
and values as PyYAML's own loader (the fallback): a hostile file is refused early, and
errors name a line and column."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest
import yaml

from expctl.devices.profile import _Loader, load_profile
from expctl.errors import BackendError, SequenceError
from expctl.inputs import ValueCap, ValueCapReached
from expctl.sequence.source import parse_text

REPO = Path(__file__).resolve().parents[3]
PROFILES = sorted((REPO / "sim" / "profiles").glob("*.yaml"))
LOADERS = [yaml.SafeLoader] + ([yaml.CSafeLoader] if yaml.__with_libyaml__ else [])


def _capped(base: type, limit: int, depth: int) -> type:
    return type("Capped", (ValueCap, base), {"limit": limit, "depth_limit": depth})


def test_the_fast_loader_is_used_when_libyaml_is_there() -> None:
    if not yaml.__with_libyaml__:
        pytest.skip("PyYAML was built without libyaml: the pure loader is the only one")
    assert issubclass(_Loader, yaml.CSafeLoader)


@pytest.mark.parametrize("path", PROFILES, ids=[p.stem for p in PROFILES])
def test_shipped_profiles_read_the_same_with_either_loader(path: Path) -> None:
    text = path.read_text()
    values = [pickle.dumps(yaml.load(text, Loader=_capped(base, 20_000, 64)))
              for base in LOADERS]
    assert values[0] == values[-1]
    assert load_profile(path).raw == yaml.load(text, Loader=yaml.SafeLoader)


@pytest.mark.parametrize("base", LOADERS, ids=lambda b: b.__name__)
def test_value_cap_stops_a_flood_while_composing(base: type) -> None:
    loader = _capped(base, 1_000, 64)("[" + "1, " * 200_000 + "1]")
    with pytest.raises(ValueCapReached) as caught:
        loader.get_single_node()
    assert not caught.value.too_deep
    assert loader.limit == -1  # stopped at the first value over the cap, not at the end


@pytest.mark.parametrize("base", LOADERS, ids=lambda b: b.__name__)
@pytest.mark.parametrize("text", ["- " * 300_000 + "x\n", "[" * 300_000],
                         ids=["block", "flow"])
def test_depth_cap_stops_deep_nesting_before_any_stack_runs_out(base: type, text: str) -> None:
    # (libyaml's composer recurses in C: 300 000 levels would crash the process)
    loader = _capped(base, 1_000_000, 64)(text)
    with pytest.raises(ValueCapReached) as caught:
        loader.get_single_node()
    assert caught.value.too_deep


def _profile(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "p.yaml"
    path.write_text((REPO / "tests/data/profiles/bl3-mini.yaml").read_text() + text)
    return path


@pytest.mark.parametrize("extra", [
    "\nflood: [" + "1, " * 30_000 + "1]\n",
    "\nbomb: &a [1, 1, 1, 1, 1, 1, 1, 1, 1, 1]\n" + "".join(
        f"b{i}: &a{i} [{', '.join(['*a' if i == 0 else f'*a{i - 1}'] * 10)}]\n"
        for i in range(9)),
    "\ndeep:\n  " + "- " * 200_000 + "x\n",
], ids=["flood", "alias-bomb", "deep"])
def test_hostile_profiles_are_refused_with_the_limit_named(tmp_path: Path, extra: str) -> None:
    with pytest.raises(BackendError, match="more than 20000 values or 64 levels"):
        load_profile(_profile(tmp_path, extra))


def test_profile_syntax_error_names_line_and_column(tmp_path: Path) -> None:
    path = _profile(tmp_path, "\nbroken: [1, 2\n")
    lines = path.read_text().count("\n")
    with pytest.raises(BackendError) as caught:
        load_profile(path)
    message = caught.value.paragraph()
    assert "is not valid YAML" in message and f"(line {lines + 1}, column 1)" in message
    assert "\n" not in message


def test_profile_tab_is_named(tmp_path: Path) -> None:
    with pytest.raises(BackendError, match=r"found character '\\t' that cannot start"):
        load_profile(_profile(tmp_path, "\nextra:\n\t- 1\n"))


def test_sequence_with_deep_compact_nesting_is_refused_not_crashed() -> None:
    with pytest.raises(SequenceError, match="nesting deeper than 60 levels"):
        parse_text("steps:\n  - " + "- " * 300_000 + "x\n")


def test_sequence_control_character_is_one_line() -> None:
    with pytest.raises(SequenceError) as caught:
        parse_text("steps: [checkpoint]\nlabel: a\x01b\n", "s.yaml")
    assert "unacceptable character #x0001" in caught.value.paragraph()
    assert "\n" not in caught.value.paragraph()
