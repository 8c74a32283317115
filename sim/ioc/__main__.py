"""``python -m sim.ioc --profile bl3 --prefix BL3:``: serve the simulated beamline over CA
(``expctl sim-ioc`` is the same command)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

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


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m sim.ioc``: returns the exit code."""
    args = _parser().parse_args(argv)
    from expctl.devices.registry import BackendRegistry
    from expctl.paths import resolve_data_dir
    from sim.backend import SimBackend
    from sim.ioc.serve import serve

    try:
        profile = BackendRegistry({"sim": SimBackend()}).find_profile(args.profile)
        return serve(profile, prefix=args.prefix, speed=args.speed,
                     data_dir=resolve_data_dir(args.data_dir), seed=args.seed,
                     list_pvs=args.list_pvs)
    except ExpctlError as err:
        print(f"error: {err.paragraph()}", file=sys.stderr)
        return err.exit_code


if __name__ == "__main__":
    sys.exit(main())
