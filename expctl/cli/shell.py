"""``expctl shell``: the interactive operator console (prompt_toolkit).

The prompt appears before the beamline is connected: the session opens on the
shell's worker thread, so start-up costs only prompt_toolkit's import.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from expctl.cli import Command

__all__ = ["COMMAND", "data_dir_of"]


def data_dir_of(args: argparse.Namespace) -> Path:
    """``--data-dir``, else ``$EXPCTL_DATA_DIR`` or ``./expctl-data``.

    The same rule as :func:`expctl.runlog.paths.default_data_dir` (a test keeps
    them equal), repeated here because importing expctl.runlog costs ~0.3 s of
    start-up the first prompt cannot afford.
    """
    if args.data_dir:
        return Path(args.data_dir)
    return Path(os.environ.get("EXPCTL_DATA_DIR") or "expctl-data")


def _configure(p: argparse.ArgumentParser) -> None:
    from expctl.cli.run import add_session_args

    add_session_args(p)


def _run(args: argparse.Namespace) -> int:
    from expctl.shell.app import Shell

    data_dir = data_dir_of(args)

    def open_session() -> object:
        from expctl.session import Session

        return Session.open(args.profile, data_dir, args.seed, speed=args.speed,
                            access=args.access)

    name = Path(args.profile).stem if args.profile.endswith((".yaml", ".yml")) else args.profile
    return Shell(open_session, profile_name=name, data_dir=data_dir).run()  # type: ignore[arg-type]


COMMAND = Command("shell", "interactive operator console (wa, mv, rock, seq run, …)",
                  _configure, _run)
