"""Devices as Python objects for IPython users: ``theta.wm()``, ``theta.umv("11.41 deg")``.

:func:`connect` opens a :class:`~expctl.session.Session` and returns a
:class:`Console` — the session's devices as attributes, plus SPEC's verbs as
methods — so an IPython user works as at the console::

    from expctl.namespace import connect
    bl = connect("bl3")
    bl.theta.wm()
    bl.open()
    bl.dscan(bl.theta, "-10 mdeg", "10 mdeg", 20)     # rows as points arrive
    bl.cen()
    globals().update(bl.devices)                       # then: theta.umvr("2 mdeg")

Nothing here touches a device directly: every move, set and scan runs as a plan
on the session's engine, so limits (of every point, before the first move),
access levels and the run log apply exactly as in sequences and the shell.  A
device object has no way around them (a ``set`` here is the engine's).  Numbers
are in each device's own units; quantities (``"20 mdeg"``, ``Quantity``) are
converted.  Ctrl-C during a command stops it at once (motion stopped where it
is; a relative scan returns to its start); a second Ctrl-C aborts.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from expctl.errors import ExpctlError, IllegalCommand, UserError

if TYPE_CHECKING:
    from expctl.engine import Engine, Estimate, RunSummary
    from expctl.plans.actions import Plan
    from expctl.session import Session

__all__ = ["Console", "DeviceProxy", "connect"]

Target = float | str | Any  # a number in the device's units, or a quantity


def connect(profile: str | Path = "bl3", data_dir: Path | str | None = None, **options: Any
            ) -> Console:
    """Open a session on ``profile`` and return its console namespace.

    ``options`` are :meth:`Session.open`'s (``seed``, ``speed``, ``access`` …).
    """
    from expctl.session import Session

    return Console(Session.open(profile, data_dir, **options))


class DeviceProxy:
    """One device: where it is, and moving or setting it through the engine."""

    def __init__(self, console: Console, name: str) -> None:
        self._console = console
        self.name = name

    @property
    def spec(self) -> Any:
        return self._console.session.profile.devices[self.name]

    def read(self) -> dict[str, Any]:
        """The device's reading (``{signal: value}``)."""
        device: Any = self._console.session.beamline.devices[self.name]
        return dict(device.read())

    @property
    def value(self) -> Any:
        """The device's own value (position, state) now."""
        return self.read().get(self.name)

    def wm(self) -> Any:
        """Print (and return) where the device is, with units and limits."""
        row = self._console.session.where()[self.name]
        value = row["value"]
        shown = f"{value:.6g}" if isinstance(value, float) else str(value)
        units = f" {row['units']}" if row["units"] and isinstance(value, int | float) else ""
        limits = f"  limits {row['limits']}" if row["limits"] else ""
        print(f"{self.name} {shown}{units}{limits}")
        return value

    def mv(self, target: Target) -> None:
        """Move (or set) to ``target``."""
        self._console.mv({self.name: target})

    def umv(self, target: Target) -> Any:
        """Move to ``target`` and print where the device ended (SPEC's ``umv``)."""
        return self._console.mv({self.name: target}, report=True)[self.name]

    def mvr(self, step: Target) -> None:
        """Move by ``step``."""
        self._console.mvr({self.name: step})

    def umvr(self, step: Target) -> Any:
        """Move by ``step`` and print where the device ended."""
        return self._console.mvr({self.name: step}, report=True)[self.name]

    def set(self, value: Target) -> None:
        """Set the device (through the engine: limits and access checked)."""
        self._console.mv({self.name: value})

    def __repr__(self) -> str:
        spec = self.spec
        try:
            value = self.value
        except ExpctlError as exc:
            value = f"unreadable: {exc.message}"
        shown = f"{value:.6g}" if isinstance(value, float) else str(value)
        units = f" {spec.units}" if spec.units and isinstance(value, int | float) else ""
        return f"<{self.name}: {shown}{units} ({spec.kind})>"


class Console:
    """A session's devices as attributes and SPEC's verbs as methods (see the module).

    Args:
        session: the open session (its engine runs every command).
        printer: prints scan rows (``print`` by default).
    """

    def __init__(self, session: Session, printer: Callable[[str], None] = print) -> None:
        from expctl.runlog.scans import scan_file
        from expctl.ui.scanview import ScanPrinter

        self.session = session
        self._devices = {name: DeviceProxy(self, name) for name in session.profile.devices}
        session.bus.subscribe(ScanPrinter(
            printer, _terminal_width,
            where=lambda n: str(scan_file(session.data_dir, n))))

    @property
    def devices(self) -> dict[str, DeviceProxy]:
        """``{name: device}``, e.g. for ``globals().update(bl.devices)``."""
        return dict(self._devices)

    def __getattr__(self, name: str) -> DeviceProxy:
        devices = self.__dict__.get("_devices", {})
        if name in devices:
            return devices[name]
        raise AttributeError(f"{type(self).__name__} has no device or command {name!r}")

    def __dir__(self) -> list[str]:  # IPython's tab completion offers the devices
        return sorted(set(super().__dir__()) | set(self._devices))

    # -- running ---------------------------------------------------------------------------
    def run(self, plan: Callable[[], Plan]) -> RunSummary:
        """Run any plan (a function making it): rehearsed first, Ctrl-C stops it."""
        engine = self.session.engine
        with self.session_control(), _stop_on_ctrl_c(engine):
            summary = self.session.run_plan(plan)
        if summary.outcome != "completed":
            print(f"{summary.outcome}")
        return summary

    @contextmanager
    def session_control(self) -> Iterator[None]:
        """The session's control of the beamline while a command runs (if it has one)."""
        control = getattr(self.session, "control", None)
        if control is None:
            yield
            return
        with control("expctl.namespace"):
            yield

    def rehearse(self, plan: Callable[[], Plan]) -> Estimate:
        """Rehearse a plan on the simulated twin: duration and problems, nothing moves."""
        return self.session.rehearse(plan)

    # -- motion ----------------------------------------------------------------------------
    def mv(self, targets: Mapping[str | DeviceProxy, Target], *, report: bool = False
           ) -> dict[str, Any]:
        """Move (or set, or request from the accelerator) several devices at once; returns
        where they are afterwards."""
        from expctl.devices.access import AccessLevel
        from expctl.plans.stubs import mv, put, request

        named = {_name(k): v for k, v in targets.items()}
        specs = self.session.profile.devices
        asked = {n: v for n, v in named.items()
                 if n in specs and specs[n].access is AccessLevel.ACCELERATOR}
        axes = {n: v for n, v in named.items() if n not in asked and self._is_axis(n)}
        others = {n: v for n, v in named.items() if n not in axes and n not in asked}

        def plan() -> Plan:
            for name, value in asked.items():
                yield from request(name, value)
            for name, value in others.items():
                yield from put(name, value)
            if axes:
                yield from mv(axes)

        self.run(plan)
        return self._report(named, report)

    def mvr(self, steps: Mapping[str | DeviceProxy, Target], *, report: bool = False
            ) -> dict[str, Any]:
        """Move axes by steps at once; returns where they are afterwards."""
        from expctl.plans.stubs import mvr

        named = {_name(k): v for k, v in steps.items()}
        self.run(lambda: mvr(named))
        return self._report(named, report)

    def _report(self, names: Mapping[str, Any], show: bool) -> dict[str, Any]:
        where = {n: self._devices[n].value for n in names}
        if show:
            specs = self.session.profile.devices
            print("  ".join(f"{n} {v:.6g} {specs[n].units}".rstrip()
                            if isinstance(v, float) else f"{n} {v}" for n, v in where.items()))
        return where

    def _is_axis(self, name: str) -> bool:
        """A device with positions (moved, in parallel with the others) rather than states."""
        from expctl.sequence.devices import is_settable

        spec = self.session.profile.devices.get(name)
        if spec is None:
            raise UserError(f"no device called {name!r}", device=name,
                            allowed=", ".join(self._devices))
        return is_settable(spec) and spec.limits.choices is None

    def open(self) -> None:
        """Open the profile's shutter."""
        self.mv({self.session.profile.roles.require("shutter"): "open"})

    def close(self) -> None:
        """Close the profile's shutter."""
        self.mv({self.session.profile.roles.require("shutter"): "closed"})

    def wa(self) -> None:
        """Every device with value, units, limits and access."""
        from rich.console import Console as RichConsole

        from expctl.ui.views import print_devices

        print_devices(RichConsole(highlight=False), self.session.where())

    # -- counting and scans ----------------------------------------------------------------
    def _counters(self) -> dict[str, Any]:
        """The profile's detectors and I0, and the beam monitor (each point keeps the
        pulse energy), as the console reads them."""
        from expctl.plans.procedures import PumpProbeSettings

        s = PumpProbeSettings.from_profile(self.session.profile)
        beam = self.session.profile.roles.beam
        read = s.rock_read + ((beam,) if beam and beam not in s.rock_read else ())
        return {"read": read, "signal": s.rock_signal, "i0": s.rock_i0}

    def _shots(self, count: float | None) -> int:
        if count is None:
            return 1
        seconds = float(count)
        if seconds <= 0:
            raise UserError(f"the count time must be positive, got {count!r}")
        return max(1, round(seconds * self.session.profile.daq.rate_hz))

    def ct(self, seconds: float = 1.0) -> dict[str, dict[str, float]]:
        """Count shot by shot; prints and returns mean ± σ per signal and the normalised
        signal."""
        from expctl.plans.stubs import count_shots
        from expctl.ui.counts import count_summary, format_counts

        c = self._counters()
        readings = self.run(lambda: count_shots(c["read"], self._shots(seconds))).value
        summary = count_summary(readings, c["signal"], c["i0"])
        units: dict[str, str] = {}
        for name in c["read"]:
            device: Any = self.session.beamline.devices[name]
            units |= {k: i.units for k, i in device.describe().items()}
        for line in format_counts(summary, units, ratio=f"{c['signal']}/{c['i0']}"):
            print(line)
        return summary

    def ascan(self, axis: str | DeviceProxy, start: Target, end: Target, intervals: int,
              count: float | None = None) -> Any:
        """SPEC's ``ascan``: absolute, ``intervals + 1`` points; returns the ScanData."""
        return self._scan("ascan", {_name(axis): (start, end)}, intervals, count)

    def dscan(self, axis: str | DeviceProxy, start: Target, end: Target, intervals: int,
              count: float | None = None) -> Any:
        """SPEC's ``dscan``/``lup``: relative to here, then back to the start."""
        return self._scan("dscan", {_name(axis): (start, end)}, intervals, count,
                          relative=True)

    lup = dscan

    def a2scan(self, axis1: str | DeviceProxy, start1: Target, end1: Target,
               axis2: str | DeviceProxy, start2: Target, end2: Target, intervals: int,
               count: float | None = None) -> Any:
        """Two axes together, absolute."""
        return self._scan("a2scan", {_name(axis1): (start1, end1),
                                     _name(axis2): (start2, end2)}, intervals, count)

    def mesh(self, axis1: str | DeviceProxy, start1: Target, end1: Target, intervals1: int,
             axis2: str | DeviceProxy, start2: Target, end2: Target, intervals2: int,
             count: float | None = None) -> Any:
        """SPEC's ``mesh``: a grid, ``axis1`` fastest."""
        from expctl.plans.stubs import grid_scan

        c = self._counters()
        order = [(_name(axis2), start2, end2, intervals2 + 1),
                 (_name(axis1), start1, end1, intervals1 + 1)]
        return self.run(lambda: grid_scan(order, c["read"], signal=c["signal"], i0=c["i0"],
                                          kind="mesh", shots_per_point=self._shots(count),
                                          command="mesh (python)")).value

    def _scan(self, kind: str, ranges: dict[str, tuple[Target, Target]], intervals: int,
              count: float | None, *, relative: bool = False) -> Any:
        from expctl.plans.stubs import line_scan, rel_scan

        c = self._counters()
        stub = rel_scan if relative else line_scan
        words = " ".join(f"{a} {s} {e}" for a, (s, e) in ranges.items())
        return self.run(lambda: stub(ranges, intervals + 1, c["read"], signal=c["signal"],
                                     i0=c["i0"], kind=kind, shots_per_point=self._shots(count),
                                     command=f"{kind} {words} {intervals}")).value

    def last_scan(self) -> dict[str, Any]:
        """The last console scan's catalog row (its statistics under ``result``)."""
        from expctl.runlog import Catalog

        with Catalog(self.session.data_dir, readonly=True) as catalog:
            rows = [r for r in catalog.alignments()
                    if r.get("kind", "alignment") != "alignment" and r.get("result")]
        if not rows:
            raise IllegalCommand("move to a peak", "without a scan yet", ["ascan", "dscan"])
        return rows[-1]

    def cen(self) -> Any:
        """Move the last scan's axis to its half-maximum centre."""
        return self._to("cen")

    def com(self) -> Any:
        """Move the last scan's axis to its centre of mass."""
        return self._to("com")

    def pic(self) -> Any:
        """Move the last scan's axis to its maximum."""
        return self._to("max_x")

    def _to(self, key: str) -> Any:
        import math

        row = self.last_scan()
        result = row["result"]
        axis, target = result["axis"], result.get(key)
        if not isinstance(target, float) or not math.isfinite(target) or \
                {"no_peak", "too_few_points"} & set(result.get("flags", [])):
            raise UserError(f"scan {row['id']} of {axis} has no usable {key} "
                            f"({', '.join(result.get('flags', [])) or 'not a number'})",
                            device=axis)
        return self._devices[axis].umv(target)


def _name(device: str | DeviceProxy) -> str:
    return device.name if isinstance(device, DeviceProxy) else str(device)


def _terminal_width() -> int:
    import shutil

    return shutil.get_terminal_size((100, 24)).columns


@contextmanager
def _stop_on_ctrl_c(engine: Engine) -> Iterator[None]:
    """Ctrl-C stops the command at once (SPEC); a second Ctrl-C aborts.

    Only the main thread receives signals; elsewhere Python's default stays.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    presses = [0]

    def handler(signum: int, frame: Any) -> None:
        presses[0] += 1
        try:
            if presses[0] == 1:
                engine.stop()
                print("stopping now (Ctrl-C): motion stopped where it is")
            else:
                engine.abort()
                print("aborting (Ctrl-C again)")
        except IllegalCommand:  # not started yet (rehearsing): plain interrupt
            raise KeyboardInterrupt from None

    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
