"""A profile that names a ``twin:`` takes devices and sections from it, adding only its own
keys (an epics profile: PVs), so the two cannot drift; every conflict is a clear error."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from expctl.devices import BackendRegistry, load_profile
from expctl.errors import BackendError

TWIN = {
    "name": "tw", "backend": "sim", "beamline": 7, "seed": 42,
    "devices": {
        "theta": {"kind": "motor", "units": "deg", "limits": [10, 13], "velocity": 0.05,
                  "initial": 11.4, "description": "crystal theta"},
        "x": {"kind": "motor", "units": "mm", "limits": [-5, 5]},
        "y": {"kind": "motor", "units": "mm", "limits": [-5, 5]},
        "beam": {"kind": "beam", "units": ""},
    },
    "roles": {"theta": "theta", "beam": "beam"},
    "suspenders": {"beam": {"kind": "beam", "device": "beam", "settle": "3 s"}},
    "spot_grids": {"plate": {"x_axis": "x", "y_axis": "y", "pitch_mm": 0.2}},
    "daq": {"rate_hz": 10.0, "require_beam": False},
    "physics": {"source": {"photon_energy_kev": 9.0}},
}


class _Folder:
    """A backend whose bundled profiles are the files of one folder."""

    def __init__(self, name: str, folder: Path) -> None:
        self.name, self.folder = name, folder

    def profile_dirs(self) -> list[Path]:
        return [self.folder]

    def connect(self, *args, **kwargs):  # never connected here
        raise NotImplementedError


def _registry(tmp_path: Path, **profiles: dict) -> BackendRegistry:
    for name, body in {"tw": TWIN, **profiles}.items():
        text = yaml.safe_dump(body, sort_keys=False)
        (tmp_path / f"{name}.yaml").write_text(text, encoding="utf-8")
    return BackendRegistry({"sim": _Folder("sim", tmp_path)})


def _wired(**devices: dict) -> dict:
    return {"name": "tw-ca", "backend": "epics", "twin": "tw",
            "devices": {"theta": {"pv": "TW:THETA"}, **devices},
            "spot_grids": {"plate": {"sample_pv": "TW:SAMPLE"}}, "daq": {"acquire": "TW:ACQ"}}


def test_devices_and_sections_come_from_the_twin(tmp_path):
    reg = _registry(tmp_path, **{"tw-ca": _wired()})
    twin, wired = reg.find_profile("tw"), reg.find_profile("tw-ca")
    assert list(wired.devices) == ["theta", "x", "y", "beam"]
    theta = wired.devices["theta"]
    assert (theta.kind, theta.units, theta.limits, theta.velocity) == \
        ("motor", "deg", twin.devices["theta"].limits, 0.05)
    assert theta.options == {"initial": 11.4, "pv": "TW:THETA"}  # the twin's options + PVs
    assert (wired.beamline, wired.seed) == (7, 42)
    assert wired.roles == twin.roles and wired.suspenders == twin.suspenders
    assert wired.spot_grids["plate"].as_dict() == {"x_axis": "x", "y_axis": "y",
                                                   "pitch_mm": 0.2, "sample_pv": "TW:SAMPLE"}
    assert (wired.daq.rate_hz, wired.daq.require_beam) == (10.0, False)
    assert wired.daq.options == {"acquire": "TW:ACQ"}
    assert wired.physics == {}  # the simulator's business
    assert wired.serves("tw")


def test_a_restated_key_must_agree_with_the_twin(tmp_path):
    same = _wired(theta={"pv": "TW:THETA", "units": "deg", "limits": [10, 13],
                         "description": "goniometer theta"})
    reg = _registry(tmp_path, **{"tw-ca": same})
    assert reg.find_profile("tw-ca").devices["theta"].description == "goniometer theta"
    reg = _registry(tmp_path, **{"tw-ca": _wired(x={"pv": "TW:X", "limits": [-4, 4]})})
    with pytest.raises(BackendError) as err:
        reg.find_profile("tw-ca")
    text = err.value.paragraph()
    assert "tw-ca.yaml: device 'x' gives limits [-4, 4], its twin tw [-5, 5]" in text
    assert "the one place limits is declared" in text and err.value.device == "x"


def test_a_device_the_twin_lacks_is_declared_in_full(tmp_path):
    extra = _wired(camera={"kind": "photodiode", "units": "pC", "pv": "TW:CAM"})
    reg = _registry(tmp_path, **{"tw-ca": extra})
    assert reg.find_profile("tw-ca").devices["camera"].kind == "photodiode"
    reg = _registry(tmp_path, **{"tw-ca": _wired(camera={"pv": "TW:CAM"})})
    with pytest.raises(BackendError, match="device 'camera' needs a mapping with a 'kind'"):
        reg.find_profile("tw-ca")


def test_twins_that_name_each_other_are_refused(tmp_path):
    loop = {**_wired(), "name": "a", "twin": "b"}
    reg = _registry(tmp_path, a=loop, b={**loop, "name": "b", "twin": "a"})
    with pytest.raises(BackendError, match="name each other as twins: a -> b -> a"):
        reg.find_profile("a")


def test_loaded_without_a_registry_the_missing_kind_says_where_it_comes_from(tmp_path):
    path = tmp_path / "tw-ca.yaml"
    path.write_text(yaml.safe_dump(_wired()), encoding="utf-8")
    with pytest.raises(BackendError) as err:
        load_profile(path)
    assert "takes its devices from the twin" in err.value.paragraph()
