"""What the shell's completion reads from disk: sequence files and their parameter names."""

from __future__ import annotations

import contextlib
from pathlib import Path

__all__ = ["SequenceFiles", "list_sequence_files"]


def list_sequence_files(prefix: str, sequence_dir: Path) -> list[str]:
    """Paths completing ``prefix``: folders (with ``/``) and YAML files."""
    folder, _, stem = prefix.rpartition("/")
    base = Path(folder or ".")
    out: list[str] = []
    if not prefix and sequence_dir.is_dir():
        out += sorted(f"{sequence_dir.as_posix()}/{p.name}" for p in sequence_dir.iterdir()
                      if p.suffix in (".yaml", ".yml"))
    with contextlib.suppress(OSError):
        for entry in sorted(base.iterdir()):
            if not entry.name.startswith(stem) or entry.name.startswith("."):
                continue
            shown = f"{folder}/{entry.name}" if folder else entry.name
            if entry.is_dir():
                out.append(shown + "/")
            elif entry.suffix in (".yaml", ".yml"):
                out.append(shown)
    return out


class SequenceFiles:
    """Sequence files and their parameters for completion (parameters cached per mtime).

    Args:
        sequence_dir: offered first when nothing is typed yet.
    """

    def __init__(self, sequence_dir: Path) -> None:
        self.sequence_dir = sequence_dir
        self._params: dict[tuple[str, float], list[str]] = {}

    def files(self, prefix: str) -> list[str]:
        return list_sequence_files(prefix, self.sequence_dir)

    def params(self, path: str) -> list[str]:
        from expctl.sequence.schema import load_doc

        p = Path(path)
        try:
            key = (str(p.resolve()), p.stat().st_mtime)
        except OSError:
            return []
        if key not in self._params:
            doc, _ = load_doc(p)
            self._params[key] = list(doc.params) if doc is not None else []
        return self._params[key]
