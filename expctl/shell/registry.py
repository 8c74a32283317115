"""The shell's command registry: one record per command, from which help and completion derive.

A :class:`ShellCommand` says what a command is called, what arguments it takes
(as :class:`ArgSpec` slots, so the completer knows whether a device, a number or
a file comes next), how it behaves while another command is running, and what
it does.  The registry is an object built by the shell (no import-time
registration), and :meth:`CommandRegistry.help_text` renders help from it.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from enum import Enum
from typing import Any

from expctl.errors import UserError

__all__ = ["ArgKind", "ArgSpec", "CommandRegistry", "Frame", "Handler", "Mode", "ShellCommand"]

#: A command's action: gets the shell context and the argument tokens.
Handler = Callable[[Any, list[str]], None]


class ArgKind(Enum):
    """What an argument slot holds; the completer offers candidates by kind."""

    MOTOR = "motor"            # a device with positions (motors, pseudo-axes)
    SETTABLE = "settable"      # any device that takes a target (motors, switches, attenuator)
    SHUTTER = "shutter"
    REQUESTABLE = "requestable"  # accelerator parameters
    DETECTOR = "detector"      # triggerable devices (detectors, monitors)
    DEVICE = "device"          # any device
    VALUE = "value"            # a number (optionally with a unit) or a state of the device before
    NUMBER = "number"          # a number, optionally with a unit
    INTEGER = "integer"
    FILE = "file"              # a sequence file
    PARAM = "param"            # NAME=VALUE for the sequence named before
    COMMAND = "command"        # a shell command name
    CHOICE = "choice"          # one of ArgSpec.choices
    TEXT = "text"              # free text


@dataclass(frozen=True, slots=True)
class ArgSpec:
    """One argument slot: a placeholder name for help, its kind, and fixed choices."""

    name: str
    kind: ArgKind
    optional: bool = False
    choices: tuple[str, ...] = ()

    def usage(self) -> str:
        shown = "|".join(self.choices) if self.choices else self.name
        return f"[{shown}]" if self.optional else shown


class Mode(Enum):
    """How a command runs relative to the command that may be running.

    ``IMMEDIATE`` commands act at once even while another command runs (engine
    control, help, history); ``READ`` commands too — they only look (``wa``,
    ``wm``, ``runs``, ``show``), and while a command works the beamline they read
    only what reading cannot disturb (positions and states, not detectors); typed
    after commands still waiting, they wait their turn (the order typed holds);
    ``WORKER`` commands run in order on the worker thread, queued behind a
    running one, so devices never see two callers.
    """

    IMMEDIATE = "immediate"
    READ = "read"
    WORKER = "worker"


class Frame(Enum):
    """Whether a motion command's positions are absolute or relative to where axes are.

    A did-you-mean never silently offers a command of the other frame: SPEC's
    ``dscan`` (relative) mistyped must not become ``scan`` (absolute).
    """

    ABSOLUTE = "absolute"
    RELATIVE = "relative"


@dataclass(frozen=True, slots=True)
class ShellCommand:
    """A shell command.

    Args:
        name: what the operator types.
        summary: one line for ``help``.
        args: argument slots in order.
        handler: the action.
        repeat_from: index of the first slot of a group that repeats (``mv DEV POS
            [DEV POS…]`` repeats from 0); ``None`` for a fixed list.
        mode: immediate or worker (see :class:`Mode`).
        details: further help text shown by ``help CMD``.
        aliases: other names accepted.
        example: a worked example (command lines and what they do) for ``help CMD``.
        frame: absolute or relative, for commands that move axes to positions.
        group: the heading ``help`` lists it under.
    """

    name: str
    summary: str
    args: tuple[ArgSpec, ...]
    handler: Handler
    repeat_from: int | None = None
    mode: Mode = Mode.WORKER
    details: str = ""
    aliases: tuple[str, ...] = ()
    example: str = ""
    frame: Frame | None = None
    group: str = ""

    def slot(self, index: int) -> ArgSpec | None:
        """The slot argument ``index`` (0-based) fills, following the repeat group."""
        if index < len(self.args):
            return self.args[index]
        if self.repeat_from is None or not self.args:
            return None
        group = len(self.args) - self.repeat_from
        return self.args[self.repeat_from + (index - self.repeat_from) % group]

    def usage(self) -> str:
        parts = [self.name] + [a.usage() for a in self.args]
        if self.repeat_from is not None:
            parts.append("…")
        return " ".join(parts)

    def check_count(self, given: int) -> None:
        """Refuse a wrong number of arguments with the usage line."""
        needed = sum(1 for a in self.args if not a.optional)
        fixed = len(self.args)
        too_few = given < needed
        too_many = self.repeat_from is None and given > fixed
        uneven = (self.repeat_from is not None and given > fixed
                  and (given - self.repeat_from) % (fixed - self.repeat_from) != 0
                  and not self.args[-1].optional)
        if too_few or too_many or uneven:
            raise UserError(f"{self.name}: expected {self.usage()}, got {given} "
                            f"argument{'s' if given != 1 else ''}",
                            hint=f"See `help {self.name}`.")


class CommandRegistry:
    """Commands by name (and alias); the source of help and of command completion."""

    def __init__(self, commands: Iterable[ShellCommand] = ()) -> None:
        self._commands: dict[str, ShellCommand] = {}
        self._names: dict[str, ShellCommand] = {}
        for c in commands:
            self.add(c)

    def add(self, command: ShellCommand) -> None:
        for name in (command.name, *command.aliases):
            if name in self._names:
                raise ValueError(f"shell command {name!r} registered twice")
            self._names[name] = command
        self._commands[command.name] = command

    def __iter__(self) -> Iterator[ShellCommand]:
        return iter(self._commands.values())

    def __contains__(self, name: object) -> bool:
        return name in self._names

    def names(self) -> list[str]:
        """Every name a command answers to, sorted."""
        return sorted(self._names)

    def get(self, name: str) -> ShellCommand:
        """The command called ``name``, or a UserError with a did-you-mean."""
        try:
            return self._names[name]
        except KeyError:
            raise UserError(f"unknown command {name!r}", hint=self._did_you_mean(name)) \
                from None

    def _did_you_mean(self, name: str) -> str:
        """A suggestion that cannot swap an absolute move for a relative one unnoticed.

        When the close names include motion commands, each is offered with its frame
        (and all frames that are close are offered), so ``dscna`` reads "Did you mean
        `dscan` (relative)?" and never just "`scan`".
        """
        close = difflib.get_close_matches(name, list(self._names), n=3, cutoff=0.6)
        if not close:
            return "Type `help` for the commands."
        frames = [self._names[c].frame for c in close]
        if all(f is None for f in frames):
            return f"Did you mean `{close[0]}`?"
        shown = [f"`{c}` ({f.value})" if f is not None else f"`{c}`"
                 for c, f in zip(close, frames, strict=True)
                 if f is not None or c == close[0]]
        return f"Did you mean {' or '.join(shown)}?"

    def help_text(self, name: str | None = None) -> str:
        """The command list, or one command's usage, summary and details."""
        if name is None:
            width = max(len(c.name) for c in self) if self._commands else 0
            groups: dict[str, list[str]] = {}
            for c in self:
                groups.setdefault(c.group, []).append(f"  {c.name:<{width}}  {c.summary}")
            parts = [(f"{group}:\n" if group else "") + "\n".join(lines)
                     for group, lines in groups.items()]
            return "commands (help CMD for more, with an example):\n" + "\n".join(parts)
        cmd = self.get(name)
        text = f"{cmd.usage()}\n  {cmd.summary}"
        if cmd.aliases:
            text += f"\n  also: {', '.join(cmd.aliases)}"
        if cmd.frame is not None:
            text += f"\n  positions are {cmd.frame.value}"
        if cmd.details:
            text += "\n" + "\n".join(f"  {line}" for line in cmd.details.splitlines())
        if cmd.example:
            text += "\n  example:\n" + "\n".join(f"    {line}"
                                                  for line in cmd.example.splitlines())
        return text
