"""The simulated DAQ: numbered runs whose shots arrive in vectorised blocks.

A run's shots are the beam tags after its start; with ``shots`` given, the
run status completes at the last one.  Faults (a detector dropout, a beam-loss
episode), known when the run starts or injected while it runs, end the status
early with their error; the shots keep being recorded (detector columns NaN after a dropout, no
X-rays during beam loss) until :meth:`SimDAQ.stop_run`.  Every block collected
is written to the facility (tags and image recipes; the sync DB's values come
from the recorded state time line) and the run table is rewritten, so other
processes see the run grow with status 2.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from expctl.devices.access import AccessLevel
from expctl.devices.protocols import RunRecord, ShotBlock
from expctl.devices.status import Status
from expctl.errors import (
    BeamLossError,
    DetectorDropoutError,
    ExpctlError,
    IllegalCommand,
    LimitError,
)
from sim.facility.store import FacilityStore

if TYPE_CHECKING:
    from sim.facility.states import StateRecorder
    from sim.world import SimWorld

__all__ = ["PUBLIC_KEYS", "SimDAQ"]

PUBLIC_KEYS = ("tag", "event_time", "lightStatus/xray", "lightStatus/laser", "pd_i0",
               "beam/pulse_energy")
DET_KEYS = ("ROI_0_sum", "ROI_1_sum", "photon_nPhot", "ROI_0_max", "ROI_0_nsat")
#: per-shot timing-tool columns (smalldata names), logged when the profile has one
TT_KEYS = ("tt/FLTPOS", "tt/FLTPOS_PS", "tt/AMPL", "tt/FLTPOSFWHM", "tt/ttCorr")
#: the unit of each column (detector keys without their detector), for the run files
UNITS = {"tag": "", "event_time": "s", "lightStatus/xray": "", "lightStatus/laser": "",
         "beam/pulse_energy": "uJ", "ROI_0_sum": "ADU", "ROI_1_sum": "ADU",
         "photon_nPhot": "photons", "ROI_0_max": "ADU", "ROI_0_nsat": "pixels",
         "tt/FLTPOS": "px", "tt/FLTPOS_PS": "ps", "tt/AMPL": "", "tt/FLTPOSFWHM": "px",
         "tt/ttCorr": "ps"}


@dataclass
class _Run:
    record: RunRecord
    end_tag: int | None
    full_frames: bool
    last_time: float
    pending: list[dict[str, np.ndarray]] = field(default_factory=list)
    leftover: ShotBlock | None = None
    status: Status | None = None
    end_time: float | None = None


class SimDAQ:
    """Run control of the simulated beamline.

    Args:
        world: the beamline's shared state and shot model.
        store: the facility store runs are written to.
        meta: what the archive needs to redraw images later (detector options, seed …).
        hightag, station: facility constants of the run table.
    """

    name = "daq"
    access = AccessLevel.USER

    def __init__(self, world: SimWorld, store: FacilityStore, recorder: StateRecorder,
                 meta: dict[str, Any], hightag: int, station: int) -> None:
        self._world = world
        self._store = store
        self._recorder = recorder
        self._meta = meta
        self.beamline = world.profile.beamline
        self.rate_hz = world.timeline.beam_rate_hz
        self.hightag = hightag
        self.station = station
        self._run: _Run | None = None
        self._leftover: ShotBlock | None = None
        self._meta_run: dict[str, Any] = {}
        self._dets = [m.name for m in world.detector_models]
        i0 = world.profile.devices.get("pd_i0")
        self._units = dict(UNITS, pd_i0=i0.units if i0 is not None else "pC") | {
            f"{d}/{k}": UNITS[k] for d in self._dets for k in DET_KEYS}

    @property
    def running(self) -> RunRecord | None:
        """The run in progress, if any."""
        return self._run.record if self._run is not None else None

    def start_run(self, shots: int | None, *, label: str = "", comment: str = "",
                  full_frames: bool = False) -> tuple[RunRecord, Status]:
        if self._run is not None:
            raise IllegalCommand("start a run", f"running run {self._run.record.run}",
                                 ["stop_run"])
        if shots is not None and int(shots) < 1:
            raise LimitError(f"a run needs at least one shot, got {shots}", device=self.name,
                             allowed="1 or more shots, or None for a run until stopped")
        world, tl = self._world, self._world.timeline
        now = world.clock.now()
        world.before_change(self.name)
        first = int(tl.beam_tags_after(now, 1)[0])
        end_tag = None if shots is None else first + tl.divider * (int(shots) - 1)
        record = RunRecord(
            run=0, beamline=self.beamline, hightag=self.hightag, start_tag=first,
            end_tag=None, start_time=float(tl.unix(now)), stop_time=None, status=2, shots=0,
            label=label, comment=comment, runtype="expctl",
            detectors=tuple(s for m in world.detector_models for s in m.sensor_ids),
            station=self.station)
        meta = dict(self._meta, photon_energy_kev=world.probe_energy_kev(), label=label)
        self._meta_run = meta
        record = self._store.open_run(record, meta, tl.ticks_at(now))  # numbers it
        self._run = _Run(record, end_tag, full_frames, now)
        self._recorder.flush(now, touch=False)  # open_run recorded the time
        if end_tag is None:
            return record, Status.done(self.name, now)
        end = float(tl.time_of(np.asarray([end_tag]))[0])
        return record, self._run_status(now, end)

    def _fault(self, now: float, end: float) -> tuple[float, ExpctlError] | None:
        """The first armed fault that strikes the run between ``now`` and ``end``."""
        world, tl = self._world, self._world.timeline
        run = self._run.record.run
        if (drop := world.faults.dropout_time(self._dets)) is not None and drop[1] <= end:
            return max(now, drop[1]), DetectorDropoutError(
                f"{drop[0]} stopped delivering frames during run {run}",
                device=drop[0], hint="Stop the run; clear the fault to continue.")
        if world.require_beam:
            off = world.beam_loss.first_loss(float(tl.facility_time(now)),
                                             float(tl.facility_time(end)))
            if off is not None:
                return max(now, off - float(tl.facility_time(0.0))), BeamLossError(
                    f"beam lost during run {run}", device="beam",
                    hint="Wait for the beam to return and repeat the run.")
        return None

    def _run_status(self, now: float, end: float) -> Status:
        self._run.end_time = end
        hit = self._fault(now, end)
        if hit is not None:
            status = Status(self.name, now, hit[0], error=hit[1])
        else:
            status = Status(self.name, now, end, timeout=end - now + self._world.timeout_margin)
        self._run.status = status
        return status

    def fault_injected(self) -> None:
        """A fault armed while a run is taking its shots fails the run where it strikes.

        The shots after that moment are recorded as the fault leaves them (no X-rays
        during beam loss, NaN detector columns after a dropout) by :meth:`sync`.
        """
        run = self._run
        if run is None or run.status is None or run.end_time is None:
            return
        now = self._world.clock.now()
        status = run.status
        if status.is_done(now) or status.error is not None:
            return
        hit = self._fault(now, run.end_time)
        if hit is not None and hit[0] < (status.deadline or math.inf):
            status.finish(hit[1], at=hit[0])

    def state_changing(self, now: float, device: str) -> None:
        """A device is about to change (a :class:`~sim.world.SimWorld` change listener)."""
        if self._run is not None:  # (a step scan changes a device at every point)
            self.sync()

    def sync(self) -> None:
        """Take the run's shots up to now with the current state (before anything changes)."""
        run = self._run
        if run is None:
            return
        world, tl = self._world, self._world.timeline
        now = world.clock.now()
        if now <= run.last_time:
            return
        tags = tl.beam_tags_between(run.last_time, now)
        if run.end_tag is not None:
            tags = tags[tags <= run.end_tag]
        run.last_time = now
        if len(tags) == 0:
            return
        times = tl.time_of(tags)
        data = world.shots(times, tags, acquired=True).materialise()
        for det, t_drop in world.faults.dropouts.items():
            if det in self._dets:
                gone = times >= t_drop
                for key in DET_KEYS:
                    data[f"{det}/{key}"] = np.where(gone, np.nan, data[f"{det}/{key}"])
        run.pending.append(data)

    def collect(self) -> ShotBlock | None:
        run = self._run
        if run is None:  # shots a stop_run() found uncollected, handed over once
            block, self._leftover = self._leftover, None
            return block
        self.sync()
        if not run.pending:
            return None
        data = {k: np.concatenate([p[k] for p in run.pending]) for k in run.pending[0]}
        run.pending.clear()
        self._persist(run, data)
        return self._block(run, data)

    def _persist(self, run: _Run, data: dict[str, np.ndarray]) -> None:
        cols = {"tag": data["tag"]}
        cols.update({k: v for k, v in data.items() if k.startswith("_recipe/")})
        self._store.append_sync(self.beamline, run.record.run, cols)
        rec = run.record
        run.record = replace(rec, shots=rec.shots + len(data["tag"]), end_tag=int(data["tag"][-1]))
        # the run-table entry is rewritten at start and stop only: readers count a running
        # run's shots from its appended rows (SimArchive.run_record)
        self._recorder.flush(self._world.clock.now(), touch=False)

    def _block(self, run: _Run, data: dict[str, np.ndarray]) -> ShotBlock:
        keys = list(PUBLIC_KEYS) + [f"{d}/{k}" for d in self._dets for k in DET_KEYS]
        if self._world.model.timing_tool is not None:
            keys += TT_KEYS
        frames: dict[str, np.ndarray] = {}
        sums: dict[str, np.ndarray] = {}
        if run.full_frames:
            seed = self._world.seed
            for model in self._world.detector_models:
                ns = len(model.sensors)
                stack = np.empty((len(data["tag"]), ns, 1024, 512), dtype=np.float32)
                for i, tag in enumerate(data["tag"].tolist()):
                    recipe = {k: v[i] for k, v in data.items() if k.startswith("_recipe/")}
                    model.render_all(seed, tag, recipe, out=stack[i])
                frames[model.name] = stack[:, 0] if ns == 1 else stack
                sums[model.name] = frames[model.name].sum(axis=0, dtype=np.float64)
        return ShotBlock(run.record.run, {k: data[k] for k in keys}, sums, frames,
                         {k: self._units[k] for k in keys})

    def stop_run(self, *, aborted: bool = False) -> RunRecord:
        run = self._run
        if run is None:
            raise IllegalCommand("stop a run", "idle", ["start_run"])
        self.sync()
        leftover = self.collect() if run.pending else None
        now = self._world.clock.now()
        tl = self._world.timeline
        comment = run.record.comment + (" (aborted)" if aborted else "")
        run.record = replace(run.record, status=0, stop_time=float(tl.unix(now)),
                             comment=comment.strip())
        self._store.save_run(run.record, self._meta_run, tl.ticks_at(now))
        self._recorder.flush(now, touch=False)  # the stopped run's entry holds the time
        self._leftover = leftover
        self._run = None
        return run.record

    def config(self) -> dict[str, Any]:
        world = self._world
        cfg: dict[str, Any] = {
            "rate_hz": self.rate_hz,
            "photon_energy_kev": world.probe_energy_kev(),
            "roi_sums": "pedestal-subtracted ADU (per-pixel pedestal map of the simulator)",
            "detectors": {},
        }
        for m in world.detector_models:
            cfg["detectors"][m.name] = {
                "rois": {k: list(v) for k, v in m.rois.items()},
                "adu_per_photon": [float(m.adu_per_photon(world.probe_energy_kev(), s))
                                   for s in range(len(m.sensors))],
                "sensor_ids": list(m.sensor_ids),
            }
        return cfg
