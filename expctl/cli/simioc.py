"""``expctl sim-ioc``: serve the simulated beamline as an EPICS IOC (``python -m sim.ioc``).

The command reaches the simulator through its backend (``serve_ioc``), never by
importing it: expctl does not import sim.
"""

from __future__ import annotations

import argparse

from expctl.cli import Command
from expctl.paths import DATA_DIR_HELP

__all__ = ["COMMAND"]


def _configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("--profile", default="bl3", metavar="NAME",
                   help="simulator profile name or YAML file (default: bl3)")
    p.add_argument("--prefix", default=None, metavar="P",
                   help="PV name prefix (default: the profile name in capitals and ':')")
    p.add_argument("--speed", type=float, default=1.0, metavar="X",
                   help="simulated seconds per wall-clock second (default: 1); run the "
                        "client with the same --speed")
    p.add_argument("--data-dir", default=None, metavar="DIR", help=DATA_DIR_HELP)
    p.add_argument("--seed", type=int, default=None, metavar="N", help="simulator seed")
    p.add_argument("--list-pvs", action="store_true",
                   help="print every PV name and exit without serving")


def _run(args: argparse.Namespace) -> int:
    from expctl.devices.registry import BackendRegistry
    from expctl.errors import UserError
    from expctl.paths import resolve_data_dir

    registry = BackendRegistry()
    profile = registry.find_profile(args.profile)
    serve = getattr(registry.get(profile.backend), "serve_ioc", None)
    if serve is None:
        twin = profile.raw.get("twin")
        raise UserError(f"profile {profile.name} (backend {profile.backend}) describes a "
                        "control system to connect to, not a simulator to serve",
                        hint=f"Serve its simulated twin: --profile {twin}." if twin else
                        "Serve a simulator profile, e.g. --profile bl3.")
    return int(serve(profile, prefix=args.prefix, speed=args.speed,
                     data_dir=resolve_data_dir(args.data_dir), seed=args.seed,
                     list_pvs=args.list_pvs))


COMMAND = Command("sim-ioc", "serve the simulated beamline as an EPICS Channel Access IOC",
                  _configure, _run)
