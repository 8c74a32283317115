"""The bottom toolbar: what the operator must see at a glance, kept current while commands run.

:class:`StatusBoard` is an engine-event subscriber (state and why it is
suspended, the current run and its shots, the beam seen in each block of
shots, the sequence step and its ETA) that also polls device state that is
cheap and safe to read from the prompt's thread at any time — shutter, pump,
delay, attenuator, pending accelerator requests.  Instruments (the beam
monitor computes shot data when read) are read only while no command runs;
while one does, the beam comes from the shots it takes.

:func:`toolbar_fragments` renders a :class:`ToolbarStatus` as prompt_toolkit
style fragments for a given width — a pure function, tested as such.  The first
line is the beamline (engine, beam, shutter, pump, delay, attenuator, the run
being taken); while something runs a second line says what: the command as typed,
the moving axes' readback and a scan's progress, or a sequence's ETA and where it
is.  On each line, fields are dropped whole, least important first, until the
rest fits: nothing is cut mid-word.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from expctl.devices.access import AccessLevel

__all__ = ["StatusBoard", "ToolbarStatus", "toolbar_fragments", "toolbar_style"]

_STATE_STYLE = {"idle": "class:tb.ok", "running": "class:tb.busy", "pausing": "class:tb.warn",
                "paused": "class:tb.warn", "suspended": "class:tb.warn",
                "aborting": "class:tb.bad", "failed": "class:tb.bad"}
_SEP = " │ "


@dataclass(frozen=True, slots=True)
class ToolbarStatus:
    """A snapshot of everything the toolbar shows."""

    profile: str
    connected: bool = False
    engine: str = "idle"
    suspended: str = ""
    beam: str = "?"
    shutter: str = "?"
    pump: str = ""
    delay: str = ""
    attenuator: str = ""
    run: str = ""
    step: str = ""
    eta: str = ""
    requests: tuple[str, ...] = ()
    activity: str = ""
    live: str = ""
    scan: str = ""
    queued: int = 0


#: (field, priority): lower numbers are kept longer when the width runs out
_PRIORITY = {"state": 0, "beam": 1, "shutter": 2, "run": 3, "pump": 4, "delay": 5,
             "attenuator": 6, "requests": 7,
             "eta": 0, "step": 1, "activity": 2, "live": 3, "scan": 4, "queued": 5}
#: fields of the second line (what runs now: a command or a sequence)
_SECOND_LINE = ("eta", "step", "activity", "live", "scan", "queued")


def _segments(st: ToolbarStatus) -> list[tuple[str, list[tuple[str, str]]]]:
    """The toolbar's fields in display order, each as (field, fragments)."""
    engine = st.suspended if st.engine == "suspended" and st.suspended else st.engine
    out: list[tuple[str, list[tuple[str, str]]]] = [
        ("state", [("class:tb.name", f" {st.profile} "), ("", " engine "),
                   (_STATE_STYLE.get(st.engine, ""), engine)])]
    beam_style = "class:tb.ok" if st.beam.startswith("on") else "class:tb.bad"
    out.append(("beam", [("", "beam "), (beam_style, st.beam)]))
    shutter_style = "class:tb.busy" if st.shutter.endswith("open") else ""
    out.append(("shutter", [(shutter_style, st.shutter)]))
    if st.pump:
        out.append(("pump", [("", "pump "), ("class:tb.busy" if st.pump == "on" else "",
                                             st.pump)]))
    if st.delay:
        out.append(("delay", [("", f"delay {st.delay}")]))
    if st.attenuator:
        out.append(("attenuator", [("", f"att {st.attenuator}")]))
    if st.run:
        out.append(("run", [("", "run "), ("class:tb.busy", st.run)]))
    if st.requests:
        out.append(("requests", [("", "requests "), ("class:tb.warn", ", ".join(st.requests))]))
    if st.eta:
        out.append(("eta", [("", st.eta)]))
    if st.step:
        out.append(("step", [("class:tb.activity", st.step)]))
    if st.activity:
        out.append(("activity", [("class:tb.activity", st.activity)]))
    if st.live:
        out.append(("live", [("", st.live)]))
    if st.scan:
        out.append(("scan", [("", st.scan)]))
    if st.queued:
        out.append(("queued", [("", f"{st.queued} queued")]))
    return out


def _width(fragments: list[tuple[str, str]]) -> int:
    return sum(len(text) for _, text in fragments)


def toolbar_fragments(st: ToolbarStatus, width: int | None = None) -> list[tuple[str, str]]:
    """The toolbar as (style, text) fragments no wider than ``width`` (None: everything).

    Whole fields are dropped, least important first; a field too long on its own
    (a long step title) is shortened at a word boundary with ``…``.
    """
    if not st.connected:
        return [("class:tb.warn", f" {st.profile}: connecting… "),
                ("", " commands typed now run once the beamline is connected ")]
    segments = _segments(st)
    lines = [[s for s in segments if s[0] not in _SECOND_LINE],
             [s for s in segments if s[0] in _SECOND_LINE]]
    out: list[tuple[str, str]] = []
    for n, line in enumerate(x for x in lines if x):
        if n:
            out.append(("", "\n "))
        out += _fit(line, None if width is None else width - n)
    return out


def _fit(segments: list[tuple[str, list[tuple[str, str]]]], width: int | None
         ) -> list[tuple[str, str]]:
    """One line of fields, the least important dropped whole until it fits ``width``."""
    segments = list(segments)
    if width is not None:
        while len(segments) > 1 and _joined_width(segments) > width:
            drop = max(range(len(segments)), key=lambda i: _PRIORITY[segments[i][0]])
            segments.pop(drop)
        if _joined_width(segments) > width:
            segments = [(name, _shorten(frags, width)) for name, frags in segments]
    out: list[tuple[str, str]] = []
    for i, (_, frags) in enumerate(segments):
        if i:
            out.append(("", _SEP))
        out += frags
    return out


def _joined_width(segments: list[tuple[str, list[tuple[str, str]]]]) -> int:
    return sum(_width(f) for _, f in segments) + len(_SEP) * (len(segments) - 1)


def _shorten(frags: list[tuple[str, str]], width: int) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    used = 0
    for style, text in frags:
        if used + len(text) <= width:
            out.append((style, text))
            used += len(text)
            continue
        room = width - used - 1
        cut = text.rfind(" ", 0, room)
        if cut > 0:
            out.append((style, text[:cut] + "…"))
        break
    return out


class StatusBoard:
    """Collects the toolbar's facts from engine events and device polls (thread-safe).

    Args:
        profile: the profile name shown first.
        epoch: Unix time of the session clock's zero (to say since when it is suspended).
    """

    def __init__(self, profile: str, epoch: float = 0.0) -> None:
        self.epoch = epoch
        self._lock = threading.Lock()
        self._status = ToolbarStatus(profile)
        self._shots = 0
        self._run: tuple[int, str, int | None] | None = None
        self._scan: tuple[int, int] | None = None
        self._scan_points = 0
        #: fills ``step`` and ``eta`` while a sequence runs (set by the shell)
        self.progress: Callable[[], tuple[str, str]] | None = None

    @property
    def status(self) -> ToolbarStatus:
        with self._lock:
            status = self._status
        if self.progress is not None:
            try:
                step, eta = self.progress()
            except Exception:  # noqa: BLE001 - a toolbar never takes the prompt down
                step, eta = "", ""
            status = replace(status, step=step, eta=eta)
        return status

    def update(self, **fields: Any) -> None:
        """Set fields of the snapshot (``activity=…``, ``queued=…``, ``connected=…``)."""
        with self._lock:
            self._status = replace(self._status, **fields)

    def __call__(self, event: Any) -> None:
        """Engine-event subscriber."""
        from expctl.engine.events import (
            RunStarted,
            RunStopped,
            ScanClosed,
            ScanOpened,
            ScanPointTaken,
            ShotBlockTaken,
            StateChanged,
        )

        if isinstance(event, ShotBlockTaken):
            beam = _beam_from_block(event.block.data)
            if self._run is not None:
                self._shots += len(event.block)
            self.update(run=self._run_text(), **({"beam": beam} if beam else {}))
        elif isinstance(event, StateChanged):
            from expctl.ui.report import suspended_text

            suspended = (suspended_text(event.reason, self.epoch, event.time)
                         if event.new == "suspended" else "")
            fields: dict[str, Any] = {"engine": event.new, "suspended": suspended}
            if suspended and "beam" in event.reason.lower():
                fields["beam"] = "off"
            elif event.old == "suspended" and self.status.beam == "off":
                fields["beam"] = "on"  # data taking resumes only once the beam is back
            self.update(**fields)
        elif isinstance(event, RunStarted):
            rec = event.record
            self._run, self._shots = (rec.run, rec.label, rec.shots or None), 0
            self.update(run=self._run_text())
        elif isinstance(event, RunStopped):
            self._run = None
            self.update(run="")
        elif isinstance(event, ScanPointTaken):
            beam = _beam_from_reading(event.values)
            self._scan_points = event.index + 1
            self.update(scan=self._scan_text(), **({"beam": beam} if beam else {}))
        elif isinstance(event, ScanOpened):
            self._scan, self._scan_points = (event.number, event.points), 0
            self.update(scan=self._scan_text())
        elif isinstance(event, ScanClosed):
            self._scan = None
            self.update(scan="")

    def _scan_text(self) -> str:
        if self._scan is None:
            return ""
        number, planned = self._scan
        return f"scan {number}: {self._scan_points}/{planned} points"

    def _run_text(self) -> str:
        if self._run is None:
            return ""
        run, label, planned = self._run
        of = f"/{planned}" if planned else ""
        return f"{run}{' ' + label if label else ''} ({self._shots}{of} shots)"

    def poll(self, devices: Mapping[str, Any], specs: Mapping[str, Any], roles: Any, *,
             read_beam: bool) -> None:
        """Refresh shutter, pump, delay, attenuator, pending requests and (when safe) the
        beam from the devices."""
        fields: dict[str, Any] = {}
        shutters = [n for n, s in specs.items() if s.kind == "shutter" and n in devices]
        if shutters:
            main = getattr(roles, "shutter", None)
            fields["shutter"] = " ".join(
                f"shutter {devices[n].state}" if n == main else f"{n} {devices[n].state}"
                for n in shutters)
        requests = []
        for name, spec in specs.items():
            dev = devices.get(name)
            pending = getattr(dev, "pending", None) if dev is not None else None
            if pending is not None and spec.access is AccessLevel.ACCELERATOR:
                requests.append(f"{name}→{_show(pending, spec.units)}")
        fields["requests"] = tuple(requests)
        pump = getattr(roles, "pump", None)
        if isinstance(pump, str) and pump in devices:
            fields["pump"] = str(_value(devices[pump], pump))
        delays = [d for d in getattr(roles, "delays", ()) if d in devices]
        if delays:
            values = [_value(devices[d], d) for d in delays]
            if all(isinstance(v, int | float) for v in values):
                fields["delay"] = _show(float(sum(values)), specs[delays[0]].units)
        att = getattr(roles, "attenuator", None)
        if isinstance(att, str) and att in devices:
            fields["attenuator"] = _show(_value(devices[att], att), specs[att].units)
        beam = getattr(roles, "beam", None) or next(
            (n for n, s in specs.items() if s.kind == "beam"), None)
        if read_beam and isinstance(beam, str) and beam in devices:
            fields["beam"] = _beam_text(devices[beam].read(), beam)
        self.update(**fields)


def _value(device: Any, name: str) -> Any:
    """A settable device's value without acquiring anything (position, state, value)."""
    for attr in ("position", "state", "value"):
        v = getattr(device, attr, None)
        if v is not None:
            return float(v) if isinstance(v, int | float) and not isinstance(v, bool) else v
    return device.read().get(name)


def _show(value: Any, units: str) -> str:
    if isinstance(value, float):
        return f"{value:g}{' ' + units if units else ''}"
    return str(value)


def _beam_text(reading: Mapping[str, Any], name: str) -> str:
    on = float(reading.get(name, 0.0)) > 0.5
    energy = reading.get(f"{name}.pulse_energy")
    if not on:
        return "off"
    return f"on {float(energy):.0f} µJ" if isinstance(energy, int | float) and math.isfinite(
        energy) else "on"


def _beam_from_block(data: Mapping[str, Any]) -> str:
    """The beam as the last shots saw it: ``on 512 µJ`` or ``off`` (no pulse energy)."""
    import numpy as np  # the shell starts without it

    energy = data.get("beam/pulse_energy")
    if energy is None or not len(energy):
        return ""
    last = np.asarray(energy[-min(len(energy), 5):], dtype=float)
    mean = float(np.nanmean(last)) if np.isfinite(last).any() else 0.0
    return f"on {mean:.0f} µJ" if mean > 0 else "off"


def _beam_from_reading(values: Mapping[str, Any]) -> str:
    for key, value in values.items():
        if key.endswith(".pulse_energy") and isinstance(value, int | float):
            return f"on {value:.0f} µJ" if value > 0 else "off"
    return ""


def toolbar_style() -> Any:
    """The prompt's style: the toolbar's colours for its ``tb.*`` fragments."""
    from prompt_toolkit.styles import Style

    return Style.from_dict({
        "bottom-toolbar": "noreverse bg:#202830 #c0c8d0",
        "tb.name": "bold #ffffff", "tb.ok": "#50d050", "tb.busy": "bold #f0c040",
        "tb.warn": "bold #ff9030", "tb.bad": "bold #ff5050", "tb.activity": "#80c0ff",
    })
