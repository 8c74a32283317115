"""``expctl validate SEQ``: every problem in a sequence, with file:line:column; exit 2 if any.

Needs only the beamline profile: no backend is connected.
"""

from __future__ import annotations

import argparse

from expctl.cli import Command

__all__ = ["COMMAND"]


def _configure(p: argparse.ArgumentParser) -> None:
    from expctl.cli.run import add_session_args

    p.add_argument("sequence", metavar="SEQ", help="YAML sequence file")
    p.add_argument("--set", dest="overrides", action="append", default=[],
                   metavar="NAME=VALUE", help="override a parameter (repeatable)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    add_session_args(p, seeds=False)


def _run(args: argparse.Namespace) -> int:
    from expctl.cli.run import _print_json, check_sequence_path, console, open_session
    from expctl.ui.report import markup_safe, validation_dict
    from expctl.ui.views import print_errors

    check_sequence_path(args.sequence)
    with open_session(args) as session:
        loaded = session.validate(args.sequence, args.overrides)
    if args.json:
        _print_json(validation_dict(loaded))
    elif loaded.ok:
        report = loaded.report
        console().print(f"[green]ok[/]: {markup_safe(loaded.path)} ({markup_safe(loaded.name)}): "
                        f"{report.runs} run{'s' if report.runs != 1 else ''}, "
                        f"{report.shots} shots")
        if report.warnings:
            print_errors(console(stderr=True), report.warnings, "warnings")
    else:
        print_errors(console(stderr=True), loaded.errors, str(loaded.path))
    return 0 if loaded.ok else 2


COMMAND = Command("validate", "check a YAML sequence without running it", _configure, _run)
