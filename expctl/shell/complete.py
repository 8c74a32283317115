"""Completion as pure functions of the text before the cursor, plus a thin prompt_toolkit adapter.

:func:`suggest` decides what may come next from the command registry's
argument slots: command names, device names filtered by what the slot takes
(``mv`` offers motors, ``open`` shutters, ``request`` accelerator parameters),
a device's states after it (``set pd_gain h`` → ``high``), units of the right
dimension after a number, sequence files, and ``NAME=`` for the parameters of
the sequence file named earlier on the line.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from expctl.devices.access import AccessLevel
from expctl.devices.profile import DeviceSpec
from expctl.shell.parse import join_units
from expctl.shell.registry import ArgKind, CommandRegistry
from expctl.units import UNITS, dimension_of

if TYPE_CHECKING:
    from prompt_toolkit.completion import CompleteEvent, Completion
    from prompt_toolkit.document import Document

__all__ = ["CompletionContext", "Suggestion", "device_groups", "make_completer", "suggest"]

#: profile kinds of devices that acquire shots when triggered (see names.md)
DETECTOR_KINDS = frozenset({"mpccd", "photodiode"})


@dataclass(frozen=True, slots=True)
class Suggestion:
    """One candidate: the text to insert, where it starts (≤ 0, from the cursor), a note."""

    text: str
    start: int
    meta: str = ""


@dataclass
class CompletionContext:
    """What completion may offer besides commands; every part optional.

    Args:
        registry: the shell's commands.
        devices: the profile's device specs (empty until the profile is loaded).
        list_files: candidate sequence paths for a typed prefix.
        params_of: parameter names of a sequence file.
    """

    registry: CommandRegistry
    devices: Mapping[str, DeviceSpec] = field(default_factory=dict)
    list_files: Callable[[str], list[str]] = lambda _prefix: []
    params_of: Callable[[str], list[str]] = lambda _path: []


def device_groups(devices: Mapping[str, DeviceSpec]) -> dict[ArgKind, list[str]]:
    """Device names for each device-taking slot kind."""
    from expctl.sequence.devices import is_settable

    groups: dict[ArgKind, list[str]] = {k: [] for k in (
        ArgKind.MOTOR, ArgKind.SETTABLE, ArgKind.SHUTTER, ArgKind.REQUESTABLE,
        ArgKind.DETECTOR, ArgKind.DEVICE)}
    for name, spec in devices.items():
        groups[ArgKind.DEVICE].append(name)
        requestable = spec.access is AccessLevel.ACCELERATOR
        if requestable:
            groups[ArgKind.REQUESTABLE].append(name)
        elif is_settable(spec):
            groups[ArgKind.SETTABLE].append(name)
            if spec.limits.choices is None:
                groups[ArgKind.MOTOR].append(name)
        if spec.kind == "shutter":
            groups[ArgKind.SHUTTER].append(name)
        if spec.kind in DETECTOR_KINDS:
            groups[ArgKind.DETECTOR].append(name)
    return groups


def _meta(spec: DeviceSpec) -> str:
    return f"{spec.kind}{' ' + spec.units if spec.units else ''}"


def _pick(candidates: Iterable[tuple[str, str]], partial: str) -> list[Suggestion]:
    return [Suggestion(text, -len(partial), meta) for text, meta in candidates
            if text.startswith(partial) and text != partial]


def _units_like(unit: str) -> list[str]:
    try:
        dim = dimension_of(unit)
    except Exception:  # an unknown unit in a profile: offer nothing rather than fail
        return []
    return [u for u, (d, _) in UNITS.items() if d == dim and u]


def suggest(text: str, ctx: CompletionContext) -> list[Suggestion]:
    """What may follow ``text`` (the line up to the cursor)."""
    words = text.split()
    partial = "" if not words or text[-1:].isspace() else words[-1]
    done = words if partial == "" else words[:-1]
    registry = ctx.registry
    if not done:
        return _pick(((n, registry.get(n).summary) for n in registry.names()), partial)
    if done[0] not in registry:
        return []
    cmd = registry.get(done[0])
    devices = ctx.devices
    args = join_units(done[1:], lambda w: w in devices)
    if args and partial and partial[0].isalpha() and _after_number(args[-1]):
        unit_slot = cmd.slot(len(args) - 1)
        device = args[-2] if unit_slot and unit_slot.kind is ArgKind.VALUE and len(args) > 1 \
            else _first_motor(args, devices)
        if device in devices and devices[device].units:
            units = _pick(((u, "unit") for u in _units_like(devices[device].units)), partial)
            if units:
                return units
    slot = cmd.slot(len(args))
    if slot is None:
        return []
    kind = slot.kind
    if kind is ArgKind.COMMAND:
        return _pick(((n, registry.get(n).summary) for n in registry.names()), partial)
    if kind is ArgKind.CHOICE:
        return _pick(((c, slot.name) for c in slot.choices), partial)
    if kind is ArgKind.VALUE:
        spec = devices.get(args[-1]) if args else None
        if spec is None or spec.limits.choices is None:
            return []
        return _pick(((str(c), "state") for c in spec.limits.choices), partial)
    if kind is ArgKind.FILE:
        return _pick(((p, "sequence") for p in ctx.list_files(partial)), partial)
    if kind is ArgKind.PARAM:
        return _param_suggestions(cmd, args, partial, ctx)
    groups = device_groups(devices)
    if kind in groups:
        given = set(args)
        return _pick(((n, _meta(devices[n])) for n in groups[kind] if n not in given),
                     partial)
    return []


def _after_number(token: str) -> bool:
    try:
        float(token)
    except ValueError:
        return False
    return True


def _first_motor(args: Sequence[str], devices: Mapping[str, DeviceSpec]) -> str:
    """The axis a number refers to when it is not in a DEV VALUE pair (``rock theta 36 mdeg``)."""
    return next((a for a in args if a in devices), "")


def _param_suggestions(cmd: Any, args: list[str], partial: str, ctx: CompletionContext
                       ) -> list[Suggestion]:
    file_index = next((i for i, a in enumerate(cmd.args) if a.kind is ArgKind.FILE), None)
    if file_index is None or len(args) <= file_index:
        return []
    given = {a.partition("=")[0] for a in args[file_index + 1:]}
    if "=" in partial:
        return []
    names = [n for n in ctx.params_of(args[file_index]) if n not in given]
    return _pick(((f"{n}=", "parameter") for n in names), partial)


def make_completer(context_of: Callable[[], CompletionContext]) -> Any:
    """A prompt_toolkit Completer over :func:`suggest` (context fetched per keystroke)."""
    from prompt_toolkit.completion import Completer, Completion

    class _ShellCompleter(Completer):
        def get_completions(self, document: Document, complete_event: CompleteEvent
                            ) -> Iterable[Completion]:
            for s in suggest(document.text_before_cursor, context_of()):
                yield Completion(s.text, start_position=s.start, display_meta=s.meta)

    return _ShellCompleter()
