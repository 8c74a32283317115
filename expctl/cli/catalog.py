"""``expctl catalog rebuild|recover``: repair the run catalog from the run files.

``rebuild`` recreates the catalog from the metadata every run file carries (the
old one is kept beside it); ``recover`` does what the next run would do at its
start: close runs a crashed session left running and register orphan files.
"""

from __future__ import annotations

import argparse

from expctl.cli import Command
from expctl.paths import DATA_DIR_HELP, resolve_data_dir

__all__ = ["COMMAND"]


def _configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("action", choices=("rebuild", "recover"),
                   help="rebuild: a new catalog from the run files (the old one is kept); "
                        "recover: close runs a crashed session left running, register "
                        "orphan files")
    p.add_argument("--json", action="store_true", help="what was done, as one JSON object")
    p.add_argument("--data-dir", metavar="DIR", help=DATA_DIR_HELP)


def _run(args: argparse.Namespace) -> int:
    from expctl.cli.run import _print_json, console
    from expctl.errors import UserError
    from expctl.ui.integrity import print_rebuild_report

    data_dir = resolve_data_dir(args.data_dir)
    if not data_dir.is_dir():
        raise UserError(f"no data directory {data_dir}",
                        hint="Give --data-dir DIR (or set EXPCTL_DATA_DIR).")
    if args.action == "rebuild":
        from expctl.runlog.rebuild import rebuild_catalog

        report = rebuild_catalog(data_dir)
        if args.json:
            _print_json(report.as_dict())
        else:
            print_rebuild_report(console(), report)
        return 0
    from expctl.paths import prepare_for_writing
    from expctl.runlog.catalog import Catalog
    from expctl.runlog.recovery import recover

    prepare_for_writing(data_dir)
    with Catalog(data_dir) as catalog:
        runs = recover(catalog)
    if args.json:
        _print_json({"recovered": runs})
    else:
        console().print(f"recovered {len(runs)} run{'s' if len(runs) != 1 else ''}"
                        + (": " + ", ".join(map(str, runs)) if runs else " (nothing to do)"),
                        markup=False)
    return 0


COMMAND = Command("catalog", "repair the run catalog: rebuild it from the run files, or "
                             "recover runs a crash left open", _configure, _run)
