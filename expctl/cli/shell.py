"""``expctl shell``: the interactive operator console (prompt_toolkit).

The prompt appears before the beamline is connected: the session opens on the
shell's worker thread, so start-up costs only prompt_toolkit's import.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

from expctl.cli import Command
from expctl.paths import resolve_data_dir

if TYPE_CHECKING:
    from expctl.session import Session

__all__ = ["COMMAND", "run_cli_command"]


class _ShellArgumentParser(argparse.ArgumentParser):
    """argparse that raises a UserError instead of exiting (the shell carries on)."""

    def error(self, message: str) -> NoReturn:
        from expctl.errors import UserError

        raise UserError(f"{self.prog}: {message}", hint=f"See `help {self.prog}`.")


def run_cli_command(name: str, argv: list[str], data_dir: Path) -> None:
    """Run the CLI subcommand ``name`` with shell words ``argv`` on ``data_dir``.

    The shell's ``runs``, ``show`` and ``reduce`` are these, so the two
    surfaces cannot drift apart.
    """
    import importlib

    from expctl.cli import COMMAND_MODULES
    from expctl.errors import UserError

    for module_name in COMMAND_MODULES:
        module = importlib.import_module(module_name)
        commands: tuple[Command, ...] = getattr(module, "COMMANDS", None) or (module.COMMAND,)
        for command in commands:
            if command.name == name:
                parser = _ShellArgumentParser(prog=name, add_help=False)
                command.configure(parser)
                ns = parser.parse_args(argv)
                ns.data_dir = str(data_dir)
                command.run(ns)
                return
    raise UserError(f"the CLI has no command {name!r}")


def _configure(p: argparse.ArgumentParser) -> None:
    from expctl.cli.run import add_session_args

    add_session_args(p, control=True)


def _run(args: argparse.Namespace) -> int:
    from expctl.beamtime.faults import parse_fault
    from expctl.shell.app import Shell

    for text in args.faults:  # a bad schedule is refused before the shell starts
        parse_fault(text)
    data_dir = resolve_data_dir(args.data_dir)

    def open_session() -> Session:
        from expctl.session import Session

        return Session.open(args.profile, data_dir, args.seed, speed=args.speed,
                            access=args.access, suspenders=args.suspenders, faults=args.faults)

    name = Path(args.profile).stem if args.profile.endswith((".yaml", ".yml")) else args.profile
    return Shell(open_session, profile_name=name, data_dir=data_dir,
                 delegate=run_cli_command).run()


COMMAND = Command("shell", "interactive operator console (wa, mv, rock, seq run, …)",
                  _configure, _run)
