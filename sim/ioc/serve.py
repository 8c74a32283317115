"""Running the simulated IOC: the caproto server, its scan loop, a clean stop.

The network side follows the usual EPICS variables: ``EPICS_CAS_INTF_ADDR_LIST``
(interfaces), ``EPICS_CAS_SERVER_PORT``/``EPICS_CA_SERVER_PORT`` (port),
``EPICS_CAS_BEACON_ADDR_LIST``/``EPICS_CAS_AUTO_BEACON_ADDR_LIST`` (beacons).
SIGTERM or Ctrl-C stop it cleanly (a run in progress is ended as aborted).
"""

from __future__ import annotations

import asyncio
import logging
import signal
import socket
from pathlib import Path
from typing import Any

from expctl.devices.profile import Profile
from expctl.errors import UserError
from sim.ioc.server import SimIOC

__all__ = ["serve"]


def _context_class() -> type:
    """caproto's asyncio server context, with Nagle's algorithm off on client circuits.

    caproto binds its listening socket with protocol 0, so asyncio does not set
    TCP_NODELAY on accepted connections; a reply split over two segments then waits
    for the client's delayed ACK, ~40 ms, whenever monitors are flowing.  Real IOCs
    (rsrv) set TCP_NODELAY on every circuit.
    """
    from caproto.asyncio.server import Context

    class NoDelayContext(Context):  # type: ignore[misc]
        async def tcp_handler(self, client: Any, addr: Any) -> None:
            sock = client.writer.get_extra_info("socket")
            if sock is not None:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            await super().tcp_handler(client, addr)

    return NoDelayContext


class _BeaconOnce(logging.Filter):
    """caproto logs a traceback for every beacon that nobody receives (no CA repeater on
    the host, usual on a loopback-only setup): say it once, in one line.  Beacons only
    help clients notice a restart sooner; expctl's client searches again by itself."""

    def __init__(self) -> None:
        super().__init__()
        self.said = False

    def filter(self, record: logging.LogRecord) -> bool:
        text = record.getMessage()
        if not text.startswith("Failed to send beacon"):
            return True
        if self.said:
            return False
        self.said = True
        record.msg = f"{text.split('. Try')[0]} (no CA repeater listening?); said once"
        record.args = ()
        record.exc_info = record.exc_text = None
        return True


def _log_to_terminal() -> None:
    """Warnings on stderr, one line each, without caproto's repeated beacon tracebacks."""
    logging.basicConfig(level=logging.WARNING, format="%(name)s: %(message)s")
    once = _BeaconOnce()
    for handler in logging.getLogger().handlers:
        handler.addFilter(once)


async def _serve(ioc: SimIOC) -> None:
    context = _context_class()(ioc.pvdb)
    await ioc.start()
    task = asyncio.current_task()
    loop = asyncio.get_running_loop()
    if task is not None:
        loop.add_signal_handler(signal.SIGTERM, task.cancel)

    async def started(async_lib: object) -> None:
        loop.create_task(ioc.scan())
        where = f" (data dir {ioc.data_dir})" if ioc.data_dir else ""
        closed = (f"; closed interrupted run(s) {', '.join(map(str, ioc.interrupted_runs))}"
                  if ioc.interrupted_runs else "")
        print(f"sim.ioc: serving {len(ioc.pvdb)} PVs of {ioc.beamline.profile.name} with "
              f"prefix {ioc.prefix} on port {context.port}, {ioc.speed:g}x real time"
              f"{where}{closed}", flush=True)

    try:
        await context.run(startup_hook=started)
    finally:
        ioc.close()


def serve(profile: Profile, *, prefix: str | None = None, speed: float = 1.0,
          data_dir: Path | None = None, seed: int | None = None, list_pvs: bool = False) -> int:
    """Serve ``profile`` until SIGTERM/Ctrl-C (or just list its PVs); returns the exit code.

    Raises:
        ExpctlError: a bad speed or profile.
    """
    if speed <= 0:
        raise UserError(f"--speed must be positive, got {speed:g}")
    ioc = SimIOC(profile, prefix=f"{profile.name.upper()}:" if prefix is None else prefix,
                 speed=speed, data_dir=data_dir, seed=seed)
    if list_pvs:
        print("\n".join(sorted(ioc.pvdb)))
        return 0
    _log_to_terminal()
    try:
        asyncio.run(_serve(ioc))
    except (KeyboardInterrupt, asyncio.CancelledError):
        pass
    return 0
