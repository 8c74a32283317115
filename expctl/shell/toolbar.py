"""The bottom toolbar: what the operator must see at a glance, kept current while commands run.

:class:`StatusBoard` is an engine-event subscriber (state, current run, step,
faults) that also polls cheap device state (shutter, pending accelerator
requests, axes in motion).  Reading the beam monitor computes shot data, so
it is polled only while no command is running; otherwise the last value is
shown.  :func:`toolbar_fragments` renders a :class:`ToolbarStatus` as
prompt_toolkit style fragments — a pure function, tested as such.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from expctl.devices.access import AccessLevel

__all__ = ["StatusBoard", "ToolbarStatus", "toolbar_fragments"]

_STATE_STYLE = {"idle": "class:tb.ok", "running": "class:tb.busy", "pausing": "class:tb.warn",
                "paused": "class:tb.warn", "suspended": "class:tb.warn",
                "aborting": "class:tb.bad", "failed": "class:tb.bad"}


@dataclass(frozen=True, slots=True)
class ToolbarStatus:
    """A snapshot of everything the toolbar shows."""

    profile: str
    connected: bool = False
    engine: str = "idle"
    beam: str = "?"
    shutter: str = "?"
    run: str = ""
    requests: tuple[str, ...] = ()
    activity: str = ""
    queued: int = 0
    suspended: str = ""


def toolbar_fragments(st: ToolbarStatus) -> list[tuple[str, str]]:
    """The toolbar as (style, text) fragments."""
    if not st.connected:
        return [("class:tb.warn", f" {st.profile}: connecting… "),
                ("", " commands typed now run once the beamline is connected ")]
    engine = st.suspended if st.engine == "suspended" and st.suspended else st.engine
    out: list[tuple[str, str]] = [("class:tb.name", f" {st.profile} "), ("", " engine "),
                                  (_STATE_STYLE.get(st.engine, ""), engine)]
    beam_style = "class:tb.ok" if st.beam.startswith("on") else "class:tb.bad"
    out += [("", " │ beam "), (beam_style, st.beam)]
    shutter_style = "class:tb.busy" if st.shutter.endswith("open") else ""
    out += [("", " │ "), (shutter_style, st.shutter)]
    out += [("", " │ run "), ("class:tb.busy" if st.run else "", st.run or "none")]
    if st.requests:
        out += [("", " │ requests "), ("class:tb.warn", ", ".join(st.requests))]
    if st.activity:
        out += [("", " │ "), ("class:tb.activity", st.activity)]
    if st.queued:
        out += [("", f" │ {st.queued} queued")]
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

    @property
    def status(self) -> ToolbarStatus:
        with self._lock:
            return self._status

    def update(self, **fields: Any) -> None:
        """Set fields of the snapshot (``activity=…``, ``queued=…``, ``connected=…``)."""
        with self._lock:
            self._status = replace(self._status, **fields)

    def __call__(self, event: Any) -> None:
        """Engine-event subscriber."""
        from expctl.engine.events import RunStarted, RunStopped, ShotBlockTaken, StateChanged

        if isinstance(event, StateChanged):
            from expctl.ui.report import suspended_text

            self.update(engine=event.new, suspended=suspended_text(
                event.reason, self.epoch, event.time) if event.new == "suspended" else "")
        elif isinstance(event, RunStarted):
            rec = event.record
            self._run, self._shots = (rec.run, rec.label, rec.shots or None), 0
            self.update(run=self._run_text())
        elif isinstance(event, ShotBlockTaken) and self._run is not None:
            self._shots += len(event.block)
            self.update(run=self._run_text())
        elif isinstance(event, RunStopped):
            self._run = None
            self.update(run="")

    def _run_text(self) -> str:
        if self._run is None:
            return ""
        run, label, planned = self._run
        of = f"/{planned}" if planned else ""
        return f"{run}{' ' + label if label else ''} ({self._shots}{of} shots)"

    def poll(self, devices: Mapping[str, Any], specs: Mapping[str, Any], *,
             read_beam: bool) -> None:
        """Refresh shutter, pending requests and (when safe) beam status from the devices."""
        fields: dict[str, Any] = {}
        shutters = [n for n, s in specs.items() if s.kind == "shutter" and n in devices]
        if shutters:
            fields["shutter"] = " ".join(f"{n} {devices[n].state}" for n in shutters)
        requests = []
        for name, spec in specs.items():
            dev = devices.get(name)
            pending = getattr(dev, "pending", None) if dev is not None else None
            if pending is not None and spec.access is AccessLevel.ACCELERATOR:
                requests.append(f"{name}→{_show(pending, spec.units)}")
        fields["requests"] = tuple(requests)
        beam = next((n for n, s in specs.items() if s.kind == "beam" and n in devices), None)
        if read_beam and beam is not None:
            fields["beam"] = _beam_text(devices[beam].read(), beam)
        self.update(**fields)


def _show(value: Any, units: str) -> str:
    if isinstance(value, float):
        return f"{value:g}{' ' + units if units else ''}"
    return str(value)


def _beam_text(reading: Mapping[str, Any], name: str) -> str:
    on = float(reading.get(name, 0.0)) > 0.5
    energy = reading.get(f"{name}.pulse_energy")
    if not on:
        return "off"
    return f"on {float(energy):.0f} µJ" if isinstance(energy, int | float) else "on"
