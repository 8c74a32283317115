"""The backend registry: built-in backends without an entry-point scan, plugins through one."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from expctl.devices import registry as registry_module
from expctl.devices.registry import BUILTIN_BACKENDS, ENTRY_POINT_GROUP, BackendRegistry
from expctl.errors import UserError

REPO = Path(__file__).resolve().parents[3]
PLUGIN_DIR: list[Path] = []


class ToyBackend:
    """A third-party backend as a plugin package would declare it."""

    name = "toy"

    def profile_dirs(self) -> list[Path]:
        return PLUGIN_DIR

    def connect(self, *args: object, **kwargs: object) -> None:
        raise NotImplementedError


def test_builtin_table_is_what_pyproject_declares() -> None:
    declared = tomllib.loads((REPO / "pyproject.toml").read_text())
    assert BUILTIN_BACKENDS == declared["project"]["entry-points"][ENTRY_POINT_GROUP]


def test_builtin_profile_is_found_without_scanning_entry_points(monkeypatch) -> None:
    def scan() -> list[tuple[str, str]]:
        raise AssertionError("entry points scanned for a built-in backend")

    monkeypatch.setattr(registry_module, "_entry_points", scan)
    registry = BackendRegistry()
    assert registry.find_profile("bl3").name == "bl3"
    assert type(registry.get("sim")).__name__ == "SimBackend"


@pytest.fixture
def plugin(monkeypatch, tmp_path: Path) -> Path:
    (tmp_path / "toy-line.yaml").write_text(
        "name: toy-line\nbackend: toy\nbeamline: 9\ndevices:\n  m: {kind: motor, units: mm}\n")
    PLUGIN_DIR[:] = [tmp_path]
    target = f"{__name__}:ToyBackend"
    monkeypatch.setattr(registry_module, "_entry_points", lambda: [
        *BUILTIN_BACKENDS.items(), ("toy", target)])
    yield tmp_path
    PLUGIN_DIR.clear()


def test_third_party_backend_and_its_profiles_come_from_entry_points(plugin: Path) -> None:
    registry = BackendRegistry()
    assert registry.names() == ["epics", "sim", "toy"]
    assert isinstance(registry.get("toy"), ToyBackend)
    profile = registry.find_profile("toy-line")
    assert (profile.backend, profile.path) == ("toy", plugin / "toy-line.yaml")


def test_unknown_backend_and_profile_name_what_is_installed(plugin: Path) -> None:
    registry = BackendRegistry()
    with pytest.raises(UserError, match=r"no backend called 'nope' \(allowed: epics, sim, toy\)"):
        registry.get("nope")
    with pytest.raises(UserError) as caught:
        registry.find_profile("nope")
    assert "bl3" in caught.value.paragraph() and "toy-line" in caught.value.paragraph()


def test_explicit_backends_never_discover(plugin: Path) -> None:
    registry = BackendRegistry({"toy": ToyBackend()})
    assert registry.names() == ["toy"]
    with pytest.raises(UserError, match="no backend called 'sim'"):
        registry.get("sim")
