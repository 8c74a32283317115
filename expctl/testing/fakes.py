"""Small, deterministic fake devices and a fake beamline on an injected clock.

They implement the :mod:`expctl.devices.protocols` contract with analytic
completion times (like the simulator) but no physics: a Gaussian rocking
curve around a known center, a constant I0, beam-loss windows, a DAQ whose
run numbers persist in a file, so engine behaviour can be tested exactly.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from expctl.clock import Clock, VirtualClock
from expctl.devices.access import AccessLevel
from expctl.devices.limits import Limits
from expctl.devices.profile import DaqSpec, DeviceSpec, Profile, Roles, SpotGridSpec
from expctl.devices.protocols import RunRecord, ShotBlock, SignalInfo, SpotGrid
from expctl.devices.status import Status
from expctl.errors import (
    ArgumentError,
    ExpctlError,
    LimitError,
    MotorStallError,
    RequestRefusedError,
)

__all__ = [
    "FakeAccelParam",
    "FakeBeam",
    "FakeBeamline",
    "FakeDAQ",
    "FakeDetector",
    "FakeFaults",
    "FakeMonitor",
    "FakeMotor",
    "FakeSwitch",
    "make_fake_beamline",
]


class FakeMotor:
    """A motor moving at ``velocity`` (instantly when ``None``); stoppable; stall on demand."""

    def __init__(self, name: str, clock: Clock, *, units: str = "mm",
                 limits: Limits | None = None, velocity: float | None = None,
                 position: float = 0.0, access: AccessLevel = AccessLevel.USER) -> None:
        self.name = name
        self.units = units
        self.limits = limits or Limits(units=units)
        self.access = access
        self.velocity = velocity
        self.safe_value = None
        self._clock = clock
        self._from = self._to = float(position)
        self._t0 = self._t1 = clock.now()
        self.stall_next: ExpctlError | None = None
        self.moves = 0

    @property
    def position(self) -> float:
        now = self._clock.now()
        if now >= self._t1:
            return self._to
        frac = (now - self._t0) / (self._t1 - self._t0)
        return self._from + (self._to - self._from) * frac

    def check_value(self, value: float | str) -> None:
        self.limits.check(self.name, value)

    def set(self, value: float | str) -> Status:
        target = float(value)
        now = self._clock.now()
        start = self.position
        duration = 0.0 if not self.velocity else abs(target - start) / self.velocity
        self.moves += 1
        err, self.stall_next = self.stall_next, None
        if err is not None:
            target = start + (target - start) / 2
        self._from, self._to, self._t0, self._t1 = start, target, now, now + duration
        return Status(self.name, now, now + duration, error=err)

    def stop(self) -> None:
        here = self.position
        self._from = self._to = here
        self._t0 = self._t1 = self._clock.now()

    def read(self) -> dict[str, float | str]:
        return {self.name: self.position}

    def describe(self) -> dict[str, SignalInfo]:
        return {self.name: SignalInfo(self.units)}


class FakeSwitch:
    """A device with named states (shutter, PD gain) or discrete values (attenuator)."""

    def __init__(self, name: str, clock: Clock, choices: Iterable[Any], value: Any, *,
                 units: str = "", settle: float = 0.0, safe_value: Any = None,
                 access: AccessLevel = AccessLevel.USER) -> None:
        self.name = name
        self.units = units
        self.states = tuple(choices)
        self.limits = Limits(units=units, choices=self.states)
        self.access = access
        self.safe_value = safe_value
        self.settle = settle
        self._clock = clock
        self.value = value
        self.history: list[Any] = []

    @property
    def state(self) -> str:
        return str(self.value)

    def check_value(self, value: float | str) -> None:
        self.limits.check(self.name, value)

    def set(self, value: float | str) -> Status:
        self.value = value
        self.history.append(value)
        now = self._clock.now()
        return Status(self.name, now, now + self.settle)

    def read(self) -> dict[str, float | str]:
        return {self.name: self.value}

    def describe(self) -> dict[str, SignalInfo]:
        return {self.name: SignalInfo(self.units, dtype="str")}


class FakeAccelParam:
    """An accelerator parameter: applied ``latency`` s after a request, or refused."""

    def __init__(self, name: str, clock: Clock, value: Any, *, units: str = "",
                 limits: Limits | None = None, latency: float = 1.0,
                 safe_value: Any = None) -> None:
        self.name = name
        self.units = units
        self.limits = limits or Limits(units=units)
        self.access = AccessLevel.ACCELERATOR
        self.safe_value = safe_value
        self.latency = latency
        self._clock = clock
        self._value = value
        self._pending: tuple[Any, float] | None = None
        self.refuse_next = False
        self.requests: list[Any] = []

    def _settle(self) -> None:
        if self._pending is not None and self._clock.now() >= self._pending[1]:
            self._value = self._pending[0]
            self._pending = None

    @property
    def pending(self) -> Any:
        self._settle()
        return None if self._pending is None else self._pending[0]

    @property
    def value(self) -> Any:
        self._settle()
        return self._value

    def check_value(self, value: float | str) -> None:
        self.limits.check(self.name, value)

    def request(self, value: float | str, requester: AccessLevel = AccessLevel.USER) -> Status:
        now = self._clock.now()
        self.requests.append(value)
        if self.refuse_next:
            self.refuse_next = False
            return Status.failed(self.name, now, RequestRefusedError(
                f"accelerator refused {self.name} = {value}", device=self.name))
        self._pending = (value, now + self.latency)
        return Status(self.name, now, now + self.latency)

    def read(self) -> dict[str, float | str]:
        return {self.name: self.value}

    def describe(self) -> dict[str, SignalInfo]:
        return {self.name: SignalInfo(self.units)}


class FakeBeam:
    """Beam status 1, or 0 inside any of the ``outages`` (start, end) windows."""

    def __init__(self, clock: Clock, outages: Iterable[tuple[float, float]] = (),
                 name: str = "beam") -> None:
        self.name = name
        self.access = AccessLevel.USER
        self._clock = clock
        self.outages = list(outages)

    def on(self, t: float | None = None) -> bool:
        t = self._clock.now() if t is None else t
        return not any(a <= t < b for a, b in self.outages)

    def read(self) -> dict[str, float | str]:
        return {self.name: 1.0 if self.on() else 0.0}

    def describe(self) -> dict[str, SignalInfo]:
        return {self.name: SignalInfo("")}


class FakeMonitor:
    """An I0 monitor: a constant charge in pC (zero without beam)."""

    def __init__(self, name: str, beam: FakeBeam, charge: float = 100.0) -> None:
        self.name = name
        self.access = AccessLevel.USER
        self.charge = charge
        self._beam = beam

    def read(self) -> dict[str, float | str]:
        return {self.name: self.charge if self._beam.on() else 0.0}

    def describe(self) -> dict[str, SignalInfo]:
        return {self.name: SignalInfo("pC")}


class FakeDetector:
    """Counts a Gaussian rocking curve of ``axis`` (center, fwhm, peak) per shot at ``rate_hz``."""

    def __init__(self, name: str, clock: Clock, axis: FakeMotor, beam: FakeBeam, *,
                 center: float = 11.4, fwhm: float = 0.002, peak: float = 1000.0,
                 background: float = 10.0, rate_hz: float = 30.0) -> None:
        self.name = name
        self.access = AccessLevel.USER
        self.center, self.fwhm, self.peak, self.background = center, fwhm, peak, background
        self.rate_hz = rate_hz
        self._clock = clock
        self._axis = axis
        self._beam = beam
        self._last = 0.0
        self.triggers = 0

    def signal(self, x: float) -> float:
        """Mean counts per shot at axis position ``x``."""
        s = self.fwhm / (2 * math.sqrt(2 * math.log(2)))
        return self.background + self.peak * math.exp(-0.5 * ((x - self.center) / s) ** 2)

    def trigger(self, shots: int = 1) -> Status:
        now = self._clock.now()
        self.triggers += 1
        self._last = self.signal(self._axis.position) if self._beam.on() else 0.0
        return Status(self.name, now, now + shots / self.rate_hz)

    def read(self) -> dict[str, float | str]:
        return {self.name: self._last, f"{self.name}.roi0": self._last,
                f"{self.name}.nphot": self._last}

    def describe(self) -> dict[str, SignalInfo]:
        return {k: SignalInfo("ADU") for k in (self.name, f"{self.name}.roi0",
                                                f"{self.name}.nphot")}


class FakeDAQ:
    """Run control at ``rate_hz``; run numbers persist in ``counter_file`` across processes."""

    def __init__(self, clock: Clock, beam: FakeBeam, *, rate_hz: float = 30.0,
                 beamline: int = 3, counter_file: Path | None = None) -> None:
        self.name = "daq"
        self.access = AccessLevel.USER
        self.beamline = beamline
        self.rate_hz = rate_hz
        self._clock = clock
        self._beam = beam
        self._counter_file = counter_file
        self._next = 1
        self._run: RunRecord | None = None
        self._collected = 0
        self._shots: int | None = None
        self._t0 = 0.0
        self.records: list[RunRecord] = []
        self.dropout_next: ExpctlError | None = None

    def _allocate(self) -> int:
        if self._counter_file is None:
            n, self._next = self._next, self._next + 1
            return n
        path = self._counter_file
        n = json.loads(path.read_text())["next"] if path.exists() else 1
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"next": n + 1}))
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
        return n

    def start_run(self, shots: int | None, *, label: str = "", comment: str = "",
                  full_frames: bool = False) -> tuple[RunRecord, Status]:
        now = self._clock.now()
        run = self._allocate()
        self._t0 = now
        self._collected = 0
        self._shots = shots
        self._run = RunRecord(run, self.beamline, 202601, run * 100_000, None, now, None, 2,
                              0, label, comment, detectors=("mpccd",))
        err, self.dropout_next = self.dropout_next, None
        end = None if shots is None else now + shots / self.rate_hz
        if err is not None and end is not None:
            return self._run, Status("daq", now, now + (end - now) / 2, error=err)
        return self._run, Status("daq", now, end)

    def _shots_until(self, t: float) -> int:
        return int(math.floor((t - self._t0) * self.rate_hz + 1e-9))

    def collect(self) -> ShotBlock | None:
        if self._run is None:
            return None
        total = self._shots_until(self._clock.now())
        if self._shots is not None:
            total = min(total, self._shots)
        n = total - self._collected
        if n <= 0:
            return None
        idx = np.arange(self._collected, total)
        times = self._t0 + (idx + 1) / self.rate_hz
        xray = np.array([1 if self._beam.on(t) else 0 for t in times], dtype=np.int8)
        tags = self._run.start_tag + 2 * idx
        self._collected = total
        return ShotBlock(self._run.run, {"tag": tags, "event_time": times,
                                         "lightStatus/xray": xray})

    def stop_run(self, *, aborted: bool = False) -> RunRecord:
        if self._run is None:
            raise LimitError("no run in progress", device="daq")
        now = self._clock.now()
        r = self._run
        done = RunRecord(r.run, r.beamline, r.hightag, r.start_tag,
                         r.start_tag + 2 * max(self._collected - 1, 0), r.start_time, now, 0,
                         self._collected, r.label, r.comment, detectors=r.detectors)
        self._run = None
        self.records.append(done)
        return done

    def config(self) -> dict[str, Any]:
        return {"rate_hz": self.rate_hz}


@dataclass
class FakeFaults:
    """Fault injection for the fakes: ``stall`` (motor), ``refuse`` (request), ``dropout``."""

    beamline: FakeBeamline
    injected: list[tuple[str, str | None]] = field(default_factory=list)

    def inject(self, kind: str, target: str | None = None, **options: Any) -> None:
        dev = self.beamline.devices.get(target or "")
        if kind == "stall" and isinstance(dev, FakeMotor):
            dev.stall_next = MotorStallError(f"{target} stalled", device=target)
        elif kind == "refuse" and isinstance(dev, FakeAccelParam):
            dev.refuse_next = True
        elif kind == "dropout":
            from expctl.errors import DetectorDropoutError

            self.beamline.daq.dropout_next = DetectorDropoutError("mpccd dropped out",
                                                                  device="mpccd")
        elif kind == "beam_loss":
            start = float(options.get("start", self.beamline.clock.now()))
            self.beamline.beam.outages.append((start, start + float(options["duration"])))
        else:
            raise ArgumentError(f"fake beamline cannot inject {kind!r} on {target!r}",
                                allowed="stall, refuse, dropout, beam_loss")
        self.injected.append((kind, target))

    def clear(self) -> None:
        self.injected.clear()


class FakeBeamline:
    """A bl3-shaped beamline of fakes (same device names as the real profile)."""

    def __init__(self, clock: Clock, *, data_dir: Path | None = None,
                 velocity: float | None = None, outages: Iterable[tuple[float, float]] = (),
                 spots: tuple[int, int] = (10, 10), theta_center: float = 11.4) -> None:
        self.clock = clock
        self.data_dir = data_dir
        self._options = {"velocity": velocity, "spots": spots, "theta_center": theta_center}
        self.beam = FakeBeam(clock, outages)
        mm = Limits(-10.0, 10.0, "mm")
        motors = [
            FakeMotor("sample_x", clock, limits=mm, velocity=velocity),
            FakeMotor("sample_y", clock, limits=mm, velocity=velocity),
            FakeMotor("theta", clock, units="deg", limits=Limits(0.0, 45.0, "deg"),
                      velocity=velocity and velocity / 10, position=theta_center),
            FakeMotor("mono_energy", clock, units="keV", limits=Limits(4.0, 20.0, "keV"),
                      position=10.0, access=AccessLevel.STAFF),
        ]
        devices: dict[str, Any] = {m.name: m for m in motors}
        devices["xray_shutter"] = FakeSwitch("xray_shutter", clock, ("open", "closed"), "closed",
                                             settle=0.1, safe_value="closed")
        devices["attenuator"] = FakeSwitch("attenuator", clock,
                                           (0.0, 50.0, 100.0, 200.0, 400.0, 800.0, 1600.0), 0.0,
                                           units="um", settle=0.5)
        devices["pd_gain"] = FakeSwitch("pd_gain", clock, ("low", "mid", "high"), "low")
        devices["beam"] = self.beam
        devices["pd_i0"] = FakeMonitor("pd_i0", self.beam)
        devices["mpccd"] = FakeDetector("mpccd", clock, motors[2], self.beam,
                                        center=theta_center)
        devices["pump"] = FakeAccelParam("pump", clock, "off", limits=Limits(
            choices=("on", "off")), latency=2.0, safe_value="off")
        devices["pump_delay"] = FakeAccelParam("pump_delay", clock, 0.0, units="ps",
                                               limits=Limits(-10.0, 100.0, "ps"), latency=1.0)
        self.devices: dict[str, Any] = devices
        counter = None if data_dir is None else Path(data_dir) / "fake_runs.json"
        if counter is not None:
            counter.parent.mkdir(parents=True, exist_ok=True)
        self.daq = FakeDAQ(clock, self.beam, counter_file=counter)
        self.archive = None
        self.faults = FakeFaults(self)
        nx, ny = spots
        self.mounted: dict[str, str] = {}
        self.spot_grids = {"sample": SpotGrid("sample_x", "sample_y",
                                              tuple(-4.5 + i for i in range(nx)),
                                              tuple(-4.5 + j for j in range(ny)))}
        self.profile = Profile("fake", "fake", 3, 0, {
            name: DeviceSpec(name, type(dev).__name__, getattr(dev, "units", ""),
                             getattr(dev, "limits", Limits()), dev.access,
                             getattr(dev, "safe_value", None))
            for name, dev in devices.items()}, {}, {},
            roles=Roles(theta="theta", energy="mono_energy", shutter="xray_shutter",
                        attenuator="attenuator", pd_gain="pd_gain", i0="pd_i0", beam="beam",
                        pump="pump", delays=("pump_delay",)),
            daq=DaqSpec(detectors=("mpccd",)),
            spot_grids={"sample": SpotGridSpec("sample", "sample_x", "sample_y")})

    def estimator_copy(self) -> FakeBeamline:
        """A twin on a virtual clock at the same time, devices in the same state."""
        twin = FakeBeamline(VirtualClock(self.clock.now(), self.clock.epoch), data_dir=None,
                            outages=self.beam.outages, **self._options)  # type: ignore[arg-type]
        for name, dev in self.devices.items():
            other = twin.devices[name]
            if isinstance(dev, FakeMotor):
                other._from = other._to = dev.position
            elif isinstance(dev, FakeSwitch):
                other.value = dev.value
            elif isinstance(dev, FakeAccelParam):
                other._value, other._pending = dev._value, dev._pending
        twin.daq._next = 10_000
        return twin

    def mount_sample(self, grid: str, name: str) -> None:
        """Remember which sample is mounted (fakes keep no damage)."""
        self.mounted[grid] = name

    def close(self) -> None:
        """Nothing to release."""


def make_fake_beamline(clock: Clock | None = None, data_dir: Path | None = None,
                       **options: Any) -> FakeBeamline:
    """A bl3-shaped fake beamline on ``clock`` (a fresh VirtualClock by default)."""
    return FakeBeamline(clock or VirtualClock(), data_dir=data_dir, **options)

