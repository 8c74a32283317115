"""``expctl check``: verify a data directory (read-only); exit 0 consistent, 1 not.

Every run file against the catalog's SHA-256 and metadata, orphan files and
dangling rows, unreadable files, runs left running (in the catalog or in the
facility's run table), corrupt campaign journals.  Each problem says what to do.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from expctl.cli import Command
from expctl.paths import DATA_DIR_HELP, resolve_data_dir

__all__ = ["COMMAND"]


def _configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="the report as one JSON object")
    p.add_argument("--profile", default="bl3", metavar="NAME",
                   help="profile whose backend keeps the facility run table (default: bl3)")
    p.add_argument("--data-dir", metavar="DIR", help=DATA_DIR_HELP)


def facility_runs(data_dir: Path, profile: str) -> Any:
    """``runs(beamlines)`` listing ``(beamline, run, status)`` from the facility archive,
    or None when the data directory keeps no facility (a real beamline's DAQ)."""
    from expctl.paths import DataDir

    if not DataDir(data_dir).facility.is_dir():
        return None
    from expctl.compat.facility import open_facility

    archive = open_facility(data_dir, profile)

    def runs(beamlines: Iterable[int]) -> Iterator[tuple[int, int, int]]:
        from expctl.errors import CorruptFileError

        for beamline in beamlines:
            for run in range(1, archive.newest_run(beamline) + 1):
                try:
                    yield beamline, run, archive.run_record(beamline, run).status
                except KeyError:
                    continue
                except (ValueError, TypeError, OSError) as exc:
                    raise CorruptFileError(f"run {run} of beamline {beamline} in the "
                                           f"facility archive: {exc}") from None

    return runs


def _run(args: argparse.Namespace) -> int:
    from expctl.cli.run import _print_json, console
    from expctl.errors import UserError
    from expctl.runlog.integrity import check_data_dir
    from expctl.ui.integrity import print_check_report

    data_dir = resolve_data_dir(args.data_dir)
    if not data_dir.is_dir():
        raise UserError(f"no data directory {data_dir}",
                        hint="Give --data-dir DIR (or set EXPCTL_DATA_DIR).")
    report = check_data_dir(data_dir, facility_runs(data_dir, args.profile))
    if args.json:
        _print_json(report.as_dict())
    else:
        print_check_report(console(), report)
    return 0 if report.consistent else 1


COMMAND = Command("check", "verify a data directory: files against the catalog's checksums, "
                           "orphans, unfinished runs, journals (exit 1 if inconsistent)",
                  _configure, _run)
