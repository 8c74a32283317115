"""The device contract: small runtime-checkable protocols any backend implements.

expctl talks to beamlines only through these; the simulator in ``sim/`` is one
implementation, a facility control system (EPICS, SACLA's MADOCA) would be
another.  Values are plain floats and strings in the device's declared units.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from expctl.devices.access import AccessLevel
from expctl.devices.limits import Limits
from expctl.devices.status import Status

if TYPE_CHECKING:
    import numpy as np

    from expctl.clock import Clock
    from expctl.devices.profile import Profile

__all__ = [
    "Beamline",
    "Checkable",
    "Device",
    "FacilityArchive",
    "FaultInjector",
    "HasSafeState",
    "Movable",
    "Readable",
    "Requestable",
    "RunControl",
    "RunRecord",
    "Settable",
    "ShotBlock",
    "SignalInfo",
    "SpotGrid",
    "Stoppable",
    "Supervised",
    "Switchable",
    "Triggerable",
]

Value = float | str


@dataclass(frozen=True, slots=True)
class SignalInfo:
    """What a readable signal is: its units, and (for facility logging) its equipment name."""

    units: str = ""
    equipment: str | None = None
    dtype: str = "float"


@runtime_checkable
class Device(Protocol):
    """Anything with a name and an access level."""

    name: str
    access: AccessLevel


@runtime_checkable
class Readable(Device, Protocol):
    """Reports its current value(s) as ``{signal_name: value}`` (a ``dict``, or a
    :class:`~expctl.devices.deferred.DeferredReading` whose values are computed when
    looked at)."""

    def read(self) -> Mapping[str, Value]: ...

    def describe(self) -> dict[str, SignalInfo]: ...


@runtime_checkable
class Checkable(Device, Protocol):
    """Can say, without acting, whether a target is acceptable (raises LimitError)."""

    limits: Limits
    units: str

    def check_value(self, value: Value) -> None: ...


@runtime_checkable
class Settable(Checkable, Readable, Protocol):
    """Can be driven to a value; the returned status completes when it is there."""

    def set(self, value: Value) -> Status: ...


@runtime_checkable
class Movable(Settable, Protocol):
    """A continuous axis (motor, delay, pseudo-axis) with a numeric position."""

    @property
    def position(self) -> float: ...


@runtime_checkable
class Switchable(Settable, Protocol):
    """A device with named states (shutter open/closed, PD gain low/mid/high)."""

    states: tuple[str, ...]

    @property
    def state(self) -> str: ...


@runtime_checkable
class Stoppable(Device, Protocol):
    """Motion can be stopped now (immediate pause, abort)."""

    def stop(self) -> None: ...


@runtime_checkable
class Triggerable(Device, Protocol):
    """Acquires on demand, e.g. a detector integrating ``shots`` shots (``ct``)."""

    def trigger(self, shots: int = 1) -> Status: ...


@runtime_checkable
class HasSafeState(Device, Protocol):
    """Declares the value it must take when the engine pauses or aborts (or None)."""

    safe_value: Value | None


@runtime_checkable
class Requestable(Readable, Protocol):
    """An accelerator parameter: it can only be *requested*.

    The request is applied after a latency (the status completes then), or
    refused: :class:`~expctl.errors.AccessError` at once when the requester may
    not ask, a failed status (:class:`~expctl.errors.RequestRefusedError`) when
    the accelerator declines (outside its envelope, fault injected).
    """

    limits: Limits
    units: str

    def check_value(self, value: Value) -> None: ...

    def request(self, value: Value, requester: AccessLevel = AccessLevel.USER) -> Status: ...

    @property
    def pending(self) -> Value | None: ...


@dataclass(frozen=True, slots=True)
class SpotGrid:
    """Sample spots on a plate: positions in the stage's units, row-major index.

    Spots closer than ``margin`` to the plate edge are excluded by the backend
    when it builds the grid; ``index`` identifies a spot for the journal.
    """

    x_axis: str
    y_axis: str
    xs: tuple[float, ...]
    ys: tuple[float, ...]
    units: str = "mm"

    def __len__(self) -> int:
        return len(self.xs) * len(self.ys)

    def position(self, index: int) -> tuple[float, float]:
        """Stage coordinates of spot ``index`` (row-major over ys, then xs)."""
        row, col = divmod(index, len(self.xs))
        return self.xs[col], self.ys[row]

    @classmethod
    def on_plate(cls, x_axis: str, y_axis: str, plate: tuple[float, float, float, float],
                 pitch: float, margin: float, units: str = "mm") -> SpotGrid:
        """Spot centres on a ``pitch`` lattice at least ``margin`` inside ``plate``
        ``(x0, x1, y0, y1)``: how a profile's ``spot_grids`` entry becomes a grid."""
        import numpy as np

        x0, x1, y0, y1 = (float(v) for v in plate)
        xs = np.arange(x0 + margin, x1 - margin + 1e-9, pitch)
        ys = np.arange(y0 + margin, y1 - margin + 1e-9, pitch)
        return cls(x_axis, y_axis, tuple(np.round(xs, 9).tolist()),
                   tuple(np.round(ys, 9).tolist()), units)


@dataclass(frozen=True, slots=True)
class RunRecord:
    """A run as the facility's run table knows it (dbpy's ``read_runinfo``)."""

    run: int
    beamline: int
    hightag: int
    start_tag: int
    end_tag: int | None
    start_time: float
    stop_time: float | None
    status: int  # -1 does not exist, 0 stopped, 1 paused, 2 running
    shots: int
    label: str = ""
    comment: str = ""
    runtype: str = "expctl"
    detectors: tuple[str, ...] = ()
    station: int = 1  # experimental station (hutch) number, dbpy's ``stationnumber``


@dataclass(frozen=True, slots=True)
class ShotBlock:
    """Per-shot data of consecutive shots of one run, produced in one vectorised call.

    ``data`` maps small-data names to arrays whose first dimension is the
    number of shots: ``tag``, ``event_time``, ``lightStatus/xray``,
    ``lightStatus/laser``, I0 monitors such as ``pd_i0``, detector reductions
    such as ``mpccd/ROI_0_sum`` and ``mpccd/photon_nPhot``.  ``sums`` holds
    per-detector image sums over the block (``Sums/``), possibly empty;
    ``frames`` full images only when they were asked for; ``units`` the unit of
    each ``data`` column the DAQ knows it for (``{"pd_i0": "pC"}``; run files
    carry it as the dataset's ``units`` attribute).
    """

    run: int
    data: Mapping[str, np.ndarray]
    sums: Mapping[str, np.ndarray] = field(default_factory=dict)
    frames: Mapping[str, np.ndarray] = field(default_factory=dict)
    units: Mapping[str, str] = field(default_factory=dict)

    def __len__(self) -> int:
        tags = self.data.get("tag")
        return 0 if tags is None else len(tags)


@runtime_checkable
class RunControl(Device, Protocol):
    """The DAQ: starts and stops numbered runs and hands over their shots in blocks."""

    beamline: int
    rate_hz: float

    def start_run(self, shots: int | None, *, label: str = "", comment: str = "",
                  full_frames: bool = False) -> tuple[RunRecord, Status]:
        """Begin a run; the status completes when ``shots`` shots have been taken."""
        ...

    def collect(self) -> ShotBlock | None:
        """Shots of the current run taken since the last call (up to the clock's now)."""
        ...

    def stop_run(self, *, aborted: bool = False) -> RunRecord:
        """End the current run (status 0); the run table keeps it forever."""
        ...

    def config(self) -> dict[str, Any]:
        """Reduction settings (ROIs, thresholds, pedestal source) for ``UserDataCfg``."""
        ...


@runtime_checkable
class FacilityArchive(Protocol):
    """The facility's stores as dbpy/stpy see them: run table, sync 0-D DB, detector storage.

    Every read reflects what other processes have written so far (a run in
    progress shows status 2 and the tags taken until now).  Lookups of things
    that do not exist (run, tag, equipment, detector) raise ``KeyError`` (or a
    :class:`~expctl.errors.DataError`) naming what was missing; expctl.compat
    turns either into ``dbpy.APIError``.
    """

    def newest_run(self, beamline: int) -> int:
        """Number of the newest run of ``beamline`` (running or not); 0 when it has none."""
        ...

    def run_record(self, beamline: int, run: int) -> RunRecord:
        """The run table entry; ``KeyError`` for a run never started on ``beamline``."""
        ...

    def tags(self, beamline: int, run: int) -> np.ndarray:
        """Tags of the run's shots (int64, increasing), so far for a running run."""
        ...

    def equipment(self) -> dict[str, SignalInfo]:
        """Every 0-D equipment name of the sync DB with its units (``SignalInfo.units``)."""
        ...

    def sync_values(self, equipment: str, hightag: int, tags: np.ndarray) -> np.ndarray:
        """float64 values in ``tags`` order; NaN where the signal did not converge.

        ``KeyError`` for unknown equipment, high tag or a tag never recorded.
        """
        ...

    def detector_ids(self, beamline: int, run: int) -> tuple[str, ...]:
        """Facility detector ids of the run, one per sensor (``MPCCD-8N0-3-002-1`` … ``-8``)."""
        ...

    def detector_info(self, detector: str, beamline: int, run: int) -> dict[str, Any]:
        """Geometry and gain of one sensor, with the facility's keys.

        At least ``xsize``, ``ysize`` (pixels), ``mp_pixelsizex``, ``mp_pixelsizey``,
        ``mp_posx``, ``mp_posy``, ``mp_posz`` (µm), ``mp_rotationangle`` (degrees)
        and ``mp_absgain`` (electrons per ADU); ``KeyError`` for an unknown detector.
        """
        ...

    def frames(self, detector: str, beamline: int, run: int, tags: np.ndarray) -> np.ndarray:
        """Images of ``tags`` as an (n, ysize, xsize) ADU array; same tag, same image."""
        ...

    def photon_energy_kev(self, beamline: int, run: int) -> float:
        """The configured (nominal) photon energy of the run in keV."""
        ...


@runtime_checkable
class FaultInjector(Protocol):
    """Turns faults on for tests and rehearsals: stall, timeout, dropout, beam loss, refusal."""

    def inject(self, kind: str, target: str | None = None, **options: Any) -> None: ...

    def clear(self) -> None: ...


@runtime_checkable
class Supervised(Protocol):
    """A beamline whose backend knows conditions data taking needs, such as "every PV of
    the control system connected".  Each condition has the engine's suspender shape
    (``settle`` seconds and ``reason(devices) -> str | None``); sessions install them."""

    def conditions(self) -> Sequence[Any]: ...


@runtime_checkable
class Beamline(Protocol):
    """A connected beamline: devices by name, the DAQ, the facility's archive."""

    profile: Profile
    clock: Clock
    devices: Mapping[str, Device]
    daq: RunControl
    archive: FacilityArchive | None
    faults: FaultInjector
    spot_grids: Mapping[str, SpotGrid]
    data_dir: Path | None

    def estimator_copy(self) -> Beamline:
        """A simulated twin in the same state, on a VirtualClock, persisting nothing."""
        ...

    def mount_sample(self, grid: str, name: str) -> None:
        """Say which sample (by its registry name) is on spot grid ``grid`` now.

        A simulator restores that sample's damage from earlier sessions and keeps new
        damage with it; hardware has nothing to do.
        """
        ...

    def close(self) -> None: ...
