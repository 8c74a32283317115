"""Where things are and moving them: ``wa``, ``wm``, ``mv``/``mvr``/``umv``/``umvr``, ``set``,
``open``/``close``, ``request`` and ``tw`` (tweak).

Targets are parsed with units by :mod:`expctl.shell.parse` (the rules a YAML
sequence uses), checked against limits and access before anything moves, and
driven as plans on the shell's engine.  A Ctrl-C during a move stops the axes at
once, SPEC-like; the position reached is printed.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from expctl.errors import UserError
from expctl.shell.parse import parse_amount, parse_relative, parse_targets
from expctl.ui.scanview import number_text

if TYPE_CHECKING:
    from expctl.shell.app import Shell

__all__ = ["move", "request", "set_devices", "shutter", "tweak", "where_all", "where_motor"]


def _unit(units: str) -> str:
    return f" {units}" if units else ""


def where_all(sh: Shell, args: list[str]) -> None:
    """``wa``: every device's value, units, limits and access (instruments only when
    reading them cannot disturb a running command)."""
    from expctl.ui.views import print_devices

    print_devices(sh.console(), sh.where())


def where_motor(sh: Shell, args: list[str]) -> None:
    """``wm DEV…``: one line per device: value, units, limits, kind, access, description."""
    rows = sh.where()
    for name in args:
        if name not in rows:
            close = difflib.get_close_matches(name, list(rows), n=1, cutoff=0.6)
            raise UserError(f"unknown device {name!r}", device=name,
                            hint=f"Did you mean {close[0]!r}?" if close else "Type `wa`.")
    for name in args:
        row = rows[name]
        value = row["value"]
        shown = number_text(value) if isinstance(value, float) else str(value)
        units = _unit(row["units"]) if isinstance(value, int | float) else ""
        limits = f"  limits {row['limits']}" if row["limits"] else ""
        sh.write(f"{name:<12} {shown}{units}{limits}  [{row['kind']}, {row['access']}]"
                 f"{'  ' + row['description'] if row['description'] else ''}")


def move(sh: Shell, args: list[str], *, relative: bool, live: bool) -> None:
    """``mv``/``mvr``/``umv``/``umvr``: all axes at once; limits checked first.

    ``umv``/``umvr`` show the readback in the toolbar while moving and print where
    the axes ended; a Ctrl-C stops them where they are (and says where that is).
    """
    from expctl.plans.stubs import mv

    session = sh.session
    specs = session.profile.devices
    if relative:
        steps = parse_relative(args, specs)
        targets = {n: float(sh.device(n).position) + d for n, d in steps.items()}
    else:
        targets = {n: float(v) for n, v in parse_targets(args, specs, "move",
                                                           session.access).items()}
    for name, value in targets.items():
        specs[name].limits.check(name, value)
    if live:
        sh.write("  ".join(f"{n} {number_text(sh.device(n).position)} → {number_text(v)}"
                           f"{_unit(specs[n].units)}" for n, v in targets.items()))
    try:
        sh.run_plan(lambda: mv(targets), watch=tuple(targets))
    finally:
        if live or sh.interrupted:
            sh.write(_positions(sh, targets, specs))


def _positions(sh: Shell, targets: Mapping[str, float], specs: Mapping[str, Any]) -> str:
    parts = []
    for name, target in targets.items():
        here = float(sh.device(name).position)
        short = "" if abs(here - target) <= 1e-9 * max(1.0, abs(target)) else \
            f" (stopped short of {number_text(target)})"
        parts.append(f"{name} {number_text(here)}{_unit(specs[name].units)}{short}")
    return "  ".join(parts)


def _put_each(sh: Shell, args: list[str], verb: str, put_plan: Any) -> dict[str, Any]:
    """Check ``DEV VALUE…`` as ``verb`` would (limits, access), then run ``put_plan`` on
    each target in one plan; the targets, for the caller's confirmation line."""
    targets = parse_targets(args, sh.session.profile.devices, verb, sh.session.access)

    def plan() -> Any:
        for name, value in targets.items():
            yield from put_plan(name, value)

    sh.run_plan(plan)
    return targets


def set_devices(sh: Shell, args: list[str]) -> None:
    """``set DEV VALUE…``: discrete and continuous devices (attenuator, gain, shutter)."""
    from expctl.plans.stubs import put

    targets = _put_each(sh, args, "set", put)
    specs = sh.session.profile.devices
    sh.write("  ".join(f"{n} {number_text(v)}{_unit(specs[n].units)}"
                       if isinstance(v, float) else f"{n} {v}" for n, v in targets.items()))


def shutter(state: str) -> Any:
    """``open``/``close`` [SHUTTER]: the profile's shutter unless another is named."""
    def handler(sh: Shell, args: list[str]) -> None:
        from expctl.plans.stubs import close_shutter, open_shutter

        name = args[0] if args else sh.settings.shutter
        parse_targets([name, state], sh.session.profile.devices, "set", sh.session.access)
        sh.run_plan(lambda: (open_shutter if state == "open" else close_shutter)(name))
        sh.write(f"{name} {sh.device(name).state}")

    return handler


def request(sh: Shell, args: list[str]) -> None:
    """``request DEV VALUE``: an accelerator parameter, waited for until applied."""
    from expctl.plans.stubs import request as request_plan

    targets = _put_each(sh, args, "request", request_plan)
    specs = sh.session.profile.devices
    sh.write("  ".join(f"{n} {number_text(sh.device(n).read()[n])}{_unit(specs[n].units)} "
                       "(applied)" for n in targets))


def tweak(sh: Shell, args: list[str]) -> None:
    """``tw DEV STEP``: step an axis with ``+``/``-`` (Enter repeats, a number changes the
    step, ``q`` ends), printing where it is after each step — SPEC's ``tw``."""
    specs = sh.session.profile.devices
    name = args[0]
    steps = parse_relative([name, args[1]], specs)
    step = abs(steps[name])
    if step == 0:
        raise UserError("tw: the step must not be zero", device=name)
    unit = specs[name].units
    here = number_text(sh.device(name).position)
    sh.write(f"tweaking {name} (at {here}{_unit(unit)}) by {number_text(step)}{_unit(unit)}: "
             "+ or - then Enter; Enter repeats; a number sets the step; q ends")
    sh.start_tweak(_Tweak(name, step, unit))


class _Tweak:
    """The state of a ``tw`` session: which axis, the step, the last direction."""

    def __init__(self, axis: str, step: float, unit: str) -> None:
        self.axis = axis
        self.step = step
        self.unit = unit
        self.direction = 0

    def prompt(self) -> str:
        return f"tw {self.axis} ±{number_text(self.step)}{_unit(self.unit)} [+/-/q]> "

    def line(self, sh: Shell, text: str) -> bool:
        """Act on one typed line; False when the tweak session ends."""
        word = text.strip().lower()
        if word in ("q", "quit", "exit", "."):  # said after the steps still queued
            sh.queue(f"tw {self.axis} done", lambda: sh.write(
                f"{self.axis} {number_text(sh.device(self.axis).position)}"
                f"{_unit(self.unit)} (tweak done)"))
            return False
        if word in ("+", "p", "="):
            self.direction = 1
        elif word in ("-", "m"):
            self.direction = -1
        elif word:
            self.step = abs(parse_amount(word, self.unit, "the tweak step"))
            sh.write(f"step {number_text(self.step)}{_unit(self.unit)}")
            return True
        if self.direction == 0:
            sh.write("type + or - first (then Enter repeats it)")
            return True
        delta = self.direction * self.step
        sh.queue(f"tw {self.axis} {delta:+g}", lambda: self._move(sh, delta))
        return True

    def _move(self, sh: Shell, delta: float) -> None:
        move(sh, [self.axis, repr(delta)], relative=True, live=False)
        sh.write(f"{self.axis} {number_text(sh.device(self.axis).position)}{_unit(self.unit)}")
