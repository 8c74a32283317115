"""The operator console ``expctl shell``: command registry, pure parsing and completion, toolbar.

Importing this package is cheap; prompt_toolkit, rich and the session are
imported when the shell runs.
"""

from expctl.shell.app import CommandEnded, Shell, history_path
from expctl.shell.commands import build_registry, describe_error
from expctl.shell.complete import CompletionContext, Suggestion, device_groups, suggest
from expctl.shell.files import list_sequence_files
from expctl.shell.parse import (
    Invocation,
    join_units,
    parse_amount,
    parse_assignments,
    parse_count,
    parse_line,
    parse_relative,
    parse_targets,
    split_line,
)
from expctl.shell.registry import ArgKind, ArgSpec, CommandRegistry, Frame, Mode, ShellCommand
from expctl.shell.toolbar import StatusBoard, ToolbarStatus, toolbar_fragments

__all__ = [
    "ArgKind", "ArgSpec", "CommandEnded", "CommandRegistry", "CompletionContext", "Frame",
    "Invocation",
    "Mode", "Shell", "ShellCommand", "StatusBoard", "Suggestion", "ToolbarStatus",
    "build_registry", "describe_error", "device_groups", "history_path",
    "join_units", "list_sequence_files", "parse_amount", "parse_assignments", "parse_count",
    "parse_line", "parse_relative", "parse_targets", "split_line", "suggest",
    "toolbar_fragments",
]
