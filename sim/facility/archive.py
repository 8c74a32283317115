"""The facility archive as dbpy/stpy read it: run table, sync 0-D DB, detector storage.

0-D values are not stored either: the sync DB answers for every shot, in runs or
between them, by replaying the recorded state time line (:mod:`sim.facility.states`).
Images are not stored: each is redrawn from the seed, the tag and the shot's
recorded photon counts and noise sums (the ``_recipe`` columns of the sync DB),
so reading the same shot twice — in any process — gives the same image.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np

from expctl.devices.protocols import RunRecord, SignalInfo
from sim.facility.detinfo import det_info
from sim.facility.states import StateReplay
from sim.facility.store import FacilityStore
from sim.physics.detector import COLS, ROWS, DetectorModel

__all__ = ["SimArchive"]


class SimArchive:
    """Read access to a :class:`FacilityStore` (this process's or another's)."""

    def __init__(self, store: FacilityStore) -> None:
        self._store = store
        self._models: dict[tuple[int, int], dict[str, tuple[DetectorModel, int]]] = {}
        self._replays: dict[tuple[int, str], StateReplay] = {}

    def newest_run(self, beamline: int) -> int:
        runs = self._store.runs(beamline)
        return runs[-1] if runs else 0

    def run_record(self, beamline: int, run: int) -> RunRecord:
        """The run-table entry; a running run's shots and last tag so far come from its rows."""
        rec = self._store.run_record(beamline, run)
        if rec.status != 2:
            return rec
        cols = self._store.sync_columns(beamline, run)
        if not cols or len(cols["tag"]) == 0:
            return rec
        return replace(rec, shots=len(cols["tag"]), end_tag=int(cols["tag"][-1]))

    def tags(self, beamline: int, run: int) -> np.ndarray:
        self._store.run_record(beamline, run)
        cols = self._store.sync_columns(beamline, run)
        return cols["tag"].astype(np.int64) if cols else np.zeros(0, dtype=np.int64)

    def equipment(self) -> dict[str, SignalInfo]:
        eq = self._store.equipment()
        return {name: SignalInfo(units) for name, units in sorted(eq.items())}

    def _replay(self, beamline: int, key: str, header: dict[str, Any]) -> StateReplay:
        got = self._replays.get((beamline, key))
        if got is None:
            got = StateReplay(header, self._store.state_profile(beamline, key))
            self._replays[(beamline, key)] = got
        got.header = header  # injected beam losses may have grown
        got.refresh_beam_loss()
        return got

    def sync_values(self, equipment: str, hightag: int, tags: np.ndarray) -> np.ndarray:
        """Values of every shot, in runs or between them, replayed from the state time line."""
        if equipment not in self._store.equipment():
            raise KeyError(f"unknown equipment {equipment!r}")
        want = np.asarray(tags, dtype=np.int64).ravel()
        out = np.full(want.shape, np.nan)
        found = np.zeros(want.shape, dtype=bool)
        known_hightag = False
        for bl in self._store.beamlines():
            sessions = self._store.state_sessions(bl)
            for i, (key, header) in enumerate(sessions):
                if int(header["hightag"]) != hightag:
                    continue
                known_hightag = True
                column = header["equipment"].get(equipment)
                if column is None:
                    continue
                replay = self._replay(bl, key, header)
                rows = self._store.state_rows(bl, key, replay.width)
                end = replay.end_tag(rows)
                if i + 1 < len(sessions):
                    end = min(end, int(sessions[i + 1][1]["start_tag"]) - 1)
                inside = replay.covers(want, end) & ~found
                if not inside.any():
                    continue
                out[inside] = replay.values(column, want[inside], rows)
                found |= inside
        if not known_hightag:
            raise KeyError(f"unknown high tag {hightag}")
        if not found.all():
            missing = want[~found][:5].tolist()
            raise KeyError(f"tag(s) {missing} of high tag {hightag} were never recorded")
        return out

    def detector_ids(self, beamline: int, run: int) -> tuple[str, ...]:
        return self._store.run_record(beamline, run).detectors

    def _sensor(self, detector: str, beamline: int, run: int) -> tuple[DetectorModel, int]:
        key = (beamline, run)
        if key not in self._models:
            meta = self._store.run_meta(beamline, run)
            table: dict[str, tuple[DetectorModel, int]] = {}
            for name, opts in meta.get("detectors", {}).items():
                model = DetectorModel.from_options(name, opts, meta.get("pair_energy_ev", 3.65))
                for k, sid in enumerate(model.sensor_ids):
                    table[sid] = (model, k)
            self._models[key] = table
        try:
            return self._models[key][detector]
        except KeyError:
            raise KeyError(f"detector {detector!r} is not in run {run} of beamline "
                           f"{beamline}") from None

    def detector_info(self, detector: str, beamline: int, run: int) -> dict[str, Any]:
        model, sensor = self._sensor(detector, beamline, run)
        return det_info(model, sensor, self.photon_energy_kev(beamline, run))

    def frames(self, detector: str, beamline: int, run: int, tags: np.ndarray) -> np.ndarray:
        model, sensor = self._sensor(detector, beamline, run)
        seed = int(self._store.run_meta(beamline, run)["seed"])
        cols = self._store.sync_columns(beamline, run)
        want = np.asarray(tags, dtype=np.int64).ravel()
        run_tags = cols["tag"] if cols else np.zeros(0, dtype=np.int64)
        pos = np.clip(np.searchsorted(run_tags, want), 0, max(len(run_tags) - 1, 0))
        if len(run_tags) == 0 or not np.all(run_tags[pos] == want):
            bad = want if len(run_tags) == 0 else want[run_tags[pos] != want]
            raise KeyError(f"tag(s) {bad[:5].tolist()} are not in run {run}")
        prefix = f"_recipe/{model.name}/"
        out = np.empty((len(want), ROWS, COLS), dtype=np.float32)
        for i, p in enumerate(pos.tolist()):
            recipe = {k: v[p] for k, v in cols.items() if k.startswith(prefix)}
            model.render(seed, int(want[i]), sensor, recipe, out=out[i])
        return out

    def photon_energy_kev(self, beamline: int, run: int) -> float:
        return float(self._store.run_meta(beamline, run)["photon_energy_kev"])
