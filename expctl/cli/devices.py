"""``expctl devices``: where-all — every device of the profile with its current reading."""

from __future__ import annotations

import argparse

from expctl.cli import Command

__all__ = ["COMMAND"]


def _configure(p: argparse.ArgumentParser) -> None:
    from expctl.cli.run import add_session_args

    p.add_argument("--json", action="store_true", help="print one JSON object")
    add_session_args(p)


def _run(args: argparse.Namespace) -> int:
    from expctl.cli.run import _print_json, console, open_session
    from expctl.ui.report import plain
    from expctl.ui.views import print_devices

    with open_session(args) as session:
        rows = session.where()
    if args.json:
        _print_json({"profile": session.profile.name, "devices": plain(rows)})
    else:
        print_devices(console(), rows)
    return 0


COMMAND = Command("devices", "list every device with its position or state (where-all)",
                  _configure, _run)
