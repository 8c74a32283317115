"""Resume continues the campaign that was started: its own sequence text, checked.

A campaign's journal header holds the exact text of its sequence file and of every
file that file includes.  :func:`materialise` writes them back (under a temporary
root, mirroring their absolute paths so relative includes still resolve) for
resume to load *that* sequence, not whatever the file on disk says now;
:func:`source_changes` is the short diff shown when the disk copy was edited.

:func:`walk_completed` follows a plan through the steps the journal says are done —
exactly as the engine will replay them — without touching a device: it checks an
edited sequence (``--use-current``) against what was done, and collects what the
engine will restore before its first live action, for the summary resume prints.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from expctl.devices.profile import Profile
from expctl.engine.codec import decode, encode
from expctl.engine.events import RunContext
from expctl.engine.replay import MARKERS, RECORDED, collect_target, same_value
from expctl.errors import DataError, UserError
from expctl.plans.actions import (
    Move,
    NextSpot,
    Plan,
    Request,
    Set,
    StepBegin,
    StepEnd,
    one_by_one,
)

if TYPE_CHECKING:
    from expctl.engine.journal import Journal
    from expctl.sequence.load import LoadedSequence

__all__ = ["ResumePlan", "ResumeWalk", "campaign_context", "check_campaign", "materialise",
           "new_campaign", "plan_resume", "sequence_sources", "source_changes",
           "walk_completed"]

#: lines of diff shown when the sequence on disk changed since the campaign started
DIFF_LINES = 24
#: a replay walk longer than this is not a sequence but a loop that never goes live
MAX_ACTIONS = 5_000_000


def sequence_sources(path: Path, doc: Any) -> dict[str, str]:
    """Absolute path -> text of a sequence file and every file it includes (recursively).

    Any step may hold steps or an included document (``include``, loops, ``if``, verbs
    yet to come), so the parsed document is walked generically for documents.
    """
    import dataclasses

    from expctl.sequence.model import SequenceDoc, Step

    out: dict[str, str] = {}

    def visit(obj: Any) -> None:
        if isinstance(obj, SequenceDoc):
            key = str(Path(obj.path).resolve())
            if key not in out:
                out[key] = Path(obj.path).read_text(encoding="utf-8")
            visit(obj.steps)
            visit(obj.safe_state)
        elif isinstance(obj, Step):
            for f in dataclasses.fields(obj):
                visit(getattr(obj, f.name))
        elif isinstance(obj, tuple | list):
            for item in obj:
                visit(item)

    out[str(Path(path).resolve())] = Path(path).read_text(encoding="utf-8")
    visit(doc)
    return out


def new_campaign(data_dir: Path, loaded: LoadedSequence, source: str, profile: Profile,
                 samples: Mapping[str, str]) -> Journal:
    """The journal of a new campaign of ``loaded`` (deferred: its file is written when the
    plan goes live), holding what resume needs to continue *this* campaign: the sequence
    text and its includes, the ``--set`` overrides, the profile, the seed, the samples."""
    from expctl.engine.journal import Journal

    return Journal.create(
        data_dir, sequence=loaded.name, sequence_file=source,
        params={k: v.raw for k, v in loaded.overrides.items()}, profile=profile.name,
        seed=profile.seed, sources=sequence_sources(loaded.path, loaded._doc()),
        overrides=tuple(_override_texts(loaded)), deferred=True, samples=dict(samples))


def campaign_context(loaded: LoadedSequence, source: str) -> RunContext:
    """What every run of the campaign records of it: the sequence, its file, its params
    (the engine logs them in log units, :func:`expctl.engine.runcontext.logged_params`)."""
    return RunContext(sequence=loaded.name, sequence_file=source, params=dict(loaded.params))


def _override_texts(loaded: LoadedSequence) -> list[str]:
    out = []
    for name, arg in loaded.overrides.items():
        raw = arg.raw
        text = "[" + ", ".join(str(v) for v in raw) + "]" if isinstance(raw, list) else str(raw)
        out.append(f"{name}={text}")
    return out


def materialise(sources: Mapping[str, str], root: Path) -> dict[str, Path]:
    """Write each source to ``root`` + its absolute path; original path -> new path."""
    out: dict[str, Path] = {}
    for original, text in sources.items():
        target = root / Path(original).relative_to(Path(original).anchor)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
        out[original] = target
    return out


def source_changes(sources: Mapping[str, str]) -> list[str]:
    """A short unified diff of each source against the file on disk now (empty: unchanged)."""
    lines: list[str] = []
    for original, text in sources.items():
        try:
            now = Path(original).read_text(encoding="utf-8")
        except OSError:
            lines.append(f"{original}: no longer readable (deleted or moved)")
            continue
        if now == text:
            continue
        lines += list(difflib.unified_diff(text.splitlines(), now.splitlines(),
                                           f"{original} (as the campaign ran it)",
                                           f"{original} (on disk now)", n=1, lineterm=""))
    if len(lines) > DIFF_LINES:
        lines = [*lines[:DIFF_LINES], f"… ({len(lines) - DIFF_LINES} more diff lines)"]
    return lines


@dataclass
class ResumeWalk:
    """What replaying the completed steps does: how many, where it goes live, what it sets.

    ``targets`` maps each device to the last value a completed step set (in last-set
    order), as the engine will drive it back before its first live action (collected by
    the engine's own rule, :func:`~expctl.engine.replay.collect_target`).
    """

    skipped: int = 0
    next_path: str = ""
    next_label: str = ""
    set_by: dict[str, tuple[type, Any]] = field(default_factory=dict)
    finished: bool = False

    @property
    def targets(self) -> dict[str, Any]:
        return {name: value for name, (_, value) in self.set_by.items()}


def walk_completed(factory: Callable[[], Plan], journal: Any,
                   grids: Mapping[str, Any]) -> ResumeWalk:
    """Follow ``factory()`` through the journal's completed steps (nothing moves).

    Raises:
        UserError: the plan asks for other results than the journal holds, or a
            completed step now runs with other loop values (the sequence changed).
    """
    walk = ResumeWalk()
    frames: list[tuple[str, str, Iterator[tuple[str, Any]] | None]] = []
    plan = one_by_one(factory())  # scan points as their actions
    result: Any = None
    try:
        for _ in range(MAX_ACTIONS):
            try:
                action = plan.send(result)
            except StopIteration:
                walk.finished = True
                return walk
            result = None
            kind = type(action)
            replay = frames[-1][2] if frames else None
            if isinstance(action, StepBegin):
                frames.append(_begin(action, journal, replay is not None))
                walk.skipped += frames[-1][2] is not None
            elif kind is StepEnd:
                if frames:
                    frames.pop()
            elif replay is None:
                if kind in MARKERS:
                    continue
                walk.next_path, walk.next_label = (frames[-1][0], frames[-1][1]) if frames \
                    else ("", kind.__name__)
                return walk
            elif isinstance(action, Move | Set | Request):
                collect_target(walk.set_by, action)
            elif kind in RECORDED:
                result = _next_result(action, frames[-1][:2], replay, grids, walk.set_by)
        raise DataError(f"replaying the completed steps took over {MAX_ACTIONS} actions")
    finally:
        plan.close()


def _begin(action: StepBegin, journal: Any, inside_replay: bool
           ) -> tuple[str, str, Iterator[tuple[str, Any]] | None]:
    done = journal.completed_step(action.path)
    if done is None:
        if inside_replay:
            raise _mismatch(f"step {action.path} is inside a completed step but was never "
                            "completed itself")
        return action.path, action.label, None
    ran_with = journal.step_context(action.path)
    if ran_with is not None and json.dumps(ran_with, sort_keys=True) != json.dumps(
            encode(dict(action.context)), sort_keys=True):
        before, now = decode(ran_with), dict(action.context)
        diffs = ", ".join(f"{k} = {_show(before.get(k))} then, {_show(now.get(k))} now"
                          for k in sorted(set(before) | set(now)) if before.get(k) != now.get(k))
        raise _mismatch(f"completed step {action.path} ran with other values ({diffs})")
    return action.path, action.label, iter(done)


def _next_result(action: Any, step: tuple[str, str], replay: Iterator[tuple[str, Any]],
                 grids: Mapping[str, Any], targets: dict[str, tuple[type, Any]]) -> Any:
    kind = type(action)
    where = f"completed step {step[0]}" + (f" ({step[1]})" if step[1] else "")
    try:
        name, value = next(replay)
    except StopIteration:
        raise _mismatch(f"{where} now asks for more results ({kind.__name__}) than it "
                        "produced — more scan points or loop iterations?") from None
    if name != kind.__name__:
        raise _mismatch(f"{where} produced a {name} result where the sequence now asks for "
                        f"a {kind.__name__} — other scan points or steps?")
    if kind is NextSpot and action.grid in grids:
        grid = grids[action.grid]
        collect_target(targets, Move({grid.x_axis: value[1], grid.y_axis: value[2]}))
    return value


def _mismatch(detail: str) -> UserError:
    return UserError(f"the sequence does not match what the campaign did: {detail}",
                     hint="Resume with --as-started to finish the campaign as it was started, "
                          "or start a new campaign with `expctl run`.")


def _show(value: Any) -> str:
    return "nothing" if value is None else str(value)


@dataclass
class ResumePlan:
    """What ``expctl resume`` will do, worked out before anything moves.

    ``loaded`` is the sequence it continues (the campaign's own text, or the file on
    disk with ``use_current``); ``changes`` the diff between the two (empty when the
    disk copy is unchanged); ``restore`` the devices the engine will drive back,
    as (device, value now, value then).
    """

    info: Any
    loaded: Any
    changes: list[str]
    use_current: bool
    walk: ResumeWalk
    restore: list[tuple[str, Any, Any]]
    kept: int
    superseded: list[Any]
    spots: dict[str, int]

    @property
    def source_file(self) -> str:
        """The sequence file as the campaign named it (not the materialised copy)."""
        return str(self.info.sequence_file)


def check_campaign(info: Any, profile: Any) -> None:
    """A user error unless ``profile`` (with its seed) is what the campaign ran with."""
    if not info.sequence_file:
        raise UserError(f"campaign {info.id} was not started from a sequence file",
                        hint="Only `expctl run` campaigns can be resumed.")
    if info.profile and info.profile != profile.name:
        raise UserError(f"campaign {info.id} ran on profile {info.profile!r}, this session is "
                        f"on {profile.name!r}", hint=f"Use --profile {info.profile}.")
    if info.seed is not None and info.seed != profile.seed:
        raise UserError(f"campaign {info.id} ran with seed {info.seed}, this session has seed "
                        f"{profile.seed}", hint=f"Leave --seed out (or give --seed {info.seed}).")


def plan_resume(info: Any, journal: Any, load: Callable[[Path, list[str]], Any],
                beamline: Any, *, use_current: bool = False,
                as_started: bool = False) -> ResumePlan:
    """Load the campaign's sequence, check it against what was done, and say what resume
    will skip, where it goes live and what it restores.

    Args:
        info: the campaign (its journal header).
        journal: the campaign's journal, read-only.
        load: ``load(path, overrides)`` -> a checked sequence (the session's ``load``).
        beamline: the connected beamline (current device values, spot grids).
        use_current: continue with the sequence file as it is on disk now.
        as_started: continue with the journal's copy even though the file was edited.

    Raises:
        UserError: the file on disk changed (without ``use_current``), or the sequence
            to continue does not match what was done.
    """
    import tempfile

    overrides = list(info.overrides)
    changes = source_changes(info.sources) if info.sources else []
    if use_current and as_started:
        raise UserError("--use-current and --as-started exclude each other")
    if changes and not (use_current or as_started):
        raise UserError(
            f"the sequence of campaign {info.id} was edited since the campaign started. "
            "Resume with --as-started to finish it as it was started (from the copy kept in "
            "its journal), or with --use-current to continue with the edited file (checked "
            "against what was done). The changes:\n"
            + "\n".join(f"    {line}" for line in changes))
    if use_current or not info.sources:  # (campaigns journaled before sources were kept)
        loaded = load(Path(info.sequence_file), overrides)
    else:
        with tempfile.TemporaryDirectory(prefix="expctl-resume-") as root:
            copies = materialise(info.sources, Path(root))
            loaded = load(copies[info.sequence_file], overrides)
    loaded.raise_errors()
    walk = walk_completed(loaded.plan_factory(), journal, beamline.spot_grids)
    restore = []
    for name, target in walk.targets.items():
        dev = beamline.devices.get(name)
        now = dev.read().get(name) if hasattr(dev, "read") else None
        if not same_value(now, target):
            restore.append((name, now, target))
    spots: dict[str, int] = {}
    for grid in beamline.spot_grids:
        used = journal.consumed_spots(grid)
        if used:
            spots[grid] = len(used)
    return ResumePlan(info, loaded, changes, use_current, walk, restore,
                      len(journal.campaign_runs()), journal.superseded_runs(), spots)

