"""The crash-safe campaign journal: append-only JSON lines in ``<data_dir>/journal/``.

One file per campaign.  The journal subscribes to engine events and records
step starts, consumed sample spots, runs, named results and completed steps
(with the transcript of their results).  After ``kill -9``, :meth:`Journal.resume`
reloads the file (ignoring a torn last line) and the engine replays completed
steps from it instead of repeating them.

Durability policy: every record is written and flushed to the OS at once, so a
killed process loses nothing it journaled; only a power cut or an OS crash can
lose records not yet fsynced.  ``fsync`` (the whole file, so every earlier
record too) is paid only where such a loss would repeat a run or reuse a spot:

* a consumed spot, before the engine moves the stage there;
* the completion of a step attempt in which a run completed (that run is kept
  only if its step attempt completed, so this one fsync makes both durable);
* a completed run outside any step;
* campaign start, resume and end.

Step starts, results, runs inside a step and completions of steps that took no
run are only flushed: losing them to a power cut redoes work, never a run.

The campaign header keeps what resume needs to continue *that* campaign: the exact
text of the sequence and of every file it includes, the ``--set`` overrides, the
profile, the seed and the samples mounted.  A journal created ``deferred`` writes
its file only when the plan goes live (its first device action), so a plan stopped
during its rehearsal or before it touched the beamline leaves nothing to resume.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from expctl.engine.codec import decode, encode
from expctl.engine.events import (
    AnalysisDone,
    EngineEvent,
    GoingLive,
    RunStarted,
    RunStopped,
    SpotConsumed,
    StepFinished,
    StepStarted,
)
from expctl.errors import CorruptFileError, DataError, ExpctlError, UserError, storage_error
from expctl.paths import DataDir

__all__ = ["CampaignInfo", "Journal", "JournaledRun", "find_unfinished", "journal_problems",
           "list_campaigns", "scan_journals"]

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


def _journal_dir(data_dir: Path) -> Path:
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


def _read_records(path: Path) -> list[dict[str, Any]]:
    """All complete records; a torn final line (crash mid-write) is dropped.

    Anything else that is not a well-formed record (bad bytes, a line that is not
    JSON, a record of the wrong shape) is a :class:`CorruptFileError` naming the
    journal and the line: the caller isolates that campaign, never the others.
    """
    try:
        size = path.stat().st_size
        if size > MAX_JOURNAL_BYTES:
            raise _corrupt(path, None, f"it is larger than {MAX_JOURNAL_BYTES} bytes")
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
            raise _corrupt(path, n + 1, "it is not a journal record") from None
        problem = _shape_problem(rec, first=not records)
        if problem:
            raise _corrupt(path, n + 1, problem, not_journal=not records)
        records.append(rec)
    if not records:
        raise _corrupt(path, None, "it holds no campaign record", not_journal=True)
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


def _decoded(value: Any, path: Path, what: str) -> Any:
    """:func:`decode` of a journaled value; a malformed one is the journal's corruption."""
    try:
        return decode(value)
    except (ExpctlError, ValueError, TypeError, KeyError, AttributeError, RecursionError):
        raise _corrupt(path, None, f"{what} cannot be decoded") from None


def _corrupt(path: Path, line: int | None, why: str, *, not_journal: bool = False
             ) -> CorruptFileError:
    where = f"{path}" + (f" line {line}" if line is not None else "")
    what = "is not an expctl journal" if not_journal else "is corrupt"
    return CorruptFileError(
        f"campaign journal {where} {what}: {why}", path=path,
        hint="Other campaigns are not affected. Keep the file for inspection (a copy may be "
             "intact); this campaign cannot be resumed from it.")


def _info(records: list[dict[str, Any]], path: Path) -> CampaignInfo:
    head = records[0]
    outcome = None
    for rec in records:
        if rec.get("t") == "end":
            outcome = rec["outcome"]
        elif rec.get("t") == "resumed":
            outcome = None
    params = _decoded(head.get("params", {"__map__": {}}), path, "its campaign parameters")
    extra = _decoded(head.get("extra", {"__map__": {}}), path, "its campaign record")
    overrides = head.get("overrides", extra.get("overrides", []))  # format 1 kept them in extra
    return CampaignInfo(head["id"], head.get("sequence", ""), head.get("sequence_file", ""),
                        params, head.get("profile", ""), head.get("seed"),
                        head.get("started", 0.0), path, outcome, extra,
                        dict(head.get("sources", {})), tuple(overrides),
                        dict(head.get("samples", {})))


def _truncate_torn_tail(path: Path) -> None:
    """Drop a half-written last line so the next record starts on a line of its own."""
    data = path.read_bytes()
    if data and not data.endswith(b"\n"):
        with open(path, "r+b") as fh:
            fh.truncate(data.rfind(b"\n") + 1)


def scan_journals(data_dir: Path) -> tuple[list[CampaignInfo], list[CorruptFileError]]:
    """Every readable campaign in ``data_dir`` (oldest first), and what is wrong with the
    journals that cannot be read: one bad journal never hides the others."""
    folder = _journal_dir(data_dir)
    if not folder.is_dir():
        return [], []
    found: list[CampaignInfo] = []
    problems: list[CorruptFileError] = []
    for path in sorted(folder.glob("*.jsonl")):
        try:
            found.append(_info(_read_records(path), path))
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


def _pairs(results: list[Any], path: Path) -> list[tuple[Any, Any]]:
    """A step record's ``results`` as (action, value) pairs; anything else is corruption."""
    if not all(isinstance(r, list) and len(r) == 2 for r in results):
        raise _corrupt(path, None, "a step record's results are not (action, value) pairs")
    return [(r[0], r[1]) for r in results]


class Journal:
    """Append-only record of one campaign; an EventBus subscriber the engine consults.

    Build with :meth:`create` (new campaign), :meth:`resume` (after a crash) or
    :meth:`read` (to look at one).
    """

    def __init__(self, path: Path, info: CampaignInfo, records: list[dict[str, Any]],
                 *, fsync: bool = True, deferred: list[dict[str, Any]] | None = None,
                 readonly: bool = False) -> None:
        self.path = path
        self.info = info
        self.fsync = fsync
        self._steps: dict[str, list[tuple[str, Any]]] = {}
        self._raw_steps: dict[str, Any] = {}
        self._attempts: dict[str, int] = {}
        self._completed_attempts: set[tuple[str, int]] = set()
        self._spots: dict[str, set[int]] = {}
        self._runs: list[JournaledRun] = []
        self._unsynced_runs: set[tuple[str, int]] = set()  # step attempts with a new run
        self._started: dict[int, dict[str, Any]] = {}  # run -> its runstart record
        self._contexts: dict[str, Any] = {}  # step path -> encoded loop values it began with
        for rec in records:
            self._apply(rec)
        #: records waiting for the plan to go live (a deferred journal has no file yet)
        self._deferred = deferred
        # unbuffered: a record that cannot be written is cut off at once (see _write)
        self._fh: IO[bytes] | None = None if deferred is not None or readonly else open(  # noqa: SIM115
            path, "ab", buffering=0)
        self._broken: ExpctlError | None = None

    @property
    def live(self) -> bool:
        """True once the journal has a file (always, unless created deferred and the plan
        has not touched the beamline yet)."""
        return self._deferred is None

    # ------------------------------------------------------------------ creation
    @classmethod
    def create(cls, data_dir: Path, *, sequence: str = "", sequence_file: str = "",
               params: Mapping[str, Any] | None = None, profile: str = "",
               seed: int | None = None, extra: Mapping[str, Any] | None = None,
               sources: Mapping[str, str] | None = None, overrides: tuple[str, ...] = (),
               samples: Mapping[str, str] | None = None, fsync: bool = True,
               deferred: bool = False) -> Journal:
        """Start a new campaign journal in ``data_dir`` (its file at once, or when the plan
        goes live if ``deferred``)."""
        folder = _journal_dir(data_dir)
        started = time.time()
        cid = time.strftime("%Y%m%d-%H%M%S", time.gmtime(started)) + "-" + secrets.token_hex(3)
        path = folder / f"{cid}.jsonl"
        head = {"t": "campaign", "format": FORMAT, "id": cid, "sequence": sequence,
                "sequence_file": sequence_file, "params": encode(dict(params or {})),
                "profile": profile, "seed": seed, "started": started,
                "sources": dict(sources or {}), "overrides": list(overrides),
                "samples": dict(samples or {}), "extra": encode(dict(extra or {}))}
        journal = cls(path, _info([head], path), [], fsync=fsync, deferred=[head])
        if not deferred:
            journal._go_live()
        return journal

    def _go_live(self) -> None:
        """Create the file with the header and every record kept until now (fsynced)."""
        pending, self._deferred = self._deferred, None
        if pending is None:
            return
        part = self.path.with_name(self.path.name + ".part")  # a kill leaves no torn header
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with open(part, "x", encoding="utf-8") as fh:
                fh.write("".join(json.dumps(rec, separators=(",", ":")) + "\n"
                                 for rec in pending))
                fh.flush()
                if self.fsync:
                    os.fsync(fh.fileno())
            os.replace(part, self.path)
            self._fh = open(self.path, "ab", buffering=0)  # noqa: SIM115
        except OSError as exc:
            with contextlib.suppress(OSError):
                part.unlink()
            raise storage_error(exc, "create campaign journal", self.path) from None

    @classmethod
    def read(cls, data_dir: Path, campaign_id: str | None = None) -> Journal:
        """A campaign's journal to look at (the newest unfinished one by default); it
        cannot be written (``handle`` raises) and works on a read-only directory."""
        path = cls._find(data_dir, campaign_id)
        records = _read_records(path)
        return cls(path, _info(records, path), records, readonly=True)

    @classmethod
    def resume(cls, data_dir: Path, campaign_id: str | None = None, *,
               fsync: bool = True) -> Journal:
        """Reopen a campaign (the newest unfinished one by default) to continue it."""
        path = cls._find(data_dir, campaign_id)
        records = _read_records(path)
        _truncate_torn_tail(path)
        journal = cls(path, _info(records, path), records, fsync=fsync)
        journal._write({"t": "resumed", "time": time.time()}, sync=True)
        return journal

    @staticmethod
    def _find(data_dir: Path, campaign_id: str | None) -> Path:
        if campaign_id is None:
            info = find_unfinished(data_dir)
            if info is None:
                raise DataError(f"no unfinished campaign in {data_dir}",
                                hint="Start one with `expctl run SEQUENCE`.")
            return info.path
        path = _journal_dir(data_dir) / f"{campaign_id}.jsonl"
        if not path.is_file():
            known = [c.id for c in list_campaigns(data_dir)]
            raise UserError(f"no campaign {campaign_id!r} in {data_dir}",
                            allowed=", ".join(known) or "none",
                            hint="`expctl campaigns --all` lists them.")
        return path

    # ------------------------------------------------------------------ state
    def _apply(self, rec: dict[str, Any]) -> None:
        kind = rec.get("t")
        if kind == "begin":
            self._attempts[rec["path"]] = rec["attempt"]
            if "ctx" in rec:
                self._contexts[rec["path"]] = rec["ctx"]
        elif kind == "step":
            self._raw_steps[rec["path"]] = rec["results"]
            self._completed_attempts.add((rec["path"], rec["attempt"]))
        elif kind == "spot":
            self._spots.setdefault(rec["grid"], set()).add(rec["index"])
        elif kind == "runstart":
            self._started[rec["run"]] = rec
        elif kind == "redo":
            path = rec["path"]
            inside = [p for p in self._raw_steps if p == path or p.startswith(path + "/")]
            for p in inside:
                del self._raw_steps[p]
                self._steps.pop(p, None)
            self._completed_attempts = {(p, a) for p, a in self._completed_attempts
                                        if p not in inside}
        elif kind == "run":
            self._runs.append(JournaledRun(rec["run"], rec["label"], rec["step"],
                                           rec["attempt"], rec["outcome"], rec["shots"]))
        elif kind == "result":  # (the engine holds results; a record must still decode)
            _decoded(rec.get("value"), self.path, f"result {rec['name']!r}")

    def completed_step(self, path: str) -> list[tuple[str, Any]] | None:
        """The result transcript of ``path`` if it completed, else ``None``."""
        cached = self._steps.get(path)
        if cached is None and path in self._raw_steps:
            cached = [(name, _decoded(value, self.path, f"step {path!r}"))
                      for name, value in _pairs(self._raw_steps[path], self.path)]
            self._steps[path] = cached
        return cached

    def completed_paths(self) -> list[str]:
        """Every step completed so far (in completion order)."""
        return list(self._raw_steps)

    def grids(self) -> list[str]:
        """The spot grids this campaign took spots from."""
        return list(self._spots)

    def consumed_spots(self, grid: str) -> set[int]:
        """Indices of every spot of ``grid`` ever moved to for exposure."""
        return set(self._spots.get(grid, ()))

    def runs(self) -> list[JournaledRun]:
        """Every run that ended while journaled, in order (including cut and superseded)."""
        return list(self._runs)

    def campaign_runs(self) -> list[JournaledRun]:
        """The runs the campaign keeps: completed, in a step attempt that completed.

        A run finished inside a step that a crash interrupted is *superseded*:
        the step is redone on a fresh spot on resume.
        """
        return [r for r in self._runs if r.outcome == "completed"
                and (not r.step or (r.step, r.attempt) in self._completed_attempts)]

    def superseded_runs(self) -> list[JournaledRun]:
        """Runs that no longer count because their step is redone: completed runs whose
        step attempt never completed, and runs started but never seen to end (the crash
        came first; the catalog may say ``completed`` or ``incomplete``)."""
        kept = {r.run for r in self.campaign_runs()}
        ended = {r.run for r in self._runs}
        lost = [JournaledRun(run, rec.get("label", ""), rec.get("step", ""),
                             rec.get("attempt", 0), "unknown", 0)
                for run, rec in self._started.items() if run not in ended]
        return sorted([r for r in self._runs if r.outcome == "completed" and r.run not in kept]
                      + lost, key=lambda r: r.run)

    def spot_cut(self, path: str, index: int) -> bool:
        """Whether a run was started at spot ``index``, outside step ``path``, in a step
        attempt that never completed: a shot the campaign does not keep may have hit (and
        destroyed) that spot, so it must not be worked on again."""
        for rec in self._started.values():
            step = str(rec.get("step", ""))
            if rec.get("spot") != index or not step or step == path \
                    or step.startswith(path + "/"):
                continue
            if (step, rec.get("attempt", 0)) not in self._completed_attempts:
                return True
        return False

    def redo(self, path: str) -> list[int]:
        """Step ``path`` (and everything in it) will be done again, live: forget that it
        completed.  Returns the runs it had kept, which no longer count (superseded)."""
        before = {r.run for r in self.campaign_runs()}
        rec = {"t": "redo", "path": path}
        self._write(rec)
        self._apply(rec)
        return sorted(before - {r.run for r in self.campaign_runs()})

    def step_context(self, path: str) -> Any:
        """The loop values step ``path`` last began with (as journaled), or ``None``."""
        return self._contexts.get(path)

    # ------------------------------------------------------------------ writing
    def _write(self, rec: dict[str, Any], *, sync: bool = False) -> None:
        if self._deferred is not None:  # not live yet: kept until the plan touches anything
            self._deferred.append(rec)
            return
        if self._broken is not None:  # one failed record: nothing after it may follow
            raise self._broken
        if self._fh is None:
            raise DataError(f"journal {self.path} is closed")
        line = (json.dumps(rec, separators=(",", ":")) + "\n").encode()
        fd = self._fh.fileno()
        start = os.lseek(fd, 0, os.SEEK_END)
        try:
            view = memoryview(line)
            while view:
                view = view[os.write(fd, view):]
            if sync:
                self._sync()
        except OSError as exc:
            self._broken = storage_error(exc, "write campaign journal", self.path)
            with contextlib.suppress(OSError):  # no torn record in the middle of the file
                os.ftruncate(fd, start)
            raise self._broken from None

    def _sync(self) -> None:
        if self.fsync and self._fh is not None:
            os.fsync(self._fh.fileno())

    def handle(self, event: EngineEvent) -> None:
        """EventBus subscriber: record what resume needs, durably where it matters."""
        if isinstance(event, StepStarted):
            if self.completed_step(event.path) is None:
                attempt = self._attempts.get(event.path, 0) + 1
                rec = {"t": "begin", "path": event.path, "attempt": attempt}
                try:  # the loop values, to check an edited sequence against on resume
                    rec["ctx"] = encode(dict(event.context))
                except DataError:
                    pass  # a Python plan's own context object: nothing to compare later
                self._write(rec)
                self._apply(rec)
        elif isinstance(event, GoingLive):
            self._go_live()
        elif isinstance(event, RunStarted):
            step = event.context.step_path
            spot = event.context.sample_spot
            rec = {"t": "runstart", "run": event.record.run, "label": event.record.label,
                   "step": step, "attempt": self._attempts.get(step, 0),
                   "spot": spot.get("index") if spot else None}
            self._write(rec)
            self._apply(rec)
        elif isinstance(event, StepFinished):
            if not event.skipped:
                attempt = self._attempts.get(event.path, 1)
                rec = {"t": "step", "path": event.path, "attempt": attempt,
                       "results": [[n, encode(v)] for n, v in event.results]}
                took_run = (event.path, attempt) in self._unsynced_runs
                self._unsynced_runs.discard((event.path, attempt))
                self._write(rec, sync=took_run)
                self._apply(rec)
        elif isinstance(event, SpotConsumed):
            rec = {"t": "spot", "grid": event.grid, "index": event.index,
                   "x": event.position[0], "y": event.position[1]}
            self._write(rec, sync=True)
            self._apply(rec)
        elif isinstance(event, RunStopped):
            step = event.context.step_path
            attempt = self._attempts.get(step, 0)
            rec = {"t": "run", "run": event.record.run, "label": event.record.label,
                   "step": step, "attempt": attempt,
                   "outcome": event.outcome, "shots": event.record.shots}
            kept = event.outcome == "completed"
            if kept and step:
                self._unsynced_runs.add((step, attempt))  # durable with its step's end
            self._write(rec, sync=kept and not step)
            self._apply(rec)
        elif isinstance(event, AnalysisDone):
            self._write({"t": "result", "name": event.name, "value": encode(event.result)})

    def finish(self, outcome: str) -> None:
        """Record how the engine ended this attempt (``completed`` closes the campaign).

        A deferred journal that never went live writes nothing: there is no campaign.
        """
        if self._deferred is None:
            self._write({"t": "end", "outcome": outcome, "time": time.time()}, sync=True)
        self.info = CampaignInfo(**{**self.info.__dict__, "outcome": outcome})

    def close(self) -> None:
        """Close the file (the journal stays readable and resumable)."""
        if self._fh is not None:
            self._fh.close()
            self._fh = None

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
