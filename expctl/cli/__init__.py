"""The ``expctl`` command line.

Each subcommand lives in its own module exposing ``COMMAND`` (a :class:`Command`) or,
for a few closely related ones, ``COMMANDS`` (a tuple);
:data:`COMMAND_MODULES` is the explicit registry.  Modules import only argparse-level
things at import time so ``expctl --help`` stays fast; heavy work is imported
inside ``run``.  Every :class:`~expctl.errors.ExpctlError` is rendered as one
paragraph on stderr with the exit code it carries (2 user error, 1 failure),
Ctrl-C exits 130, and no user error ever prints a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable, Sequence
from typing import NoReturn

from expctl import __version__
from expctl.errors import ExpctlError
from expctl.records import record

__all__ = ["COMMAND_MODULES", "Command", "entry", "main"]


@record
class Command:
    """One subcommand: its name, one-line help, argument setup and action."""

    name: str
    help: str
    configure: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]


#: Subcommand modules, in the order ``--help`` lists them.
COMMAND_MODULES: tuple[str, ...] = (
    "expctl.cli.run", "expctl.cli.validate", "expctl.cli.resume", "expctl.cli.campaigns",
    "expctl.cli.devices", "expctl.cli.runs", "expctl.cli.reduce", "expctl.cli.geometry",
    "expctl.cli.check", "expctl.cli.catalog", "expctl.cli.sample", "expctl.cli.shell",
    "expctl.cli.simioc",
)


class _HelpFormatter(argparse.HelpFormatter):
    """argparse's formatter without breaking words at hyphens (``./expctl-`` / ``data``)."""

    def _split_lines(self, text: str, width: int) -> list[str]:
        import textwrap

        return textwrap.wrap(" ".join(text.split()), width, break_on_hyphens=False)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="expctl", formatter_class=_HelpFormatter,
        description="Experiment control for pulsed X-ray beamlines "
                    "(simulated beamline by default).",
    )
    parser.add_argument("--version", action="version", version=f"expctl {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module_name in COMMAND_MODULES:
        module = importlib.import_module(module_name)
        # a module may define several closely related subcommands as COMMANDS
        commands: tuple[Command, ...] = getattr(module, "COMMANDS", None) or (module.COMMAND,)
        for command in commands:
            p = sub.add_parser(command.name, help=command.help, description=command.help,
                               formatter_class=_HelpFormatter)
            command.configure(p)
            p.set_defaults(_run=command.run)
    return parser


def render_error(err: ExpctlError) -> str:
    """The one paragraph a user sees for ``err`` (text from files shown, never obeyed)."""
    from expctl.ui.report import inert

    return f"error: {inert(err.paragraph(), newlines=True)}"


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``expctl`` console script; returns the exit code."""
    parser = _parser()
    args = parser.parse_args(argv)
    if getattr(args, "_run", None) is None:
        parser.print_help()
        return 2
    try:
        return int(args._run(args))
    except ExpctlError as err:
        print(render_error(err), file=sys.stderr)
        return err.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `expctl runs --json | head`: the reader left, not an error
        _silence_stdout()
        return 0
    except Exception as exc:  # a bug in expctl: still one paragraph; the traceback to a file
        from expctl.ui.report import inert

        report = _save_traceback(exc)
        print(f"internal error: {type(exc).__name__}: {inert(exc)}. This is a bug in expctl, "
              f"not in your input; the traceback is in {report} (please attach it to a bug "
              "report).", file=sys.stderr)
        return 1


def entry() -> NoReturn:
    """The ``expctl`` console script (and ``python -m expctl.cli``): :func:`main`, then an
    exit without the interpreter's teardown.

    Everything expctl writes is closed before :func:`main` returns (the session closes
    its run log, journal, registry, plot worker and beamline); what is left is tearing
    down the interpreter, where numba's LLVM alone takes ~0.4 s after a campaign that
    fitted a peak — as long as the rest of a short campaign (ADR 16).  Logging and the
    standard streams are flushed first.  Under a profiler or a tracer (cProfile,
    coverage), which write their figures at exit, it exits the ordinary way.
    """
    import logging
    import os

    code = main()
    if sys.getprofile() is not None or sys.gettrace() is not None:
        sys.exit(code)
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a reader that left, a closed stream: nothing to add
            pass
    os._exit(code)


def _save_traceback(exc: BaseException) -> str:
    """Write the traceback of ``exc`` to a temporary file and return its path."""
    import tempfile
    import traceback

    with tempfile.NamedTemporaryFile("w", prefix="expctl-crash-", suffix=".txt",
                                     delete=False, encoding="utf-8") as f:
        traceback.print_exception(exc, file=f)
    return f.name


def _silence_stdout() -> None:
    """Point stdout at /dev/null so the interpreter's final flush cannot fail again."""
    import os

    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)


if __name__ == "__main__":  # pragma: no cover
    entry()
