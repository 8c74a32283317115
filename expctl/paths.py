"""Where expctl keeps its data: one rule for the CLI, the shell, compat and Python users.

Bottom layer and import-free on purpose, so start-up paths (``--help``,
``validate``, the shell's first prompt) can use it without loading the run
logger or the backend.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["DATA_DIR_HELP", "default_data_dir", "resolve_data_dir"]

#: The ``--data-dir`` help text every command shows.
DATA_DIR_HELP = "data directory (default: $EXPCTL_DATA_DIR or ./expctl-data)"


def default_data_dir() -> Path:
    """``$EXPCTL_DATA_DIR`` if set, else ``./expctl-data``."""
    return Path(os.environ.get("EXPCTL_DATA_DIR") or "expctl-data")


def resolve_data_dir(given: str | os.PathLike[str] | None) -> Path:
    """An explicit ``--data-dir`` wins; otherwise the default rule."""
    return Path(given) if given else default_data_dir()
