"""How the facility API finds its archive: explicit binding, or the registry on first use."""

from __future__ import annotations

from pathlib import Path

import pytest

from expctl.compat import bind, bound, configure, current_archive, dbpy, open_facility
from expctl.devices.registry import BackendRegistry
from expctl.errors import BackendError


class _ArchiveBackend:
    """A backend whose archive is the test's fake; records the data dirs it opened."""

    name = "fakebackend"

    def __init__(self, archive) -> None:
        self.archive = archive
        self.opened: list[Path] = []

    def profile_dirs(self) -> list[Path]:
        return []

    def connect(self, *args, **kwargs):  # compat reads archives; it must never connect devices
        raise AssertionError("expctl.compat connected a beamline instead of opening its archive")

    def open_archive(self, data_dir: Path):
        self.opened.append(data_dir)
        return self.archive


class _NoArchiveBackend(_ArchiveBackend):
    open_archive = None  # type: ignore[assignment]


def _profile(tmp_path: Path, backend: str) -> Path:
    path = tmp_path / "bl9.yaml"
    path.write_text(f"name: bl9\nbackend: {backend}\nbeamline: 3\ndevices: {{}}\n")
    return path


def test_first_call_opens_the_configured_facility_once(tmp_path, archive):
    bind(None)
    backend = _ArchiveBackend(archive)
    configure(tmp_path / "data", str(_profile(tmp_path, "fakebackend")),
              BackendRegistry({"fakebackend": backend}))
    assert dbpy.read_runnumber_newest(3) == 103
    assert dbpy.read_runstatus(3, 101) == 0
    assert backend.opened == [tmp_path / "data"]


def test_data_dir_defaults_to_the_environment(tmp_path, archive, monkeypatch):
    monkeypatch.setenv("EXPCTL_DATA_DIR", str(tmp_path / "elsewhere"))
    backend = _ArchiveBackend(archive)
    registry = BackendRegistry({"fakebackend": backend})
    assert open_facility(None, str(_profile(tmp_path, "fakebackend")), registry) is archive
    assert backend.opened == [tmp_path / "elsewhere"]


def test_a_backend_without_an_archive_is_a_backend_error(tmp_path):
    registry = BackendRegistry({"fakebackend": _NoArchiveBackend(None)})
    with pytest.raises(BackendError) as err:
        open_facility(tmp_path, str(_profile(tmp_path, "fakebackend")), registry)
    assert err.value.paragraph() == ("backend 'fakebackend' keeps no facility archive to read. "
                                     "Use a backend that implements open_archive(data_dir).")


def test_bound_restores_the_previous_archive(archive):
    other = type(archive)()
    with bound(other):
        assert current_archive() is other
        with pytest.raises(dbpy.APIError, match="no run on BL3 yet"):
            dbpy.read_runnumber_newest(3)
    assert current_archive() is archive
