"""Fixtures for the facility API: an in-memory FacilityArchive test double.

Small sensors (64 × 32) keep it fast.  Frames follow a documented toy model so
the numbers tests assert can be computed by hand: pedestal 100 ADU + Gaussian
read noise (σ = 2 ADU) + Poisson photons (mean ``photons_per_pixel``) at
``adu_per_photon`` ADU each, all seeded by (detector, tag) so a shot reads the
same twice.  Dark runs have no photons.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest

from expctl.compat import bind, bound, configure
from expctl.devices.protocols import RunRecord, SignalInfo

HIGHTAG = 202601
PEDESTAL = 100.0
READ_NOISE = 2.0
SINGLE = "MPCCD-1N0-M01-001"


@dataclass
class FakeRun:
    record: RunRecord
    tags: np.ndarray
    photons_per_pixel: float


@dataclass
class FakeArchive:
    beamline: int = 3
    hightag: int = HIGHTAG
    single: str = SINGLE
    ysize: int = 64
    xsize: int = 32
    adu_per_photon: float = 152.0
    runs: dict[int, FakeRun] = field(default_factory=dict)
    sync: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)
    info: dict[str, SignalInfo] = field(default_factory=lambda: {
        "xfel_bl_3_tc_bm_2_pd/charge": SignalInfo("pC"),
        "xfel_bl_3_shutter_1_open_valid/status": SignalInfo(""),
        "xfel_bl_3_st_2_motor_1/position": SignalInfo("deg"),
    })
    frame_calls: int = 0

    def add_run(self, shots: int, *, status: int = 0, photons_per_pixel: float = 0.0,
                comment: str = "", first_tag: int | None = None) -> RunRecord:
        """A run of ``shots`` shots at 30 Hz (every second tag) after the previous run."""
        run = max(self.runs, default=100) + 1
        if first_tag is None:
            last = max((int(r.tags[-1]) for r in self.runs.values() if len(r.tags)), default=0)
            first_tag = last + 100 if last else 1_000_000
        tags = first_tag + 2 * np.arange(shots, dtype=np.int64)
        rec = RunRecord(run=run, beamline=self.beamline, hightag=HIGHTAG,
                        start_tag=int(first_tag),
                        end_tag=None if status == 2 else int(tags[-1]),
                        start_time=1.7e9 + run, stop_time=None if status == 2 else 1.7e9 + run + 1,
                        status=status, shots=shots, comment=comment,
                        detectors=(SINGLE,))
        self.runs[run] = FakeRun(rec, tags, photons_per_pixel)
        open_ = 0.0 if photons_per_pixel == 0 else 1.0
        self._record("xfel_bl_3_shutter_1_open_valid/status", tags, np.full(shots, open_))
        self._record("xfel_bl_3_tc_bm_2_pd/charge", tags, 10.0 + (tags - first_tag) / 1000.0)
        self._record("xfel_bl_3_st_2_motor_1/position", tags, np.full(shots, 11.4))
        return rec

    def _record(self, equip: str, tags: np.ndarray, values: np.ndarray) -> None:
        old_t, old_v = self.sync.get(equip, (np.empty(0, np.int64), np.empty(0)))
        self.sync[equip] = (np.concatenate([old_t, tags]), np.concatenate([old_v, values]))

    # --- FacilityArchive -------------------------------------------------
    def newest_run(self, beamline: int) -> int:
        return max(self.runs, default=0) if beamline == self.beamline else 0

    def run_record(self, beamline: int, run: int) -> RunRecord:
        if beamline != self.beamline or run not in self.runs:
            raise KeyError(f"run {run} was never started on BL{beamline}")
        return self.runs[run].record

    def tags(self, beamline: int, run: int) -> np.ndarray:
        return self.runs[self.run_record(beamline, run).run].tags

    def equipment(self) -> dict[str, SignalInfo]:
        return dict(self.info)

    def sync_values(self, equipment: str, hightag: int, tags: np.ndarray) -> np.ndarray:
        if equipment not in self.sync:
            raise KeyError(f"unknown equipment {equipment!r}")
        if hightag != HIGHTAG:
            raise KeyError(f"no data under high tag {hightag}")
        known, values = self.sync[equipment]
        i = np.minimum(np.searchsorted(known, tags), len(known) - 1)
        bad = known[i] != tags
        if bad.any():
            raise KeyError(f"tag {int(tags[bad][0])} was never recorded")
        return values[i]

    def detector_ids(self, beamline: int, run: int) -> tuple[str, ...]:
        return self.run_record(beamline, run).detectors

    def detector_info(self, detector: str, beamline: int, run: int) -> dict[str, Any]:
        if detector not in self.detector_ids(beamline, run):
            raise KeyError(f"no detector {detector!r}")
        return {"xsize": self.xsize, "ysize": self.ysize, "mp_pixelsizex": 50.0,
                "mp_pixelsizey": 50.0, "mp_posx": 0.0, "mp_posy": 0.0, "mp_posz": 0.0,
                "mp_rotationangle": 0.0, "mp_absgain": 10_000 / (3.65 * self.adu_per_photon)}

    def frames(self, detector: str, beamline: int, run: int, tags: np.ndarray) -> np.ndarray:
        self.frame_calls += 1
        fake = self.runs[self.run_record(beamline, run).run]
        out = np.empty((len(tags), self.ysize, self.xsize), np.float32)
        for k, tag in enumerate(tags):
            if tag not in fake.tags:
                raise KeyError(f"tag {int(tag)} not in run {run}")
            g = np.random.default_rng([zlib.crc32(detector.encode()), int(tag)])
            photons = g.poisson(fake.photons_per_pixel, (self.ysize, self.xsize))
            noise = g.normal(0.0, READ_NOISE, (self.ysize, self.xsize))
            out[k] = PEDESTAL + noise + photons * self.adu_per_photon
        return out

    def photon_energy_kev(self, beamline: int, run: int) -> float:
        self.run_record(beamline, run)
        return 10.0


@pytest.fixture
def archive():
    """A fake facility with a dark run (101), a weak-beam run (102) and one running (103)."""
    fake = FakeArchive()
    fake.add_run(20, comment="dark")
    fake.add_run(30, photons_per_pixel=0.05, comment="weak beam")
    fake.add_run(5, status=2, photons_per_pixel=0.05, comment="running")
    with bound(fake):
        yield fake


@pytest.fixture(autouse=True)
def _fresh_binding():
    """Each test starts and ends with the API pointed at the default facility, unopened."""
    configure()
    yield
    configure()
    bind(None)
