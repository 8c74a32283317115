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
from pathlib import Path
from typing import IO, Any, NamedTuple

from expctl.engine.codec import encode
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
from expctl.engine.journalfile import (
    FORMAT,
    CampaignInfo,
    JournaledRun,
    campaign_info,
    decoded,
    find_unfinished,
    journal_dir,
    journal_problems,
    list_campaigns,
    read_records,
    scan_journals,
    step_pairs,
    truncate_torn_tail,
)
from expctl.errors import DataError, ExpctlError, UserError, storage_error

__all__ = ["CampaignInfo", "Journal", "JournaledRun", "find_unfinished", "journal_problems",
           "list_campaigns", "scan_journals"]


class OnDisk(NamedTuple):
    """Where a record's line is in the journal file."""

    offset: int
    length: int


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
        folder = journal_dir(data_dir)
        started = time.time()
        cid = time.strftime("%Y%m%d-%H%M%S", time.gmtime(started)) + "-" + secrets.token_hex(3)
        path = folder / f"{cid}.jsonl"
        head = {"t": "campaign", "format": FORMAT, "id": cid, "sequence": sequence,
                "sequence_file": sequence_file, "params": encode(dict(params or {})),
                "profile": profile, "seed": seed, "started": started,
                "sources": dict(sources or {}), "overrides": list(overrides),
                "samples": dict(samples or {}), "extra": encode(dict(extra or {}))}
        journal = cls(path, campaign_info([head], path), [], fsync=fsync, deferred=[head])
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
        records = read_records(path)
        return cls(path, campaign_info(records, path), records, readonly=True)

    @classmethod
    def resume(cls, data_dir: Path, campaign_id: str | None = None, *,
               fsync: bool = True) -> Journal:
        """Reopen a campaign (the newest unfinished one by default) to continue it."""
        path = cls._find(data_dir, campaign_id)
        records = read_records(path)
        truncate_torn_tail(path)
        journal = cls(path, campaign_info(records, path), records, fsync=fsync)
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
        path = journal_dir(data_dir) / f"{campaign_id}.jsonl"
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
            decoded(rec.get("value"), self.path, f"result {rec['name']!r}")

    def completed_step(self, path: str) -> list[tuple[str, Any]] | None:
        """The result transcript of ``path`` if it completed, else ``None``."""
        cached = self._steps.get(path)
        if cached is None and path in self._raw_steps:
            raw = self._raw_steps[path]
            if isinstance(raw, OnDisk):
                raw = self._read_back(raw)["results"]
            cached = [(name, decoded(value, self.path, f"step {path!r}"))
                      for name, value in step_pairs(raw, self.path)]
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
    def _write(self, rec: dict[str, Any], *, sync: bool = False) -> OnDisk | None:
        """Append ``rec``; where its line is in the file (None while deferred)."""
        if self._deferred is not None:  # not live yet: kept until the plan touches anything
            self._deferred.append(rec)
            return None
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
        return OnDisk(start, len(line))

    def _read_back(self, where: OnDisk) -> dict[str, Any]:
        """The record written at ``where`` (a step's results, asked for again)."""
        try:
            with open(self.path, "rb") as fh:
                fh.seek(where.offset)
                line = fh.read(where.length)
        except OSError as exc:
            raise storage_error(exc, "read campaign journal", self.path) from None
        rec: dict[str, Any] = json.loads(line)
        return rec

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
                where = self._write(rec, sync=took_run)
                self._apply(rec)
                if where is not None:  # kept on disk, not in memory: a campaign's results
                    self._raw_steps[event.path] = where  # grow with it (read back if asked)
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
