"""``python -m sim.ioc --profile bl3 --prefix BL3:``: serve the simulated beamline over CA.

The network side follows the usual EPICS variables: ``EPICS_CAS_INTF_ADDR_LIST``
(interfaces), ``EPICS_CAS_SERVER_PORT``/``EPICS_CA_SERVER_PORT`` (port),
``EPICS_CAS_BEACON_ADDR_LIST``/``EPICS_CAS_AUTO_BEACON_ADDR_LIST`` (beacons).
SIGTERM or Ctrl-C stop it cleanly (a run in progress is ended as aborted).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from collections.abc import Sequence
from pathlib import Path

from expctl.errors import ExpctlError

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m sim.ioc",
        description="Serve the simulated beamline as an EPICS Channel Access IOC.")
    p.add_argument("--profile", default="bl3", metavar="NAME",
                   help="simulator profile name or YAML file (default: bl3)")
    p.add_argument("--prefix", default=None, metavar="P",
                   help="PV name prefix (default: the profile name in capitals and ':')")
    p.add_argument("--speed", type=float, default=1.0, metavar="X",
                   help="simulated seconds per wall-clock second (default: 1)")
    p.add_argument("--data-dir", default=None, metavar="DIR",
                   help="where the facility archive and autosave live "
                        "(default: $EXPCTL_DATA_DIR or ./expctl-data)")
    p.add_argument("--seed", type=int, default=None, metavar="N", help="simulator seed")
    p.add_argument("--list-pvs", action="store_true",
                   help="print every PV name and exit without serving")
    return p


async def _serve(ioc: object) -> None:
    from caproto.asyncio.server import Context

    from sim.ioc.server import SimIOC

    assert isinstance(ioc, SimIOC)  # noqa: S101 (typing aid in a script)
    context = Context(ioc.pvdb)
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


def main(argv: Sequence[str] | None = None) -> int:
    """Run the IOC until SIGTERM/Ctrl-C; returns the exit code."""
    args = _parser().parse_args(argv)
    from expctl.devices.registry import BackendRegistry
    from expctl.paths import resolve_data_dir
    from sim.backend import SimBackend
    from sim.ioc.server import SimIOC

    logging.basicConfig(level=logging.WARNING, format="%(name)s: %(message)s")
    try:
        if args.speed <= 0:
            raise ExpctlError(f"--speed must be positive, got {args.speed:g}")
        profile = BackendRegistry({"sim": SimBackend()}).find_profile(args.profile)
        prefix = args.prefix if args.prefix is not None else f"{profile.name.upper()}:"
        data_dir: Path = resolve_data_dir(args.data_dir)
        ioc = SimIOC(profile, prefix=prefix, speed=args.speed, data_dir=data_dir,
                     seed=args.seed)
    except ExpctlError as err:
        print(f"error: {err.paragraph()}", file=sys.stderr)
        return err.exit_code
    if args.list_pvs:
        print("\n".join(sorted(ioc.pvdb)))
        return 0
    try:
        asyncio.run(_serve(ioc))
    except (KeyboardInterrupt, asyncio.CancelledError):
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
