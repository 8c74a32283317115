"""File checksums: how a run file copied elsewhere is verified against the catalog."""

from __future__ import annotations

import hashlib
from pathlib import Path

from expctl.errors import storage_error

__all__ = ["file_checksum"]


def file_checksum(path: Path) -> str:
    """SHA-256 of a file, so a copy elsewhere can be verified against the catalog."""
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                digest.update(chunk)
    except OSError as exc:
        raise storage_error(exc, "read", path) from None
    return digest.hexdigest()
