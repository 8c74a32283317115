"""The DAQ over Channel Access (:class:`~expctl.devices.protocols.RunControl`).

A run starts with a put to the DAQ's acquire PV; the run-table entry arrives as
JSON in one PV (never half of it); the put completes when the run's shots are
taken, which is when the run's status completes.  Shots are *collected*, not
monitored: a put to the collect PV hands over the shots taken since the last
one into the block waveforms, which are then read — monitors may drop updates
under load, a hand-over cannot.  Block ids are checked, so shots handed to
anybody else are noticed (:class:`~expctl.errors.DataError`) instead of lost.

When the link drops during a run, ``collect`` returns nothing and ``stop_run``
ends the run locally (the engine marks it cut and retakes it); the IOC is told
to end it once it is reachable again, if it still has it running.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from expctl.devices.access import AccessLevel
from expctl.devices.protocols import RunRecord, ShotBlock
from expctl.devices.status import Status
from expctl.epics.actions import explainer
from expctl.epics.ca import Channel
from expctl.epics.link import MARGIN, Link, read_together
from expctl.epics.wiring import DaqWiring
from expctl.errors import (
    DataError,
    DeviceError,
    DeviceTimeoutError,
    DisconnectedError,
    ExpctlError,
    IllegalCommand,
    LimitError,
    UserError,
)

__all__ = ["EpicsDAQ", "read_now"]


def read_now(channels: list[Channel], link: Link, timeout: float) -> dict[str, Any]:
    """Read ``channels`` at once (pipelined) and wait for all of them (bounded)."""
    done = threading.Event()
    got: dict[str, Any] = {}

    def keep(values: dict[str, Any]) -> None:
        got.update(values)
        done.set()
    read_together(channels, timeout, keep, link.watchdog)
    done.wait(timeout + 1.0)
    missing = [c.name for c in channels if c.name not in got]
    if missing:
        if any(not c.connected for c in channels):
            raise DisconnectedError(f"{missing[0]} is disconnected")
        raise DeviceTimeoutError(f"{', '.join(missing)} did not answer within {timeout:g} s")
    return got


def _record(text: str) -> RunRecord:
    body = json.loads(text)
    body["detectors"] = tuple(body.get("detectors", ()))
    return RunRecord(**body)


@dataclass
class _OpenRun:
    record: RunRecord
    status: Status
    shots: int = 0


class EpicsDAQ:
    """Run control and shot blocks of a DAQ served over CA."""

    name = "daq"
    access = AccessLevel.USER

    def __init__(self, link: Link, wiring: DaqWiring, beamline: int) -> None:
        ch = link.channels
        self._link = link
        self._roles = {role: ch[pv] for role, pv in wiring.roles.items()}
        self._block = {role: ch[pv] for role, pv in wiring.block.items()}
        self._columns = {key: ch[pv] for key, pv in wiring.columns.items()}
        self._dtypes = dict(wiring.dtypes)
        self._explain = explainer(link, "daq", self._roles.get("message"),
                                  self._roles.get("error"), DeviceError)
        self.beamline = beamline
        self.rate_hz = float(self._roles["rate"].get(link.settings.ack_timeout * 4))
        self._open: _OpenRun | None = None
        self._leftover: ShotBlock | None = None
        self._owed_stop: int | None = None
        self._last_block: int | None = None

    @property
    def _patience(self) -> float:
        return self._link.settings.ack_timeout * 4

    # -- runs ----------------------------------------------------------------------------
    def start_run(self, shots: int | None, *, label: str = "", comment: str = "",
                  full_frames: bool = False) -> tuple[RunRecord, Status]:
        if full_frames:
            raise UserError("full frames are not delivered over Channel Access", device="daq",
                            hint="The IOC keeps every image in the facility archive; read "
                                 "them with stpy, or run without full_frames.")
        if self._open is not None:
            raise IllegalCommand("start a run", f"running run {self._open.record.run}",
                                 ["stop_run"])
        if shots is not None and int(shots) < 1:
            raise LimitError(f"a run needs at least one shot, got {shots}", device=self.name,
                             allowed="1 or more shots, or None for a run until stopped")
        self._settle_owed_stop()
        roles = self._roles
        roles["nshots"].put_wait(int(shots or 0), self._patience)
        roles["label"].put_wait(label, self._patience)
        roles["comment"].put_wait(comment, self._patience)
        previous = self._info_run()
        started = threading.Event()
        failure: list[ExpctlError] = []
        expected = None if shots is None else int(shots) / self.rate_hz
        timeout = None if expected is None else self._link.bound(expected)
        status = Status(self.name, self._link.clock.now(), timeout=timeout)

        def completed(error: ExpctlError | None) -> None:
            if error is None:
                status.finish(None, at=self._link.clock.now())
                return
            def explained(err: ExpctlError) -> None:
                if not started.is_set():
                    failure.append(err)
                    started.set()
                status.finish(err, at=self._link.clock.now())
            if isinstance(error, DisconnectedError):
                explained(error)
            else:
                self._explain(f"the DAQ ended the run ({error.message})", explained)

        cancel = roles["runinfo"].watch(lambda text: self._is_new_run(text, previous),
                                        started.set)
        roles["acquire"].put("Acquire", completed,
                             timeout=None if timeout is None else self._link.wall(timeout) + MARGIN)
        announced = started.wait(self._patience)
        cancel()
        if not announced or failure:
            if failure:
                raise failure[0]
            raise DeviceError(f"the DAQ did not start a run within {self._patience:g} s "
                              f"({roles['acquire'].name} put, {roles['runinfo'].name} unchanged)",
                              device=self.name)
        record = _record(roles["runinfo"].value)
        self._open = _OpenRun(record, status)
        return record, status

    def _info_run(self) -> int | None:
        text = self._roles["runinfo"].value
        return json.loads(text)["run"] if text else None

    @staticmethod
    def _is_new_run(text: Any, previous: int | None) -> bool:
        if not text:
            return False
        body = json.loads(text)
        return body.get("status") == 2 and body.get("run") != previous

    def _settle_owed_stop(self) -> None:
        """End on the IOC a run cut by a link loss, if it still has it running."""
        run, self._owed_stop = self._owed_stop, None
        if run is not None and self._ioc_runs(run):
            self._roles["abort"].put_wait("Abort", self._patience)

    def stop_run(self, *, aborted: bool = False) -> RunRecord:
        run = self._open
        if run is None:
            raise IllegalCommand("stop a run", "idle", ["start_run"])
        self._open = None
        self._last_block = None
        try:
            try:
                self._roles["abort" if aborted else "stop"].put_wait(
                    "Abort" if aborted else "Stop", self._patience)
            except DisconnectedError:
                raise
            except ExpctlError:
                if self._ioc_runs(run.record.run):
                    raise
                return self._cut(run, "the IOC no longer has the run (it was restarted)")
            record = _record(self._roles["runinfo"].get(self._patience))
            self._leftover = self._fetch(record.run)
        except DisconnectedError:
            self._owed_stop = run.record.run
            return self._cut(run, "the link to the DAQ was lost")
        return record

    def _ioc_runs(self, run: int) -> bool:
        """Whether the IOC's run table says ``run`` is running."""
        text = self._roles["runinfo"].get(self._patience)
        body = json.loads(text) if text else {}
        return body.get("run") == run and body.get("status") == 2

    def _cut(self, run: _OpenRun, why: str) -> RunRecord:
        """The run as this side knows it, ended here because the IOC cannot end it."""
        return replace(run.record, status=0, shots=run.shots,
                       comment=f"{run.record.comment} (cut, disconnected: {why})".strip(),
                       stop_time=self._link.clock.epoch + self._link.clock.now())

    # -- shots ---------------------------------------------------------------------------
    def collect(self) -> ShotBlock | None:
        run = self._open
        if run is None:  # shots stop_run() found uncollected, handed over once
            block, self._leftover = self._leftover, None
            return block
        try:
            block = self._fetch(run.record.run)
        except DisconnectedError:
            return None  # the link is gone: the run's status and the link suspender say so
        if block is not None:
            run.shots += len(block)
        return block

    def _fetch(self, run: int) -> ShotBlock | None:
        """Hand-overs until the IOC has no more of ``run`` (other runs' leftovers dropped)."""
        parts: list[dict[str, np.ndarray]] = []
        while True:
            self._roles["collect"].put_wait("Collect", self._patience)
            head = read_now(list(self._block.values()), self._link, self._patience)
            n = int(head[self._block["n"].name])
            if n == 0:
                break
            block_id = int(head[self._block["id"].name])
            if self._last_block is not None and block_id != self._last_block + 1:
                raise DataError(f"shots of run {run} were handed to another client: DAQ "
                                f"block {self._last_block + 1} to {block_id - 1} never "
                                f"reached this one", hint="Only one controller may take runs.")
            self._last_block = block_id
            if int(head[self._block["run"].name]) == run:
                parts.append(self._columns_now(n))
            if not int(head[self._block["more"].name]):
                break
        if not parts:
            return None
        data = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
        return ShotBlock(run, data)

    def _columns_now(self, n: int) -> dict[str, np.ndarray]:
        values = read_now(list(self._columns.values()), self._link, self._patience)
        out = {}
        for key, channel in self._columns.items():
            column = np.asarray(values[channel.name], dtype=np.float64)[:n]
            if len(column) != n:
                raise DataError(f"{channel.name} holds {len(column)} shots, the block {n}")
            out[key] = column.astype(self._dtypes.get(key, "float64"))
        return out

    def config(self) -> dict[str, Any]:
        text = self._roles["config"].get(self._patience)
        return json.loads(text) if text else {"rate_hz": self.rate_hz}

    @property
    def running(self) -> RunRecord | None:
        """The run in progress, if any (as recorded at its start)."""
        return None if self._open is None else self._open.record

