"""``expctl geometry export RUN``: a run's detector geometry as a CrystFEL ``.geom`` file.

The geometry comes from the facility archive exactly as ``stpy``'s
``read_det_info`` gives it (see docs/geometry.md), so CrystFEL, extra-geom or
cfelpyutils assemble the same image as ``ippy.reconstruction``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from expctl.cli import Command
from expctl.errors import UserError
from expctl.paths import DATA_DIR_HELP, resolve_data_dir

__all__ = ["COMMAND"]


def _configure(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    export = sub.add_parser("export", help="write a run's detector geometry as CrystFEL .geom",
                            description="Write the geometry of a run's multi-sensor detector "
                                        "(from read_det_info) as a CrystFEL .geom file.")
    export.add_argument("run", type=int, help="run number")
    export.add_argument("-o", "--output", metavar="FILE",
                        help="write the .geom here (default: standard output)")
    export.add_argument("--detector", metavar="ID",
                        help="detector id, e.g. MPCCD-8N0-3-002 (default: the run's only "
                             "multi-sensor detector)")
    export.add_argument("--data", default="/data/data", metavar="PATH",
                        help="HDF5 path of the frames the .geom describes (default /data/data)")
    export.add_argument("--profile", default="bl3",
                        help="beamline profile: its backend keeps the facility archive and "
                             "its beamline number is the run's (default bl3)")
    export.add_argument("--json", action="store_true",
                        help="print a summary (panels, file) as JSON instead")
    export.add_argument("--data-dir", metavar="DIR", help=DATA_DIR_HELP)


def _export(args: argparse.Namespace) -> int:
    from expctl.compat import APIError, open_facility
    from expctl.compat.geometry import crystfel_geom, read_detector
    from expctl.devices.registry import BackendRegistry

    data_dir = resolve_data_dir(args.data_dir)
    if not data_dir.is_dir():
        raise UserError(f"data directory {data_dir} does not exist",
                        hint="Give --data-dir DIR (or set EXPCTL_DATA_DIR) for the beamtime's "
                             "data.")
    registry = BackendRegistry()
    beamline = registry.find_profile(args.profile).beamline
    archive = open_facility(data_dir, args.profile, registry)
    try:
        detector, sensors = read_detector(archive, beamline, args.run, args.detector)
        energy_ev = 1000.0 * archive.photon_energy_kev(beamline, args.run)
    except APIError as err:
        raise UserError(f"{err.message} (data directory {data_dir})", allowed=err.allowed,
                        hint="`expctl runs` lists the logged runs; --detector chooses among "
                             "a run's detectors.") from None
    text = crystfel_geom(sensors, photon_energy_ev=energy_ev, detector=detector, run=args.run,
                         data_path=args.data)
    if args.output:
        out = Path(args.output)
        try:
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text(text, encoding="utf-8")
        except OSError as exc:
            raise UserError(f"cannot write {out}: {exc.strerror}",
                            hint="Choose a writable path with -o.") from None
    if args.json:
        json.dump({"run": args.run, "beamline": beamline, "detector": detector,
                   "photon_energy_ev": energy_ev, "file": args.output,
                   "panels": [{"sensor": s.sensor_id, **s.crystfel_panel()} for s in sensors],
                   **({} if args.output else {"geom": text})}, sys.stdout)
        sys.stdout.write("\n")
    elif args.output:
        print(f"{args.output}: {len(sensors)} panels of {detector}, run {args.run} "
              f"(BL{beamline}, {energy_ev / 1000.0:g} keV)")
    else:
        sys.stdout.write(text)
    return 0


def _run(args: argparse.Namespace) -> int:
    return _export(args)  # the only action so far; argparse requires one


COMMAND = Command(name="geometry", help="detector geometry of a run (export as CrystFEL .geom)",
                  configure=_configure, run=_run)
