"""Turning the archive's "not found" into the facility's ``APIError``."""

from __future__ import annotations

import operator
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np

from expctl.compat.errors import APIError
from expctl.errors import DataError

__all__ = ["as_api_error", "index_arg", "tag_array"]


@contextmanager
def as_api_error(what: str) -> Iterator[None]:
    """Re-raise the archive's KeyError or DataError as ``APIError`` about ``what``."""
    try:
        yield
    except APIError:
        raise
    except (KeyError, DataError) as exc:
        detail = exc.args[0] if isinstance(exc, KeyError) and exc.args else str(exc)
        raise APIError(f"{what}: {detail}") from None


def index_arg(name: str, value: object) -> int:
    """An integer argument (beamline, run, tag) as the C API would take it."""
    try:
        return operator.index(value)  # type: ignore[arg-type]
    except TypeError:
        raise APIError(f"{name} must be an integer, got {value!r}") from None


def tag_array(tags: object) -> np.ndarray:
    """A tag list (tuple, list, array) as a 1-D int64 array."""
    try:
        arr = np.asarray(tags)
    except (TypeError, ValueError):
        arr = np.asarray(None)
    if arr.ndim != 1 or (arr.size and arr.dtype.kind not in "iu"):
        raise APIError(f"tags must be a sequence of integer tags, got {type(tags).__name__}")
    return arr.astype(np.int64, copy=False)
