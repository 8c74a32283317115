"""Shot-synchronous detectors behind a shared acquisition gate (a scaler/DAQ-gate style PV).

Several detectors usually count together: one put to the gate's trigger PV
acquires ``shots`` shots for all of them.  The engine triggers each device of a
Trigger action in turn; a trigger of another device on the same gate, with the
same shot count, while an acquisition is pending *joins* it, so every device
read afterwards reports the same shots (what ``mpccd.roi0 / pd_i0`` needs).  When
the gate's put completes, each joined device's values are read from the IOC
before its status completes, so a read after the trigger never sees the previous
acquisition's values.
"""

from __future__ import annotations

import threading

from expctl.devices.profile import DeviceSpec
from expctl.devices.status import Status
from expctl.epics.actions import explainer
from expctl.epics.ca import Channel
from expctl.epics.devices import EpicsMonitor
from expctl.epics.link import MARGIN, Link, read_together
from expctl.epics.wiring import DeviceWiring
from expctl.errors import DeviceError, ExpctlError, LimitError

__all__ = ["AcquisitionGate", "EpicsDetector"]


class _Acquisition:
    """One pending acquisition of the gate and the devices that joined it."""

    def __init__(self, shots: int) -> None:
        self.shots = shots
        self.members: list[tuple[EpicsDetector, Status]] = []
        self.over = False


class AcquisitionGate:
    """One trigger PV (with its shot-count PV) that several detectors share."""

    def __init__(self, link: Link, roles: dict[str, str], rate_hz: float) -> None:
        self._link = link
        self.trigger_pv = link.channels[roles["pv"]]
        self.shots_pv = link.channels[roles["shots"]]
        self.rate_hz = rate_hz
        self._explain = explainer(link, roles["pv"], link.channel(roles.get("message")),
                                  link.channel(roles.get("error")), DeviceError)
        self._lock = threading.Lock()
        self._pending: _Acquisition | None = None

    def trigger(self, device: EpicsDetector, shots: int) -> Status:
        """A status for ``device`` that completes when ``shots`` shots are in and read."""
        if int(shots) < 1:
            raise LimitError(f"{device.name} cannot integrate {shots} shots", device=device.name,
                             allowed="1 or more shots")
        timeout = self._link.bound(shots / self.rate_hz)
        status = Status(device.name, self._link.clock.now(), timeout=timeout)
        with self._lock:
            acq = self._pending
            if acq is not None and not acq.over and acq.shots == shots:
                acq.members.append((device, status))
                return status
            acq = self._pending = _Acquisition(int(shots))
            acq.members.append((device, status))
        try:
            if self.shots_pv.value != shots:
                self.shots_pv.put_wait(int(shots), self._link.settings.ack_timeout * 4)
            self.trigger_pv.put("Acquire", lambda err: self._completed(acq, err),
                                timeout=self._link.wall(timeout) + MARGIN)
        except ExpctlError as err:
            self._completed(acq, err)
        return status

    def _completed(self, acq: _Acquisition, error: ExpctlError | None) -> None:
        with self._lock:
            acq.over = True
            members = list(acq.members)
            if self._pending is acq:
                self._pending = None
        if error is not None and not isinstance(error, DeviceError):
            self._explain(f"the acquisition of {acq.shots} shots failed ({error.message})",
                          lambda err: self._end(members, err))
        elif error is not None:
            self._end(members, error)
        else:
            channels: dict[str, Channel] = {}
            for device, _ in members:
                channels.update({c.name: c for c in device.signal_channels()})
            read_together(channels.values(), self._link.settings.verify_timeout,
                          lambda values: self._end(members, None), self._link.watchdog)

    def _end(self, members: list[tuple[EpicsDetector, Status]],
             error: ExpctlError | None) -> None:
        now = self._link.clock.now()
        for _, status in members:
            status.finish(error, at=now)


class EpicsDetector(EpicsMonitor):
    """A readable device that also acquires on demand through an :class:`AcquisitionGate`."""

    def __init__(self, spec: DeviceSpec, wiring: DeviceWiring, link: Link,
                 gate: AcquisitionGate) -> None:
        super().__init__(spec, wiring, link)
        self._gate = gate

    def trigger(self, shots: int = 1) -> Status:
        return self._gate.trigger(self, int(shots))
