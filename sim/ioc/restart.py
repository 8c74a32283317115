"""What a restarted IOC restores: device setpoints (autosave) and an honest run table.

Real IOCs come back from a reboot with their setpoints restored by the autosave
module and their motors where the controller left them; a simulated IOC that
forgot them would make a restart test meaningless (the retaken run would find the
shutter closed and the crystal off its peak).  Values are kept in
``<data_dir>/ioc/<profile>.autosave.json``, written after every completed change.

A run that was going when the IOC was killed stays ``running`` (status 2) in the
facility's run table; at start-up it is closed (status 0) with the shots it had
recorded and a comment saying why.
"""

from __future__ import annotations

import json
import os
from dataclasses import replace
from pathlib import Path
from typing import Any

from expctl.devices.profile import Profile
from sim.facility.store import FacilityStore

__all__ = ["Autosave", "close_interrupted_runs"]


class Autosave:
    """Saved device values of one IOC (nothing is kept without a data directory)."""

    def __init__(self, data_dir: Path | None, profile_name: str) -> None:
        self.path = None if data_dir is None else Path(data_dir) / "ioc" / (
            f"{profile_name}.autosave.json")
        self._values: dict[str, Any] = {}
        if self.path is not None and self.path.is_file():
            try:
                self._values = dict(json.loads(self.path.read_text(encoding="utf-8")))
            except (OSError, ValueError):
                self._values = {}  # a torn file: start from the profile

    def apply(self, profile: Profile) -> Profile:
        """``profile`` with saved values as the devices' initial state (valid ones only)."""
        return profile.with_initial(self._values)

    def saved(self, key: str) -> Any:
        """The value saved under ``key`` (a device, or another setting), if any."""
        return self._values.get(key)

    def changed(self, device: str, value: Any) -> None:
        """Remember ``device``'s new value (written at once: the IOC may be killed any time)."""
        self._values[device] = value
        if self.path is None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self._values, indent=1), encoding="utf-8")
        os.replace(tmp, self.path)


def close_interrupted_runs(data_dir: Path, beamline: int) -> list[int]:
    """Close runs left ``running`` by a killed IOC; returns their numbers."""
    root = Path(data_dir) / "facility"
    if not root.is_dir():
        return []
    store = FacilityStore(root, create=False)
    closed = []
    for run in store.runs(beamline):
        record = store.run_record(beamline, run)
        if record.status != 2:
            continue
        columns = store.sync_columns(beamline, run)
        tags = columns.get("tag") if columns else None
        shots = 0 if tags is None else len(tags)
        comment = f"{record.comment} (interrupted: the IOC stopped during the run)".strip()
        store.save_run(replace(record, status=0, shots=shots, comment=comment,
                               end_tag=int(tags[-1]) if shots else record.end_tag,
                               stop_time=record.stop_time or record.start_time),
                       store.run_meta(beamline, run))
        closed.append(run)
    return closed
