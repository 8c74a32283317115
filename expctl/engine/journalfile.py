"""Journal files: their records, the shape each must have, and the campaigns they hold.

A journal is JSON lines; the first record is the campaign header
(:class:`CampaignInfo`).  Reading checks every record's shape, so a damaged
journal is one :class:`~expctl.errors.CorruptFileError` naming file and line,
and every other campaign stays listable and resumable.  Writing is
:class:`~expctl.engine.journal.Journal`'s.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from expctl.engine.codec import decode
from expctl.errors import CorruptFileError, ExpctlError, storage_error
from expctl.paths import DataDir

__all__ = ["FORMAT", "MAX_JOURNAL_BYTES", "CampaignInfo", "JournaledRun", "campaign_info",
           "corrupt", "decoded", "find_unfinished", "journal_dir", "journal_problems",
           "list_campaigns", "read_records", "scan_journals", "step_pairs",
           "truncate_torn_tail"]

FORMAT = 2  # 2: sources, overrides and samples in the header; begin ctx; runstart records
#: A journal larger than this is refused before it is read (a long campaign writes a few MB).
MAX_JOURNAL_BYTES = 256 * 1024 * 1024


@dataclass(frozen=True)
class CampaignInfo:
    """What ``expctl resume`` needs to rebuild a campaign's plan."""

    id: str
    sequence: str
    sequence_file: str
    params: Mapping[str, Any]
    profile: str
    seed: int | None
    started: float
    path: Path
    outcome: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)
    #: absolute path -> exact text of the sequence file and every file it includes
    sources: Mapping[str, str] = field(default_factory=dict)
    #: the ``--set NAME=VALUE`` overrides as typed
    overrides: tuple[str, ...] = ()
    #: spot grid -> sample mounted when the campaign started
    samples: Mapping[str, str] = field(default_factory=dict)

    @property
    def finished(self) -> bool:
        """True once the campaign ran to completion (stopped/aborted/failed can resume)."""
        return self.outcome == "completed"


@dataclass(frozen=True)
class JournaledRun:
    """A run the journal saw end: in which step attempt, with what outcome."""

    run: int
    label: str
    step: str
    attempt: int
    outcome: str
    shots: int


def journal_dir(data_dir: Path) -> Path:
    return DataDir(data_dir).journal


#: Fields each record kind must carry, with their types (extra fields are allowed, and
#: record kinds this version does not know are kept but not applied).
_SHAPES: dict[str, dict[str, type | tuple[type, ...]]] = {
    "campaign": {"id": str},
    "begin": {"path": str, "attempt": int},
    "step": {"path": str, "attempt": int, "results": list},
    "spot": {"grid": str, "index": int},
    "runstart": {"run": int},
    "redo": {"path": str},
    "run": {"run": int, "label": str, "step": str, "attempt": int, "outcome": str,
            "shots": int},
    "result": {"name": str},
    "end": {"outcome": str},
}
_OPTIONAL: dict[str, type | tuple[type, ...]] = {
    "sequence": str, "sequence_file": str, "profile": str, "seed": (int, type(None)),
    "started": (int, float), "params": dict, "extra": dict, "sources": dict,
    "overrides": list, "samples": dict}


def read_records(path: Path) -> list[dict[str, Any]]:
    """All complete records; a torn final line (crash mid-write) is dropped.

    Anything else that is not a well-formed record (bad bytes, a line that is not
    JSON, a record of the wrong shape) is a :class:`CorruptFileError` naming the
    journal and the line: the caller isolates that campaign, never the others.
    """
    try:
        size = path.stat().st_size
        if size > MAX_JOURNAL_BYTES:
            raise corrupt(path, None, f"it is larger than {MAX_JOURNAL_BYTES} bytes")
        data = path.read_bytes()
    except OSError as exc:
        raise storage_error(exc, "read campaign journal", path) from None
    lines = data.split(b"\n")
    records: list[dict[str, Any]] = []
    for n, raw in enumerate(lines):
        if not raw.strip():
            continue
        try:
            rec = json.loads(raw.decode("utf-8"))
        except (ValueError, RecursionError):  # not UTF-8, not JSON, absurdly deep
            if n >= len(lines) - 2:  # only the last line may be torn
                break
            raise corrupt(path, n + 1, "it is not a journal record") from None
        problem = _shape_problem(rec, first=not records)
        if problem:
            raise corrupt(path, n + 1, problem, not_journal=not records)
        records.append(rec)
    if not records:
        raise corrupt(path, None, "it holds no campaign record", not_journal=True)
    return records


def _shape_problem(rec: Any, *, first: bool) -> str | None:
    """What is wrong with a decoded record, or None if it is well formed."""
    if not isinstance(rec, dict):
        return f"a record is a JSON {type(rec).__name__}, not an object"
    kind = rec.get("t")
    if first and kind != "campaign":
        return "its first record is not a campaign record"
    if not first and kind == "campaign":
        return "a second campaign record"
    fields = dict(_SHAPES.get(kind, {})) if isinstance(kind, str) else {}
    if kind == "campaign":
        fields.update({k: v for k, v in _OPTIONAL.items() if k in rec})
    for name, kinds in fields.items():
        value = rec.get(name)
        ok = isinstance(value, kinds) and not (isinstance(value, bool) and kinds is int)
        if not ok:
            return f"record {kind!r} has {'no' if name not in rec else 'a malformed'} {name!r}"
    return None


def decoded(value: Any, path: Path, what: str) -> Any:
    """:func:`decode` of a journaled value; a malformed one is the journal's corruption."""
    try:
        return decode(value)
    except (ExpctlError, ValueError, TypeError, KeyError, AttributeError, RecursionError):
        raise corrupt(path, None, f"{what} cannot be decoded") from None


def corrupt(path: Path, line: int | None, why: str, *, not_journal: bool = False
             ) -> CorruptFileError:
    where = f"{path}" + (f" line {line}" if line is not None else "")
    what = "is not an expctl journal" if not_journal else "is corrupt"
    return CorruptFileError(
        f"campaign journal {where} {what}: {why}", path=path,
        hint="Other campaigns are not affected. Keep the file for inspection (a copy may be "
             "intact); this campaign cannot be resumed from it.")


def campaign_info(records: list[dict[str, Any]], path: Path) -> CampaignInfo:
    head = records[0]
    outcome = None
    for rec in records:
        if rec.get("t") == "end":
            outcome = rec["outcome"]
        elif rec.get("t") == "resumed":
            outcome = None
    params = decoded(head.get("params", {"__map__": {}}), path, "its campaign parameters")
    extra = decoded(head.get("extra", {"__map__": {}}), path, "its campaign record")
    overrides = head.get("overrides", extra.get("overrides", []))  # format 1 kept them in extra
    return CampaignInfo(head["id"], head.get("sequence", ""), head.get("sequence_file", ""),
                        params, head.get("profile", ""), head.get("seed"),
                        head.get("started", 0.0), path, outcome, extra,
                        dict(head.get("sources", {})), tuple(overrides),
                        dict(head.get("samples", {})))


def truncate_torn_tail(path: Path) -> None:
    """Drop a half-written last line so the next record starts on a line of its own."""
    data = path.read_bytes()
    if data and not data.endswith(b"\n"):
        with open(path, "r+b") as fh:
            fh.truncate(data.rfind(b"\n") + 1)


def scan_journals(data_dir: Path) -> tuple[list[CampaignInfo], list[CorruptFileError]]:
    """Every readable campaign in ``data_dir`` (oldest first), and what is wrong with the
    journals that cannot be read: one bad journal never hides the others."""
    folder = journal_dir(data_dir)
    if not folder.is_dir():
        return [], []
    found: list[CampaignInfo] = []
    problems: list[CorruptFileError] = []
    for path in sorted(folder.glob("*.jsonl")):
        try:
            found.append(campaign_info(read_records(path), path))
        except CorruptFileError as exc:
            problems.append(exc)
        except (ExpctlError, OSError) as exc:  # unreadable (permissions, a directory …)
            text = exc.paragraph() if isinstance(exc, ExpctlError) else str(exc)
            problems.append(CorruptFileError(f"campaign journal {path} cannot be read: {text}",
                                             path=path))
    return sorted(found, key=lambda c: (c.started, c.id)), problems


def list_campaigns(data_dir: Path) -> list[CampaignInfo]:
    """Every readable campaign journaled in ``data_dir``, oldest first."""
    return scan_journals(data_dir)[0]


def journal_problems(data_dir: Path) -> list[CorruptFileError]:
    """The journals in ``data_dir`` that cannot be read (``expctl check`` lists them)."""
    return scan_journals(data_dir)[1]


def find_unfinished(data_dir: Path) -> CampaignInfo | None:
    """The newest campaign that did not run to completion, if any (what ``resume`` picks)."""
    open_ones = [c for c in list_campaigns(data_dir) if not c.finished]
    return open_ones[-1] if open_ones else None


def step_pairs(results: list[Any], path: Path) -> list[tuple[Any, Any]]:
    """A step record's ``results`` as (action, value) pairs; anything else is corruption."""
    if not all(isinstance(r, list) and len(r) == 2 for r in results):
        raise corrupt(path, None, "a step record's results are not (action, value) pairs")
    return [(r[0], r[1]) for r in results]
