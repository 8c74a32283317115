"""The DAQ served over Channel Access: run control, the run table entry, and shot blocks.

Run control follows areaDetector habits: ``DAQ:NSHOTS`` (0: until stopped),
``DAQ:LABEL``/``DAQ:COMMENT``, then a put to ``DAQ:ACQUIRE`` starts a run and
completes when its shots are taken (fails, with ``DAQ:MSG``, on beam loss or a
detector dropout); ``DAQ:STOP``/``DAQ:ABORT`` end it.  ``DAQ:RUNINFO`` holds the
facility's run-table entry as JSON (one PV, so a client never sees half of it).

Per-shot data is lossless: monitors may drop updates under load, so shots are
*handed over* rather than broadcast.  The IOC collects the run's shots as they
happen (so the facility archive grows live); a put to ``DAQ:COLLECT`` moves the
shots not yet handed over into the ``DAQ:BLK:*`` waveforms (one per small-data
column, ``tag`` first) with ``DAQ:BLK:N``/``RUN``/``ID`` before it completes, and
``DAQ:BLK:MORE`` says whether another collect has more.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

import numpy as np
from caproto import ChannelDouble, ChannelInteger, SkipWrite

from expctl.devices.protocols import RunRecord
from expctl.errors import ExpctlError
from sim.devices.daq import DET_KEYS, PUBLIC_KEYS, TT_KEYS
from sim.ioc.channels import ErrorPVs, long_string, post, setpoint, text
from sim.ioc.naming import column_pv

if TYPE_CHECKING:
    from sim.ioc.server import SimIOC

__all__ = ["BLOCK_MAX", "DAQGroup", "block_columns"]

#: Most shots one collect hands over (the waveforms' length).
BLOCK_MAX = 4096
#: Simulated seconds between the IOC's own collections while a run is going.
COLLECT_EVERY = 1.0


def block_columns(detectors: list[str], timing_tool: bool = False) -> list[str]:
    """The small-data keys of a shot block, in the order the waveforms are served (the
    simulated DAQ's own: the timing tool's ``tt/`` columns if the profile has one)."""
    return list(PUBLIC_KEYS) + [f"{d}/{k}" for d in detectors for k in DET_KEYS] + (
        list(TT_KEYS) if timing_tool else [])


def run_json(record: RunRecord) -> str:
    body = asdict(record)
    body["detectors"] = list(record.detectors)
    return json.dumps(body)


class DAQGroup:
    """``<prefix>DAQ:``."""

    def __init__(self, ioc: SimIOC, prefix: str) -> None:
        self.ioc = ioc
        self.daq = ioc.beamline.daq
        p = f"{prefix}DAQ:"
        self.errors = ErrorPVs(f"{prefix}DAQ")
        self.nshots = ChannelInteger(value=0)
        self.label = long_string()
        self.comment = long_string()
        self.acquire = setpoint(self._acquire, "Done", choices=("Done", "Acquire"))
        self.stop = setpoint(self._stop(False), "Done", choices=("Done", "Stop"))
        self.abort = setpoint(self._stop(True), "Done", choices=("Done", "Abort"))
        self.collect = setpoint(self._collect, "Done", choices=("Done", "Collect"))
        self.run = ChannelInteger(value=0)
        self.status = ChannelInteger(value=-1)
        self.shots = ChannelInteger(value=0)
        self.runinfo = long_string()
        self.config = long_string()
        self.rate = ChannelDouble(value=float(self.daq.rate_hz), units="Hz", precision=3)
        world = ioc.beamline.world
        self.columns = block_columns([m.name for m in world.detector_models],
                                     world.model.timing_tool is not None)
        self.block = {key: ChannelDouble(value=np.zeros(0), max_length=BLOCK_MAX)
                      for key in self.columns}
        self.block_id = ChannelInteger(value=0)
        self.block_run = ChannelInteger(value=0)
        self.block_n = ChannelInteger(value=0)
        self.block_more = ChannelInteger(value=0)
        self.pvdb: dict[str, Any] = {
            f"{p}NSHOTS": self.nshots, f"{p}LABEL": self.label, f"{p}COMMENT": self.comment,
            f"{p}ACQUIRE": self.acquire, f"{p}STOP": self.stop, f"{p}ABORT": self.abort,
            f"{p}COLLECT": self.collect, f"{p}RUN": self.run, f"{p}RUNSTATUS": self.status,
            f"{p}SHOTS": self.shots, f"{p}RUNINFO": self.runinfo, f"{p}CONFIG": self.config,
            f"{p}RATE": self.rate, f"{p}COLUMNS": long_string(json.dumps(self.columns)),
            f"{p}BLK:ID": self.block_id, f"{p}BLK:RUN": self.block_run,
            f"{p}BLK:N": self.block_n, f"{p}BLK:MORE": self.block_more,
            **{column_pv(prefix, key): ch for key, ch in self.block.items()},
            **self.errors.pvdb}
        self._pending: list[tuple[int, dict[str, np.ndarray]]] = []
        self._ended = asyncio.Event()
        self._last_collect = 0.0

    async def start(self) -> None:
        await self.refresh()

    # -- run control ---------------------------------------------------------------------
    async def _acquire(self, value: Any) -> None:
        if value not in ("Acquire", 1):
            raise SkipWrite()
        await self.ioc.faults.hold_if_ignored("daq")
        n = int(self.nshots.value)
        try:
            record, status = self.daq.start_run(n if n > 0 else None,
                                                label=text(self.label.value),
                                                comment=text(self.comment.value))
        except ExpctlError as err:
            raise await self.errors.refuse(err) from None
        await self.errors.report(None)
        self._ended.clear()
        self._last_collect = self.ioc.clock.now()
        await self._publish(record)
        await post(self.acquire, "Acquire")
        error = await self.ioc.finish(status, cancel=self._ended)
        await post(self.acquire, "Done")
        if error is not None:
            raise await self.errors.refuse(error)
        raise SkipWrite()

    def _stop(self, aborted: bool) -> Any:
        async def put(value: Any) -> None:
            if value in ("Done", 0):
                raise SkipWrite()
            try:
                record = self.daq.stop_run(aborted=aborted)
            except ExpctlError as err:
                raise await self.errors.refuse(err) from None
            self._ended.set()
            self._keep(self.daq.collect())  # shots stop_run found uncollected
            await self._publish(record)
            raise SkipWrite()
        return put

    async def _publish(self, record: RunRecord) -> None:
        await post(self.run, record.run)
        await post(self.shots, record.shots)
        await post(self.runinfo, run_json(record).encode())
        await post(self.status, record.status)
        await post(self.config, json.dumps(self.daq.config()).encode())

    # -- shots -------------------------------------------------------------------------
    def _keep(self, block: Any) -> None:
        if block is not None and len(block):
            self._pending.append((block.run, dict(block.data)))

    async def _collect(self, value: Any) -> None:
        if value not in ("Collect", 1):
            raise SkipWrite()
        if self.daq.running is not None:
            self._keep(self.daq.collect())
            self._last_collect = self.ioc.clock.now()
        await self._hand_over()
        raise SkipWrite()

    async def _hand_over(self) -> None:
        """Move up to BLOCK_MAX pending shots of the oldest pending run into the waveforms."""
        if not self._pending:
            await post(self.block_n, 0)
            await post(self.block_more, 0)
            return
        run = self._pending[0][0]
        parts: list[dict[str, np.ndarray]] = []
        room = BLOCK_MAX
        while self._pending and self._pending[0][0] == run and room > 0:
            data = self._pending[0][1]
            n = len(data["tag"])
            if n <= room:
                parts.append(data)
                self._pending.pop(0)
                room -= n
            else:
                parts.append({k: v[:room] for k, v in data.items()})
                self._pending[0] = (run, {k: v[room:] for k, v in data.items()})
                room = 0
        for key, channel in self.block.items():
            column = np.concatenate([p[key] for p in parts]).astype(np.float64)
            await channel.write(column, verify_value=False)
        await post(self.block_run, run)
        await post(self.block_n, BLOCK_MAX - room)
        await post(self.block_more, int(bool(self._pending)))
        await self.block_id.write(self.block_id.value + 1)

    async def refresh(self) -> None:
        """Collect a running run's shots now and then (so the facility archive grows live)."""
        running = self.daq.running
        now = self.ioc.clock.now()
        if running is not None and now - self._last_collect >= COLLECT_EVERY:
            self._keep(self.daq.collect())
            self._last_collect = now
            running = self.daq.running
        if running is not None:
            await post(self.shots, running.shots)
        await post(self.config, json.dumps(self.daq.config()).encode())
